"""The networks to export: static Keras models and video schedules, loaded.

The loading behind `tflite/convert.py` and `scripts/export_savedmodel.py`:

- `load_static_model(arch, model_dir, input_size)`: the static (extracted) Keras model;
  weights from the model directory's latest checkpoint, or randomly initialised (the
  presets are architectures; trained weights come from a model directory: a training
  run, or mmpose's published checkpoints imported by `scripts/import_mmpose.py`).
- `load_schedule(path, input_size)`: a schedule.json (`vipnas_tf.temporal.Schedule`)
  with its key model loaded and a function building its frame models
  (`temporal_frame_factory`, or a user's `--frame_factory`).

Converting them: `convert.convert` (one model), `schedule_export.convert_schedule`
(a schedule folder), `savedmodel.export_savedmodel`.
"""
import dataclasses
import importlib
import os
from typing import Callable, Dict, List, Optional, Tuple

import keras
import numpy as np

from vipnas_tf.arch import parse_arch, resolve_arch
from vipnas_tf.arch.cost import parse_input_size
from vipnas_tf.models import SuperNetwork, build_static
from vipnas_tf.models.random_init import calibrate_batch_norm, randomize_weights
from vipnas_tf.temporal.schedule import Schedule
from vipnas_tf.temporal.supernet import TemporalSuperNetwork
from vipnas_tf.training.model_dir import keypoint_layout_of_run, load_model

RANDOM_INIT_NOTE = ("weights randomly initialised (fan-in scaled normal, seed {seed}): no "
                    "pretrained weights come with presets, they are architectures; pass "
                    "--model_dir to convert trained weights (a training run, or an mmpose "
                    "checkpoint imported by scripts/import_mmpose.py)")


# ------------------------------------------------------------------------------
# Models.


@dataclasses.dataclass
class LoadedModel:
    """A static Keras model and where its weights came from.

    Attributes:
        model: functional Keras model (not lowered), inputs [N, H, W, 3] (+ previous
            heatmaps for a T-ViPNet).
        arch: the architecture (an `Arch`) or None.
        input_size: (H, W).
        weights: human-readable origin of the weights.
        random_init: True when no checkpoint was loaded.
        run_config: the model directory's run_config.json, or None.
        keypoint_layout: "coco" | "posetrack18" of a model directory's run (None for
            randomly initialised weights: the channels mean nothing yet).
    """

    model: keras.Model
    arch: object
    input_size: Tuple[int, int]
    weights: str
    random_init: bool
    run_config: Optional[Dict] = None
    keypoint_layout: Optional[str] = None


def load_static_model(arch_spec=None, model_dir=None, input_size=None, seed: int = 0,
                      calibration_images: Optional[np.ndarray] = None) -> LoadedModel:
    """The static Keras model to deploy.

    Args:
        arch_spec: preset name, arch JSON path, compact string or `Arch`; required
            without `model_dir` and for super-network runs (which sub-network).
        model_dir: a model directory (`vipnas_tf.training.model_dir.load_model`), or None for
            randomly initialised weights.
        input_size: (H, W) or "HxW"; default: the run's input size, else 256x192.
        seed: seed of the random initialisation.
        calibration_images: for random initialisation: images [n, H, W, 3] whose
            statistics set the BN layers (`calibrate_batch_norm`); default N(0, 1).
    """
    arch = resolve_arch(arch_spec) if arch_spec else None
    if model_dir is None:
        if arch is None:
            raise ValueError("an architecture (--arch) is required without --model_dir")
        size = parse_input_size(input_size or (256, 192))
        model = randomize_weights(build_static(arch, size), seed=seed)
        if calibration_images is None:
            calibration_images = np.random.default_rng(seed).standard_normal(
                (4,) + tuple(size) + (3,)).astype(np.float32)
            source = "N(0,1) images"
        else:
            source = f"{len(calibration_images)} crops"
        calibrate_batch_norm(model, calibration_images)
        note = (RANDOM_INIT_NOTE.format(seed=seed) + f"; BN statistics set from {source}, "
                "final conv scaled to heatmap peak 1")
        return LoadedModel(model, arch, size, note, True)
    net, cfg = load_model(model_dir)
    cfg = dict(cfg or {})
    layout = keypoint_layout_of_run(model_dir, cfg)
    size = parse_input_size(input_size or cfg.get("input_size") or (256, 192))
    if arch is None and cfg.get("arch"):
        arch = parse_arch(cfg["arch"])
    weights = f"checkpoint {cfg.get('checkpoint') or model_dir}"
    if isinstance(net, SuperNetwork):
        if arch is None:
            raise ValueError(f"{model_dir} is a super-network run ({cfg.get('mode')!r}) with no "
                             "'arch' in run_config.json: pass --arch (the sub-network to extract)")
        return LoadedModel(net.extract(arch, size), arch, size, weights, False, cfg, layout)
    net, arch = _static_of_run(net, cfg, arch, size, model_dir)
    return LoadedModel(net, arch, tuple(net.inputs[0].shape[1:3]), weights, False, cfg, layout)


