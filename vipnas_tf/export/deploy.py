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
from typing import Callable, Dict, Optional, Tuple

import keras
import numpy as np
import tensorflow as tf

from vipnas_tf.arch import parse_arch, resolve_arch
from vipnas_tf.models import SuperNetwork, build_static
from vipnas_tf.models.random_init import calibrate_batch_norm, randomize_weights
from vipnas_tf.temporal.schedule import Schedule
from vipnas_tf.temporal.supernet import TemporalSuperNetwork
from vipnas_tf.training.model_dir import keypoint_layout_of_run, load_model

RANDOM_INIT_NOTE = ("weights randomly initialised (fan-in scaled normal, seed {seed}): no "
                    "pretrained weights come with presets, they are architectures; pass "
                    "--model_dir to convert trained weights (a training run, or an mmpose "
                    "checkpoint imported by scripts/import_mmpose.py)")


def parse_input_size(text) -> Tuple[int, int]:
    """'256x192' (or (256, 192)) -> (256, 192); ValueError naming the value otherwise."""
    if isinstance(text, (tuple, list)):
        values = list(text)
    else:
        values = str(text).lower().replace(",", "x").split("x")
    try:
        h, w = (int(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f"input_size must be HxW, e.g. 256x192; got {text!r}") from None
    if h <= 0 or w <= 0 or h % 32 or w % 32:
        raise ValueError(f"input_size {h}x{w}: height and width must be positive multiples of 32")
    return h, w


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
    if hasattr(net, "_nodes_by_depth"):  # already a static functional model ("static" dirs)
        stored = parse_arch(cfg["arch"]) if cfg.get("arch") else None
        if arch is not None and stored is not None and arch != stored:
            raise ValueError(f"{model_dir} holds the static model {stored.to_string()}; --arch "
                             f"{arch.to_string()} differs (leave --arch out)")
        arch = stored or arch
        if arch is not None and tuple(size) != tuple(net.inputs[0].shape[1:3]):
            resized = build_static(arch, size)  # same weights, other input size
            resized.set_weights(net.get_weights())
            net = resized
        return LoadedModel(net, arch, tuple(net.inputs[0].shape[1:3]), weights, False, cfg, layout)
    raise ValueError(f"{model_dir}: load_model returned a {type(net).__name__}, which has no "
                     "extract(); cannot make a static model")


# ------------------------------------------------------------------------------
# Video schedules.


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
    """Reads schedule.json (`Schedule.load`) and loads its key model.

    Args:
        path: the schedule file; its relative model directories resolve against its folder.
        input_size: (H, W) or "HxW"; default the schedule's.
        seed: seed of random initialisations (networks without a model directory).
        frame_factory: builds the frame models instead of `temporal_frame_factory`.
    """
    schedule = Schedule.load(path)
    schedule = dataclasses.replace(schedule, keypoint_layout=schedule.check_model_layouts(required=False))
    size = parse_input_size(input_size or schedule.input_size)
    key = load_static_model(schedule.key_arch, schedule.key_model_path, size, seed)
    if frame_factory is not None:
        frame_model = lambda i: frame_factory(schedule, i, size)  # noqa: E731
    else:
        frame_model = temporal_frame_factory(schedule, size, seed=seed)
    return LoadedSchedule(schedule, size, key, frame_model)
