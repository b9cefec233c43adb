"""The networks of a video schedule as plain Keras static models, ready to run.

Where the weights come from, in order (1 and 2 are read by
`vipnas_tf.export.deploy.schedule_networks`, the one reader the export CLIs use too):

1. the schedule's `keras_models` (written by temporal search beside schedule.json:
   {"key": "key.keras", "frames": ["frame1.keras", ...]}, each frame's model with its
   own re-calibrated BN statistics);
2. its model directories: `model_dir` (the temporal run: `load_model` gives the
   propagation model, whose T-ViPNet super-network `extract`s each frame and whose
   key network extracts the S-ViPNet) and `key.model_dir` (the S-ViPNet run);
3. otherwise freshly initialised networks - the poses are then meaningless, and a
   loud warning says so (`ScheduleModels.weights == "initialised"`).

Every model is checked against the schedule (input size, heatmap size, keypoints,
two inputs for the frames; run configs: space, input size, key architecture) and
fails with an error naming the schedule field and the model. The static models are
lowered (`vipnas_tf.export.lower_model`: BN folding, grouped convs without Keras'
XLA path) and wrapped in a `tf.function` with a free batch dimension: one trace per
model, batch = the number of tracks.
"""
import dataclasses
import sys
from typing import Callable, List, Optional

import tensorflow as tf

from vipnas_tf.arch import get_space
from vipnas_tf.export.deploy import ScheduleModelError, schedule_networks
from vipnas_tf.export.lowering import lower_model
from vipnas_tf.models import build_supernet
from vipnas_tf.models.random_init import randomize_weights
from vipnas_tf.temporal.schedule import Schedule
from vipnas_tf.temporal.supernet import TemporalSuperNetwork


@dataclasses.dataclass
class ScheduleModels:
    """Key-frame and per-frame networks of a schedule.

    Attributes:
      key: callable images [n, H, W, 3] -> heatmaps [n, h, w, K] (numpy in, numpy out).
      frames: T callables (images, prev_heatmaps) -> heatmaps.
      weights: "keras_models" | "model_dir" | "initialised" | "injected".
      keras: the underlying Keras models (key, frames) for inspection.
    """

    key: Callable
    frames: List[Callable]
    weights: str
    keras: Optional[tuple] = None


def _warn(msg):
    bar = "!" * 78
    print(f"{bar}\nWARNING: {msg}\n{bar}", file=sys.stderr, flush=True)


def check_static_model(model, schedule, frame=None, what="model"):
    """Raises ScheduleModelError when a static model's inputs/outputs do not fit."""
    h, w = schedule.input_size
    k = _num_keypoints(schedule)
    want_in = [(h, w, 3)] if frame is None else [(h, w, 3), (h // 4, w // 4, k)]
    got_in = [tuple(int(d) if d is not None else None for d in t.shape[1:]) for t in model.inputs]
    where = "key" if frame is None else f"frames[{frame}]"
    if got_in != want_in:
        raise ScheduleModelError(f"schedule field '{where}': {what} takes inputs {got_in}, the schedule needs "
                                 f"{want_in} (input_size {list(schedule.input_size)}, {k} keypoints)")
    out = tuple(int(d) if d is not None else None for d in model.outputs[0].shape[1:])
    if out != (h // 4, w // 4, k):
        raise ScheduleModelError(f"schedule field '{where}': {what} outputs {out}, expected {(h // 4, w // 4, k)}")


def _num_keypoints(schedule):
    return get_space(schedule.space).num_keypoints


def _runner(model, lower=True):
    """numpy-in/numpy-out callable over a lowered model, one trace (batch free)."""
    if lower:
        model = lower_model(model)
    specs = [tf.TensorSpec([None, *t.shape[1:]], tf.float32) for t in model.inputs]

    @tf.function(input_signature=specs, reduce_retracing=True)
    def run(*inputs):
        return model(list(inputs) if len(inputs) > 1 else inputs[0], training=False)

    return lambda *arrays: run(*[tf.convert_to_tensor(a, tf.float32) for a in arrays]).numpy()


def initialised_models(schedule, seed=None):
    """Fresh networks of the schedule's architectures (paper initialisation, or
    `randomize_weights(seed)` for non-trivial outputs in tests)."""
    spatial = build_supernet(schedule.space, schedule.input_size, padding=schedule.key_arch.padding)
    tnet = TemporalSuperNetwork.from_spatial(spatial, copy=False)
    if seed is not None:
        randomize_weights(tnet, seed=seed)
    key = spatial.extract(schedule.key_arch, schedule.input_size, name="s_vipnet")
    frames = [tnet.extract(f, schedule.input_size, name=f"tvipnet_frame{t + 1}") for t, f in enumerate(schedule.frames)]
    return key, frames


def load_schedule_models(schedule, loader=None, builder=None, lower=True, allow_initialised=True):
    """The schedule's key and frame networks (see module docstring for the sources).

    Args:
      schedule: a `Schedule` (validated here).
      loader: `model_dir -> (model, run_config)` (default
        `vipnas_tf.training.model_dir.load_model`).
      builder: `schedule -> (key keras model, [frame keras models])`; when given it
        replaces every other source (tests, custom weights).
      lower: run the lowered static models (faster in TF; same function).
      allow_initialised: when the schedule names no weights, build initialised
        networks (with a warning) instead of failing.

    Returns:
      ScheduleModels.
    """
    if not isinstance(schedule, Schedule):
        raise ScheduleModelError(f"expected a Schedule, got {type(schedule).__name__}")
    schedule.validate()
    # the key frame's and the T-ViPNets' layouts (file and model directories) agree
    schedule.check_model_layouts(required=False)
    if builder is not None:
        key, frames, weights = *builder(schedule), "injected"
    else:
        trained = schedule_networks(schedule, loader=loader)
        key, frames, weights = trained.key, trained.frames, trained.source
        if key is None or frames is None:
            if not allow_initialised:
                missing = "key.model_dir" if key is None else "model_dir"
                raise ScheduleModelError(f"schedule field '{missing}': no trained weights for "
                                         f"{'the key frame' if key is None else 'the non-key frames'}")
            init_key, init_frames = initialised_models(schedule)
            parts = [p for p, m in (("key frame (S-ViPNet)", key), ("non-key frames (T-ViPNets)", frames)) if m is None]
            _warn(f"no trained weights for the {' and '.join(parts)} in the schedule (no keras_models, model_dir "
                  f"or key.model_dir): running FRESHLY INITIALISED networks - the poses are meaningless. "
                  f"Pass a schedule written by scripts/search.py --mode=temporal.")
            key = key if key is not None else init_key
            frames = frames if frames is not None else init_frames
            weights = "initialised" if (key is init_key and frames is init_frames) else "partly_initialised"
    if len(frames) != schedule.num_frames:
        raise ScheduleModelError(f"schedule field 'frames': {schedule.num_frames} frames but {len(frames)} models")
    check_static_model(key, schedule, None, f"key model {key.name!r}")
    for t, m in enumerate(frames):
        check_static_model(m, schedule, t, f"frame model {m.name!r}")
    return ScheduleModels(_runner(key, lower), [_runner(m, lower) for m in frames], weights, (key, tuple(frames)))
