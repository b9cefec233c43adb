"""Kernel initialisation schemes of a fresh training run.

- "paper": every conv/deconv/attention kernel from N(0, 0.001) (paper Sec. 4.2; the
  layers' own default, so nothing is re-drawn).
- "he": He normal (truncated, std sqrt(2 / fan_in), fan_in of the full shared kernel)
  for every kernel except the heatmap output conv and the temporal fusion module, which
  keep N(0, 0.001) so that a fresh network's heatmaps start near zero and a fresh fusion
  module starts as a near pass-through.

Why "he" exists: with N(0, 0.001), networks with grouped middle convolutions (8 input
channels per group, as in the MobileNetV3 space's biggest sub-network) sit on the
mean-pose plateau for many hundred steps; with He normal they leave it within ~200
(README, "Training from scratch in minutes"). Full-length recipes have the
steps to spare and keep the paper's initialisation; the few-minute quickstart uses "he".
"""
import keras

KERNEL_INITS = ("paper", "he")
# Variables matching these keep the paper's N(0, 0.001) under every scheme.
KEEP_PAPER_LAYERS = ("head_final_conv", "fusion")


def _keeps_paper_init(path):
    return any(part in KEEP_PAPER_LAYERS for part in path.split("/"))


def initialize_kernels(model, scheme, seed=0):
    """Re-draws the kernels of a freshly built model under `scheme`.

    Args:
      model: a built Keras model (a super-network, temporal or not).
      scheme: one of KERNEL_INITS.
      seed: base seed (each variable gets its own, so the draw is reproducible).

    Returns:
      the paths of the re-drawn variables (empty for "paper").
    """
    if scheme not in KERNEL_INITS:
        raise ValueError(f"kernel_init must be one of {KERNEL_INITS}, got {scheme!r}")
    if scheme == "paper":
        return []
    done = []
    for i, v in enumerate(model.trainable_variables):
        if len(v.shape) < 2 or _keeps_paper_init(v.path):
            continue
        v.assign(keras.initializers.HeNormal(seed=int(seed) * 100003 + i)(tuple(v.shape), v.dtype))
        done.append(v.path)
    return done
