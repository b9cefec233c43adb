"""Model directories: what a training run leaves behind, and how to load it.

    MODEL_DIR/run_config.json   the resolved TrainConfig (mode, space, input size, arch,
                                keypoint_layout: what each heatmap channel means)
    MODEL_DIR/flags.txt         the resolved command-line flags (scripts/train.py)
    MODEL_DIR/ckpt/             tf.train.CheckpointManager (model, optimizer, step)
    MODEL_DIR/metrics.jsonl     one JSON object per logged step
    MODEL_DIR/tb/               TensorBoard scalars

A model directory of mode "static" (e.g. imported mmpose weights,
`vipnas_tf.interop.mmpose`) holds the weights of the static Keras model of its `arch`
(`vipnas_tf.models.build_static`) instead of a super-network's.

Checkpoints are atomic: TensorFlow writes the data and index files first and updates
the `checkpoint` state file last, so a run killed while saving still points at its
previous complete checkpoint.
"""
import os

import tensorflow as tf

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
        import keras  # pylint: disable=import-outside-toplevel

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


def read_run_config(model_dir):
    path = os.path.join(os.fspath(model_dir), RUN_CONFIG)
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
    from vipnas_tf.data.formats import run_config_layout  # pylint: disable=import-outside-toplevel

    model_dir = os.fspath(model_dir)
    cfg = read_run_config(model_dir) if run_config is None else run_config
    try:
        return run_config_layout(cfg, os.path.join(model_dir, RUN_CONFIG))
    except ValueError as e:
        raise ModelDirError(str(e)) from None


def latest_checkpoint(model_dir):
    return tf.train.latest_checkpoint(os.path.join(os.fspath(model_dir), CKPT_SUBDIR))


def restore_weights(model, model_dir, require=True):
    """Restores the model weights of `model_dir`'s latest checkpoint into `model`.

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
      model_dir: a directory written by `scripts/train.py` (or `Trainer`).
      expect_space: optional space name the model must belong to.
      expect_mode: optional mode ("supernet", "standalone", "temporal", "static") it
        must have.

    Returns:
      (model, run_config). For "supernet" and "standalone" runs the model is the
      SuperNetwork (a stand-alone run trains its `arch` inside the super-network's
      weights; `model.extract(parse_arch(run_config["arch"]))` gives the static model).
      For "static" directories it is the static functional Keras model of `arch`.
    """
    from vipnas_tf.models import build_static, build_supernet  # pylint: disable=import-outside-toplevel

    config = read_run_config(model_dir)
    mode = config.get("mode")
    if expect_mode is not None and mode != expect_mode:
        raise ModelDirError(f"{model_dir!r} holds a {mode!r} run, expected {expect_mode!r}")
    space = config.get("space")
    if expect_space is not None and space != expect_space:
        raise ModelDirError(f"{model_dir!r} holds a {space!r} super-network, expected {expect_space!r}")
    input_size = tuple(config.get("input_size", (256, 192)))
    if mode == "temporal":
        from vipnas_tf.training.temporal import build_temporal_model  # pylint: disable=import-outside-toplevel

        model = build_temporal_model(config)
    elif mode == "static":
        from vipnas_tf.arch import parse_arch  # pylint: disable=import-outside-toplevel

        if not config.get("arch"):
            raise ModelDirError(f"{os.path.join(os.fspath(model_dir), RUN_CONFIG)}: a 'static' model "
                                "directory needs the field 'arch'")
        try:
            arch = parse_arch(str(config["arch"]))
        except ValueError as e:
            raise ModelDirError(f"{os.path.join(os.fspath(model_dir), RUN_CONFIG)}: field 'arch': {e}") from None
        model = build_static(arch, input_size=input_size)
    else:
        model = build_supernet(space, input_size=input_size)
    restore_weights(model, model_dir)
    return model, config