def _static_of_run(net, cfg, arch, size, model_dir):
    """(static model at `size`, its arch) of a "static" model directory's functional model."""
    if not hasattr(net, "_nodes_by_depth"):
        raise ValueError(f"{model_dir}: load_model returned a {type(net).__name__}, which has no "
                         "extract(); cannot make a static model")
    stored = parse_arch(cfg["arch"]) if cfg.get("arch") else None
    if arch is not None and stored is not None and arch != stored:
        raise ValueError(f"{model_dir} holds the static model {stored.to_string()}; --arch "
                         f"{arch.to_string()} differs (leave --arch out)")
    arch = stored or arch
    if arch is not None and tuple(size) != tuple(net.inputs[0].shape[1:3]):
        resized = build_static(arch, size)  # same weights, other input size
        resized.set_weights(net.get_weights())
        net = resized
    return net, arch


# ------------------------------------------------------------------------------
# Video schedules.


class ScheduleModelError(ValueError):
    """A model that does not fit the schedule."""


@dataclasses.dataclass
class ScheduleNetworks:
    """The trained networks a schedule names (None where it names none).

    Attributes:
        key: the key-frame S-ViPNet as a static Keras model, or None.
        frames: the T static T-ViPNet frame models, or None.
        source: "keras_models" (files beside schedule.json) or "model_dir".
        key_weights: where the key's weights came from (human-readable).
    """

    key: Optional[keras.Model]
    frames: Optional[List[keras.Model]]
    source: str
    key_weights: Optional[str] = None


def schedule_networks(schedule: Schedule, input_size=None, loader=None) -> ScheduleNetworks:
    """The networks of a schedule's trained weights, from (in order) its `keras_models`
    (files written beside schedule.json by temporal search, each frame with its own
    re-calibrated BN statistics), or its model directories: `model_dir` (the temporal
    run: its T-ViPNet super-network `extract`s each frame, its key network the
    S-ViPNet) and `key.model_dir` (the S-ViPNet run). Every run config is checked
    against the schedule (space, input size, key architecture); a mismatch raises
    `ScheduleModelError` naming the schedule field and the directory.

    Args:
        schedule: a validated `Schedule`.
        input_size: (H, W) to extract the networks at; default the schedule's.
        loader: `model_dir -> (model, run_config)`; default `load_model`.
    """
    if schedule.extra.get("keras_models"):
        key, frames = _from_keras_files(schedule, schedule.extra["keras_models"])
        return ScheduleNetworks(key, frames, "keras_models", "keras_models files beside the schedule")
    size = tuple(input_size or schedule.input_size)
    loader = loader or load_model
    key = frames = key_weights = None
    if schedule.model_path:
        model, config = loader(schedule.model_path)
        _check_run_config(config, schedule, "model_dir", schedule.model_path)
        tnet = getattr(model, "temporal", model)
        if not hasattr(tnet, "temporal_space"):
            raise ScheduleModelError(f"schedule field 'model_dir': {schedule.model_path} does not hold a temporal "
                                     f"(T-ViPNet) model but a {type(model).__name__}")
        if config.get("key_arch") and parse_arch(config["key_arch"]) != schedule.key_arch:
            raise ScheduleModelError(f"schedule field 'key.arch' differs from the S-ViPNet the temporal model at "
                                     f"{schedule.model_path} was trained with ({config['key_arch']})")
        schedule.validate(tnet.space_name, schedule.input_size, tnet.temporal_space)
        frames = [tnet.extract(f, size, name=f"tvipnet_frame{t + 1}") for t, f in enumerate(schedule.frames)]
        key_net = getattr(model, "key_model", None)
        if key_net is not None and hasattr(key_net, "extract"):
            key = key_net.extract(schedule.key_arch, size, name="s_vipnet")
            key_weights = f"the key network of {schedule.model_path}"
    if key is None and schedule.key_model_path:
        model, config = loader(schedule.key_model_path)
        _check_run_config(config, schedule, "key.model_dir", schedule.key_model_path)
        if config.get("arch") and parse_arch(config["arch"]) != schedule.key_arch:
            raise ScheduleModelError(f"schedule field 'key.arch' differs from the architecture trained in "
                                     f"{schedule.key_model_path} ({config['arch']})")
        if hasattr(model, "extract"):
            key = model.extract(schedule.key_arch, size, name="s_vipnet")
        else:  # a "static" model directory
            key, _ = _static_of_run(model, config, schedule.key_arch, size, schedule.key_model_path)
        key_weights = f"checkpoint {config.get('checkpoint') or schedule.key_model_path}"
    return ScheduleNetworks(key, frames, "model_dir", key_weights)


