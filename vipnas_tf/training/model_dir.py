"""Model directories: what a run leaves behind, the kinds of run, and how to load one.

    MODEL_DIR/run_config.json   the resolved TrainConfig (mode, space, input size, arch,
                                keypoint_layout: what each heatmap channel means)
    MODEL_DIR/flags.txt         the resolved command-line flags (scripts/train.py)
    MODEL_DIR/ckpt/             tf.train.CheckpointManager (model, optimizer, step)
    MODEL_DIR/metrics.jsonl     one JSON object per logged step
    MODEL_DIR/tb/               TensorBoard scalars

The run config's `mode` is the run's kind; each kind is registered (`register_run_kind`)
by the module that owns it, with the function that builds the kind's model from a run
config, and `load_model` builds it and restores the latest checkpoint into it:

    "supernet", "standalone"  the SuperNetwork of `space` (`vipnas_tf.training.spatial`)
    "static"                  the static Keras model of `arch`, e.g. imported mmpose
                              weights (`vipnas_tf.interop.mmpose`; registered by
                              `vipnas_tf.training.spatial`)
    "temporal"                the PropagationModel (`vipnas_tf.training.temporal`)

Importing this module imports the `vipnas_tf.training` package, which registers every
kind, so a lookup never misses a kind for want of an import.

Checkpoints are atomic: TensorFlow writes the data and index files first and updates
the `checkpoint` state file last, so a run killed while saving still points at its
previous complete checkpoint.
"""
import dataclasses
import os
from typing import Callable, Dict

import keras
import tensorflow as tf

from vipnas_tf.data.formats import run_config_layout
from vipnas_tf.utils import io as io_utils

RUN_CONFIG = "run_config.json"
CKPT_SUBDIR = "ckpt"


class ModelDirError(ValueError):
    """A model directory that is missing, incomplete or of the wrong kind."""


class ModelState(tf.Module):
    """Every variable of a Keras model, keyed by its path, as one checkpointable object.

    `tf.train.Checkpoint(model=keras_model)` only reaches variables through tracked
    attributes, and the super-networks hold their blocks in nested lists that Keras
    does not track for checkpoints: their weights and BN statistics would silently be
    missing. Keying by variable path also makes restoring independent of the order in
    which layers were created. Repeated paths (two networks with the same layer names,
    e.g. a propagation model's key and temporal networks) get "#2", "#3"... in order.
    """

    def __init__(self, model):
        super().__init__(name="model_state")
        # Model names are made unique per process ("..._net_1"): key them by class and
        # position instead, so that a fresh process finds the same keys.
        canonical = {}
        for i, m in enumerate(l for l in model._flatten_layers(include_self=True, recursive=True)  # pylint: disable=protected-access
                              if isinstance(l, keras.Model)):
            canonical.setdefault(m.name, f"{type(m).__name__}{i}")
        counts, table = {}, {}
        for v in model.weights:
            key = ".".join(canonical.get(part, part) for part in v.path.split("/"))
            counts[key] = counts.get(key, 0) + 1
            table[key if counts[key] == 1 else f"{key}#{counts[key]}"] = v
        self.variables_by_path = table
        self.num_variables = len(table)


def model_checkpoint(model, **others):
    """A tf.train.Checkpoint holding all of `model`'s variables (see ModelState)."""
    return tf.train.Checkpoint(model=ModelState(model), **others)


# ------------------------------------------------------------------------------
# Run kinds.


@dataclasses.dataclass(frozen=True)
class RunKind:
    """One kind of model directory: its `mode` and how its model is built.

    Attributes:
      mode: the run config's `mode`.
      build: `(run_config, config_path) -> keras.Model`, the untrained model whose
        variables the kind's checkpoints hold; raises ModelDirError naming
        `config_path` and the field on a config it cannot build.
    """

    mode: str
    build: Callable[[Dict, str], keras.Model]


RUN_KINDS: Dict[str, RunKind] = {}


