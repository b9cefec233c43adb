"""Kernel initialisation schemes of a fresh training run.

- "paper": every conv/deconv/attention kernel from N(0, 0.001) (paper Sec. 4.2; the
  layers' own default, so nothing is re-drawn).
- "he": He normal (truncated, std sqrt(2 / fan_in), fan_in of the full shared kernel)
  for every new kernel except the heatmap output conv and the temporal fusion module,
  which keep N(0, 0.001) so that a fresh network's heatmaps start near zero and a fresh
  fusion module starts as a near pass-through.

Under every scheme, kernels *inherited* from a trained model are kept as they are: a
temporal run's T-ViPNet starts from a copy of the key S-ViPNet (paper Sec. 3.4.2,
"the pre-trained weights of S-ViPNet can be reloaded for the initialization of the
super-network"), so only what is new there (the fusion module) is initialised, and
that keeps N(0, 0.001). A temporal run therefore re-draws nothing.

Why "he" exists: with N(0, 0.001), networks with grouped middle convolutions (8 input
channels per group, as in the MobileNetV3 space's biggest sub-network) sit on the
mean-pose plateau for many hundred steps; with He normal they leave it within ~200
(research/README.md, "The mean-pose plateau and `--kernel_init`"). Full-length recipes have the
steps to spare and keep the paper's initialisation; the few-minute quickstart uses "he".
"""
import dataclasses
from typing import Tuple

import keras

KERNEL_INITS = ("paper", "he")
# Variables matching these keep the paper's N(0, 0.001) under every scheme.
KEEP_PAPER_LAYERS = ("head_final_conv", "fusion")


def _keeps_paper_init(path):
    return any(part in KEEP_PAPER_LAYERS for part in path.split("/"))


@dataclasses.dataclass(frozen=True)
class KernelInit:
    """What `initialize_kernels` did with the kernels (rank >= 2 trainable variables).

    Attributes:
      drawn: paths re-drawn under the scheme (empty for "paper").
      inherited: paths kept because they came from a trained model.
      own: paths of new kernels left at their layer's own initialisation, the paper's
        N(0, 0.001) (the heatmap output conv and the fusion module, whose conv2 feature
        rows start as the identity; under "paper", every new kernel).
    """

    drawn: Tuple[str, ...]
    inherited: Tuple[str, ...]
    own: Tuple[str, ...]

    def describe(self, scheme):
        """One line for the training log."""
        return (f"kernel_init={scheme}: {len(self.drawn)} kernels re-drawn, {len(self.inherited)} inherited "
                f"kernels kept, {len(self.own)} new kernels at their layers' own N(0, 0.001) initialisation")


def initialize_kernels(model, scheme, seed=0, inherited=()) -> KernelInit:
    """Re-draws the new kernels of a freshly built model under `scheme`.

    Args:
      model: a built Keras model (a super-network, temporal or not).
      scheme: one of KERNEL_INITS.
      seed: base seed (each variable gets its own, so the draw is reproducible).
      inherited: variables (or their paths) holding weights taken from a trained
        model (`TemporalTask.inherited_variables`); they are never re-drawn.

    Returns:
      KernelInit: the paths re-drawn, kept as inherited, and left at their own init.
    """
    if scheme not in KERNEL_INITS:
        raise ValueError(f"kernel_init must be one of {KERNEL_INITS}, got {scheme!r}")
    keep = {v if isinstance(v, str) else v.path for v in inherited}
    drawn, kept, own = [], [], []
    for i, v in enumerate(model.trainable_variables):
        if len(v.shape) < 2:
            continue
        if v.path in keep:
            kept.append(v.path)
        elif scheme == "paper" or _keeps_paper_init(v.path):
            own.append(v.path)
        else:
            v.assign(keras.initializers.HeNormal(seed=int(seed) * 100003 + i)(tuple(v.shape), v.dtype))
            drawn.append(v.path)
    return KernelInit(tuple(drawn), tuple(kept), tuple(own))