def _from_keras_files(schedule, files):
    base = schedule.base_dir or "."
    if not isinstance(files, dict) or "key" not in files or not isinstance(files.get("frames"), list):
        raise ScheduleModelError("schedule field 'keras_models': expected {\"key\": file, \"frames\": [files]}")
    if len(files["frames"]) != schedule.num_frames:
        raise ScheduleModelError(f"schedule field 'keras_models.frames': {len(files['frames'])} files for "
                                 f"num_frames={schedule.num_frames}")
    paths = [os.path.join(base, files["key"])] + [os.path.join(base, f) for f in files["frames"]]
    models = []
    for p in paths:
        if not os.path.isfile(p):
            raise ScheduleModelError(f"schedule field 'keras_models': {p}: no such file")
        models.append(keras.saving.load_model(p, compile=False))
    return models[0], models[1:]


def _check_run_config(config, schedule, field, path):
    if config.get("space") not in (None, schedule.space):
        raise ScheduleModelError(f"schedule field 'space': {schedule.space!r}, but {field} {path} holds a "
                                 f"{config.get('space')!r} model")
    size = config.get("input_size")
    if size is not None and tuple(size) != tuple(schedule.input_size):
        raise ScheduleModelError(f"schedule field 'input_size': {list(schedule.input_size)}, but {field} {path} "
                                 f"was trained at {list(size)}")


def temporal_frame_factory(schedule: Schedule, size, seed: int = 0) -> Callable[[int], keras.Model]:
    """Frame models from vipnas_tf.temporal: `TemporalSuperNetwork.extract(FrameArch)`
    of the schedule's temporal model_dir (latest checkpoint; a PropagationModel's
    `.temporal`), or of a randomly initialised TemporalSuperNetwork bounded by the key
    architecture."""
    model_dir = schedule.model_path
    if model_dir:
        net, _ = load_model(model_dir)
        net = getattr(net, "temporal", net)
        if not isinstance(net, TemporalSuperNetwork):
            raise ValueError(f"{model_dir}: holds a {type(net).__name__}, not a temporal "
                             "(T-ViPNet) model")
    else:
        net = TemporalSuperNetwork(schedule.space, tuple(size), max_arch=schedule.key_arch)
        randomize_weights(net, seed=seed + 1)

    def build(i):
        model = net.extract(schedule.frames[i], tuple(size))
        if not model_dir:  # random init: BN statistics from N(0,1) images, small heatmaps
            rng = np.random.default_rng(seed + i)
            images = rng.standard_normal((4,) + tuple(size) + (3,)).astype(np.float32)
            prev = rng.uniform(0, 0.3, (4,) + tuple(model.inputs[1].shape[1:])).astype(np.float32)
            calibrate_batch_norm(model, [images, prev])
        return model
    return build


# A user's frame-model function: (schedule, i, (H, W)) -> the static Keras model of frame
# i + 1 of a cycle (inputs: image crop, previous heatmaps).
FrameFactory = Callable[[Schedule, int, Tuple[int, int]], keras.Model]


def frame_factory_from_spec(spec: str) -> FrameFactory:
    """'module:function' (a CLI's --frame_factory) -> that function."""
    module, sep, name = str(spec).partition(":")
    if not sep or not module or not name:
        raise ValueError(f"frame factory {spec!r}: expected 'module:function'")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"frame factory {spec!r}: {e}") from e


@dataclasses.dataclass
class LoadedSchedule:
    """A schedule's networks, ready to export.

    Attributes:
        schedule: the `Schedule`, its `keypoint_layout` checked against (or taken from)
            its model directories.
        input_size: (H, W) the networks are built at.
        key: the key-frame S-ViPNet (`load_static_model` of `key.arch` and `key.model_dir`).
        frame_model: i (0-based) -> the static Keras model of frame i + 1 of a cycle.
    """

    schedule: Schedule
    input_size: Tuple[int, int]
    key: LoadedModel
    frame_model: Callable[[int], keras.Model]


def load_schedule(path, input_size=None, seed: int = 0,
                  frame_factory: Optional[FrameFactory] = None) -> LoadedSchedule:
    """Reads schedule.json (`Schedule.load`) and loads its networks: the trained ones it
    names (`schedule_networks`), else randomly initialised ones (key: `load_static_model`
    without a model directory; frames: `temporal_frame_factory`).

    Args:
        path: the schedule file; its relative model directories resolve against its folder.
        input_size: (H, W) or "HxW"; default the schedule's.
        seed: seed of random initialisations (networks without a model directory).
        frame_factory: builds the frame models instead of `temporal_frame_factory`.
    """
    schedule = Schedule.load(path)
    schedule = dataclasses.replace(schedule, keypoint_layout=schedule.check_model_layouts(required=False))
    schedule.validate()
    size = parse_input_size(input_size or schedule.input_size)
    trained = schedule_networks(schedule, size)
    if trained.key is not None:
        key = LoadedModel(trained.key, schedule.key_arch, size, trained.key_weights, False,
                          keypoint_layout=schedule.keypoint_layout)
    else:
        key = load_static_model(schedule.key_arch, None, size, seed)
    if frame_factory is not None:
        frame_model = lambda i: frame_factory(schedule, i, size)  # noqa: E731
    elif trained.frames is not None:
        frame_model = trained.frames.__getitem__
    else:
        frame_model = temporal_frame_factory(schedule, size, seed=seed)
    return LoadedSchedule(schedule, size, key, frame_model)