def register_run_kind(*modes):
    """Decorator: registers `build(run_config, config_path) -> model` for `modes`."""

    def register(build):
        for mode in modes:
            if mode in RUN_KINDS and RUN_KINDS[mode].build is not build:
                raise ValueError(f"run kind {mode!r} is registered twice")
            RUN_KINDS[mode] = RunKind(mode, build)
        return build

    return register


def run_kind(run_config, config_path):
    """The RunKind of a run config; ModelDirError naming the file and the mode otherwise."""
    mode = run_config.get("mode")
    if mode not in RUN_KINDS:
        raise ModelDirError(f"{config_path}: field 'mode': {mode!r} is not a kind of run this version "
                            f"loads; expected one of {sorted(RUN_KINDS)}")
    return RUN_KINDS[mode]


# ------------------------------------------------------------------------------
# Reading and loading.


def run_config_path(model_dir):
    return os.path.join(os.fspath(model_dir), RUN_CONFIG)


def read_run_config(model_dir):
    """The run_config.json of a model directory; ModelDirError when there is none."""
    path = run_config_path(model_dir)
    if not os.path.isdir(model_dir):
        raise ModelDirError(f"model_dir {model_dir!r} does not exist")
    if not os.path.exists(path):
        raise ModelDirError(f"{model_dir!r} is not a vipnas-tf model directory: no {RUN_CONFIG}")
    return io_utils.read_json(path)


def keypoint_layout_of_run(model_dir, run_config=None):
    """The keypoint layout ("coco" | "posetrack18") of a model directory.

    From `run_config.json`'s `keypoint_layout`; a run without that key
    gets the layout of its own training annotations (`train_ann`) if they still exist.
    Otherwise ModelDirError names the file and says how to state the layout.
    """
    cfg = read_run_config(model_dir) if run_config is None else run_config
    try:
        return run_config_layout(cfg, run_config_path(model_dir))
    except ValueError as e:
        raise ModelDirError(str(e)) from None


def latest_checkpoint(model_dir):
    return tf.train.latest_checkpoint(os.path.join(os.fspath(model_dir), CKPT_SUBDIR))


def restore_weights(model, model_dir, require=True):
    """Restores the model weights of `model_dir`'s latest checkpoint into `model`.

    Every variable of `model` must be in the checkpoint (ModelDirError otherwise).
    Returns the checkpoint path (None when there is none and `require` is False).
    """
    path = latest_checkpoint(model_dir)
    if path is None:
        if require:
            raise ModelDirError(f"{model_dir!r} has no checkpoint under {CKPT_SUBDIR}/ (was it trained?)")
        return None
    state = ModelState(model)
    status = tf.train.Checkpoint(model=state).restore(path).expect_partial()
    try:
        status.assert_existing_objects_matched()
    except AssertionError as e:
        raise ModelDirError(f"{path}: the checkpoint does not hold all {state.num_variables} variables of "
                            f"this model (different architecture or space?): {str(e)[:300]}") from None
    return path


def load_model(model_dir, expect_space=None, expect_mode=None):
    """The trained model of a model directory and its run config.

    Args:
      model_dir: a directory written by `scripts/train.py` (or `Trainer`), or by
        `scripts/import_mmpose.py`.
      expect_space: optional space name the model must belong to.
      expect_mode: optional mode ("supernet", "standalone", "temporal", "static") it
        must have.

    Returns:
      (model, run_config). For "supernet" and "standalone" runs the model is the SuperNetwork (a stand-alone
      run trains its `arch` inside the super-network's weights;
      `model.extract(parse_arch(run_config["arch"]))` gives the static model). For
      "static" directories it is the static functional Keras model of `arch`; for
      "temporal" runs the PropagationModel.
    """
    config = read_run_config(model_dir)
    mode = config.get("mode")
    if expect_mode is not None and mode != expect_mode:
        raise ModelDirError(f"{model_dir!r} holds a {mode!r} run, expected {expect_mode!r}")
    space = config.get("space")
    if expect_space is not None and space != expect_space:
        raise ModelDirError(f"{model_dir!r} holds a {space!r} super-network, expected {expect_space!r}")
    path = run_config_path(model_dir)
    model = run_kind(config, path).build(config, path)
    restore_weights(model, model_dir)
    return model, config
