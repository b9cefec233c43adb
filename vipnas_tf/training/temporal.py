"""The temporal task: T-ViPNet propagation model trained over clips (paper Sec. 3.4.2).

The key frame runs through the fixed S-ViPNet of `key_model_dir` (a stand-alone run,
or a "static" directory such as imported mmpose weights, loaded into the slices of
its architecture in a super-network of its padding: the same heatmaps); the T-ViPNet
super-network starts from those weights, bounded by its architecture and padded as
it is, and every non-key frame runs its own architecture (spatial choices +
fusion op + fusion stage). Sandwich members: all-biggest and all-smallest (temporal
choices random per frame), and N members where each frame samples its own choices.
Loss: paper eq. 1, the target-weighted MSE of every non-key frame, summed over frames;
in-place distillation from the all-biggest member.

`fusion=False` trains the same per-frame architectures with the fusion module
switched off (frame-wise networks, the ablation of paper Fig. 6(a)).

`ScheduleEvaluator` scores a concrete per-frame schedule: each frame's BN statistics
are re-calibrated for its own architecture (on clips propagated through the earlier
frames' already calibrated networks), then the clips are propagated frame by frame
with each frame's statistics, and the non-key frames are scored (PoseTrack mAP).

Training, calibration and evaluation feed every T-ViPNet the previous frame's heatmaps
warped into its own crop (`vipnas_tf.temporal.warp`, from the clips' per-frame crop
affines), exactly as the video runner does between a track's crops.

Model directories of mode "temporal" are registered here (`build_temporal_model`).
"""
import dataclasses
import logging
import os

import numpy as np
import tensorflow as tf

from vipnas_tf.arch import get_space
from vipnas_tf.arch.arch import parse_arch
from vipnas_tf.codecs.dataset_info import require_same_layout
from vipnas_tf.data import PoseTrackData
from vipnas_tf.data.formats import annotation_layout, detect_annotation_format
from vipnas_tf.data.pipeline import make_clip_dataset
from vipnas_tf.evaluation.clips import ClipEvaluator
from vipnas_tf.models import build_supernet
from vipnas_tf.temporal.frame_arch import FrameArch, TemporalSpace
from vipnas_tf.temporal.propagation import PropagationModel, propagate_clips, sample_frame_archs
from vipnas_tf.temporal.supernet import TemporalSuperNetwork
from vipnas_tf.temporal.warp import frame_input_heatmaps
from vipnas_tf.training import bn as bn_lib
from vipnas_tf.training.layout_transfer import supernet_of_static_dir
from vipnas_tf.training.losses import distillation_mse, keypoint_mse
from vipnas_tf.training.model_dir import (
    ModelDirError,
    keypoint_layout_of_run,
    load_model,
    read_run_config,
    register_run_kind,
)

log = logging.getLogger(__name__)

# crop_matrix: each frame's crop affine, to warp the previous heatmaps into its crop.
TRAIN_KEYS = ("image", "heatmaps", "target_weight", "crop_matrix")


class TemporalSandwichSampler:
    """Per-frame architectures of the sandwich members, seeded by (seed, step): [M, T, L]."""

    def __init__(self, temporal_space, num_frames, num_random=2, seed=0):
        self.space = temporal_space
        self.num_frames = int(num_frames)
        self.num_random = int(num_random)
        self.seed = int(seed)

    @property
    def member_names(self):
        return ["max", "min"] + [f"rand{i + 1}" for i in range(self.num_random)]

    @property
    def num_members(self):
        return 2 + self.num_random

    def vectors(self, step):
        rng = np.random.default_rng([self.seed, int(step), 13])
        modes = ["max", "min"] + ["random"] * self.num_random
        return np.stack([sample_frame_archs(self.space, rng, self.num_frames, m) for m in modes]).astype(np.int32)


KEY_MODES = ("standalone", "static")


def _key_run(key_model_dir):
    cfg = read_run_config(key_model_dir)
    if cfg.get("mode") not in KEY_MODES or not cfg.get("arch"):
        raise ValueError(f"key_model_dir {key_model_dir!r} must hold a trained S-ViPNet (a --mode=standalone run, "
                         f"or a 'static' directory such as imported mmpose weights), it holds a "
                         f"{cfg.get('mode')!r} run")
    return cfg


def build_propagation_model(space, input_size, key_arch, key_net=None, copy=True):
    """PropagationModel(TemporalSuperNetwork, key S-ViPNet). With `key_net` (a trained
    SuperNetwork holding the S-ViPNet), the T-ViPNet starts from its weights. Both
    networks pad as `key_arch` does."""
    if key_net is None:
        key_net = build_supernet(space, input_size=tuple(input_size), padding=key_arch.padding)
        tnet = TemporalSuperNetwork(space, tuple(input_size), max_arch=key_arch)
    else:
        tnet = TemporalSuperNetwork.from_spatial(key_net, max_arch=key_arch, copy=copy)
    return PropagationModel(tnet, key_model=key_net, key_arch=key_arch, unroll=False)


@register_run_kind("temporal")
def build_temporal_model(run_config, config_path=None):
    """The PropagationModel of a temporal run's config (weights restored by the caller):
    the "temporal" kind of model directory (`vipnas_tf.training.model_dir`)."""
    for field in ("space", "input_size", "key_arch"):
        if not run_config.get(field):
            raise ModelDirError(f"{config_path or 'run config'}: a 'temporal' run needs the field {field!r}")
    key_arch = parse_arch(run_config["key_arch"])
    padding = run_config.get("padding", "same")
    if key_arch.padding != padding:
        raise ModelDirError(f"{config_path or 'run config'}: field 'padding' is {padding!r}, but field 'key_arch' "
                            f"pads {key_arch.padding!r}")
    return build_propagation_model(run_config["space"], run_config["input_size"], key_arch)


class TemporalTask:
    def __init__(self, config):
        self.config = config
        key_cfg = _key_run(config.key_model_dir)
        self.key_static = key_cfg["mode"] == "static"
        self.key_arch = parse_arch(key_cfg["arch"])
        if not self.key_static:  # a stand-alone run's networks pad as its run_config says
            self.key_arch = dataclasses.replace(self.key_arch, padding=key_cfg.get("padding", "same"))
        key_config_file = os.path.join(config.key_model_dir, "run_config.json")
        if key_cfg["space"] != config.space:
            raise ValueError(f"{key_config_file}: field 'space': the key S-ViPNet is {key_cfg['space']!r}, "
                             f"this temporal run's space is {config.space!r}")
        if tuple(key_cfg["input_size"]) != tuple(config.input_size):
            raise ValueError(f"{key_config_file}: field 'input_size': the key S-ViPNet was trained at "
                             f"{list(key_cfg['input_size'])}, this temporal run's input_size is "
                             f"{list(config.input_size)}; train both at one size")
        self.keypoint_layout = self._check_layouts(config, key_cfg)
        self.space = get_space(config.space)
        self.input_size = tuple(config.input_size)
        self.num_frames = int(config.num_frames)
        self.fusion = bool(getattr(config, "fusion", True))
        self.space.validate(self.key_arch)
        self.temporal_space = TemporalSpace(self.space, max_arch=self.key_arch)
        self._clips = None
        self._evaluator = None

    @staticmethod
    def _check_layouts(config, key_cfg):
        """The layout of the clips (the run's); refuses a key model or a val set of
        another layout, naming both layouts and the files."""
        key_layout = keypoint_layout_of_run(config.key_model_dir, key_cfg)
        fmt = config.data_format
        if fmt == "auto":
            fmt = detect_annotation_format(config.train_ann)
        if fmt != "posetrack":
            raise ValueError(f"train_ann {config.train_ann}: temporal training needs PoseTrack18 video "
                             f"annotations (tracks over frames), got the {fmt!r} format")
        layout = annotation_layout(config.train_ann, "posetrack")
        key_where = f"key_model_dir {config.key_model_dir}"
        require_same_layout(key_layout, key_where, layout, f"the temporal training set {config.train_ann}",
                            what="train T-ViPNets from this key model")
        if config.val_ann and os.path.exists(config.val_ann):
            require_same_layout(layout, f"the temporal training set {config.train_ann}",
                                annotation_layout(config.val_ann, "posetrack"),
                                f"the validation set {config.val_ann}", what="validate on a set of another layout")
        return layout

    def build_model(self):
        if self.key_static:
            key_net, _ = supernet_of_static_dir(self.config.key_model_dir, self.input_size)
        else:
            key_net, _ = load_model(self.config.key_model_dir, expect_mode="standalone")
        return build_propagation_model(self.space.name, self.input_size, self.key_arch, key_net=key_net)

    def inherited_variables(self, model):
        """The T-ViPNet's spatial weights: `build_model` copies every one of them from
        the key S-ViPNet (paper Sec. 3.4.2), so no kernel initialisation may re-draw
        them. Only the fusion module is new."""
        return list(model.temporal.spatial.weights)

    def sampler(self):
        return TemporalSandwichSampler(self.temporal_space, self.num_frames, self.config.num_random,
                                       self.config.seed)

    def run_config_extra(self):
        return {"arch": None, "key_arch": self.key_arch.to_string(),
                "key_model_dir": os.path.abspath(self.config.key_model_dir), "fusion": self.fusion,
                "keypoint_layout": self.keypoint_layout, "padding": self.key_arch.padding}

    def forward(self, model):
        t_count = self.num_frames
        if self.fusion:
            return lambda batch, arch, training: model(batch["image"], arch, training=training,
                                                       crop_matrices=batch["crop_matrix"])
        spatial = model.temporal.spatial

        def frame_wise(batch, arch, training):
            clips = batch["image"]
            return tf.stack([spatial(clips[:, t + 1], arch=arch[t][:-2], training=training)
                             for t in range(t_count)], axis=1)

        return frame_wise

    def loss_fn(self, pred, batch):
        return tf.add_n([keypoint_mse(pred[:, t], batch["heatmaps"][:, t + 1], batch["target_weight"][:, t + 1])
                         for t in range(self.num_frames)])

    def distill_fn(self, student, teacher):
        return tf.add_n([distillation_mse(student[:, t], teacher[:, t]) for t in range(self.num_frames)])

    def teacher_shape(self, model):
        h, w = self.input_size
        k = self.space.num_keypoints
        t = self.num_frames
        return lambda batch: [tf.shape(batch["image"])[0], t, h // 4, w // 4, k]

    # ---- data --------------------------------------------------------------------
    def clips(self):
        if self._clips is None:
            self._clips = PoseTrackData(self.config.train_ann, self.config.train_images).clips(self.num_frames + 1)
            if len(self._clips) == 0:
                raise ValueError(f"{self.config.train_ann}: no track with {self.num_frames + 1} consecutive frames")
        return self._clips

    def steps_per_epoch(self):
        return max(1, len(self.clips()) // self.config.batch_size)

    def train_dataset(self, seed, batch_size, stats=None):
        ds = make_clip_dataset(self.clips(), self.input_size, batch_size, training=True, seed=seed,
                               augment=self.config.augment_config(), num_frames=self.num_frames + 1, stats=stats)
        stats = ds.pipeline_stats
        ds = ds.map(lambda d: {k: d[k] for k in TRAIN_KEYS})
        ds.pipeline_stats = stats
        return ds

    # ---- validation ------------------------------------------------------------------
    def clip_evaluator(self):
        if self._evaluator is None:
            if not self.config.val_ann:
                raise ValueError("temporal validation needs val_ann / val_images (PoseTrack format)")
            self._evaluator = ClipEvaluator(self.config.val_ann, self.config.val_images, self.input_size,
                                            self.num_frames, keypoint_layout=self.keypoint_layout,
                                            model_source=f"this temporal run (layout of {self.config.train_ann})")
        return self._evaluator

    def evaluate(self, model, calib_batches):
        """PoseTrack mAP (non-key frames) of the all-biggest and all-smallest schedules
        (fusion: add at the last stage), per-frame BN re-calibrated."""
        stage = len(self.temporal_space.fusion_stages)
        out = {}
        calib = list(calib_batches())
        ev = ScheduleEvaluator(model, self.clip_evaluator(), calib, fusion=self.fusion)
        for name, spatial in (("max", self.temporal_space.max_arch), ("min", self.temporal_space.min().spatial)):
            frames = [FrameArch(spatial, "add", stage)] * self.num_frames
            out[f"val_map_{name}"] = float(ev.evaluate(frames)["Total"])
        return out


class ScheduleEvaluator:
    """PoseTrack mAP of concrete per-frame T-ViPNets on val clips (see module doc).

    Args:
      model: a PropagationModel (its `temporal` super-network and key model).
      clip_evaluator: a ClipEvaluator with the same T.
      calib_clips: clip batches for BN re-calibration: dicts with "image" [n, T + 1,
        H, W, 3] (normalised) and "crop_matrix" [n, T + 1, 2, 3] (as the clip dataset
        yields them; the previous heatmaps are warped between the frames' crops), or
        bare image batches (every frame cut from the same box: no warp).
      fusion: False runs the frames without the fusion module.
    """

    def __init__(self, model, clip_evaluator, calib_clips, fusion=True):
        self.model = model
        self.tnet = model.temporal
        self.clip_evaluator = clip_evaluator
        self.calib, self.calib_matrices = [], []
        for c in calib_clips:
            matrices = c.get("crop_matrix") if isinstance(c, dict) else None
            self.calib.append(tf.convert_to_tensor(c["image"] if isinstance(c, dict) else c, tf.float32))
            self.calib_matrices.append(None if matrices is None else tf.convert_to_tensor(matrices, tf.float32))
        self.fusion = fusion
        tnet, spatial = self.tnet, self.tnet.spatial
        if fusion:
            self._train = tf.function(lambda x, p, a: tnet(x, p, arch=a, training=True), reduce_retracing=True)
            self._infer = tf.function(lambda x, p, a: tnet(x, p, arch=a, training=False), reduce_retracing=True)
        else:
            self._train = tf.function(lambda x, p, a: spatial(x, arch=a[:-2], training=True), reduce_retracing=True)
            self._infer = tf.function(lambda x, p, a: spatial(x, arch=a[:-2], training=False), reduce_retracing=True)
        self._key = tf.function(lambda x: model.key_heatmaps(x))
        self._key_cache = {}

    def _key_heatmaps(self, i, clips):
        if i not in self._key_cache:
            self._key_cache[i] = self._key(clips[:, 0])
        return self._key_cache[i]

    def calibrate(self, vectors):
        """Per-frame BN states for encoded frame architectures [T, L]."""
        states = []
        prevs = [self._key_heatmaps(i, c) for i, c in enumerate(self.calib)]
        for t, vec in enumerate(vectors):
            vec = tf.constant(vec)
            self.tnet.spatial.reset_bn_statistics()
            fused = [frame_input_heatmaps(prevs[n], self.calib_matrices[n], t + 1, tuple(clips.shape[2:4]))
                     for n, clips in enumerate(self.calib)]
            for n, clips in enumerate(self.calib):
                self.tnet.spatial.set_bn_momentum(n / (n + 1.0))
                self._train(clips[:, t + 1], fused[n], vec)
            self.tnet.spatial.set_bn_momentum(0.9)
            states.append(bn_lib.bn_state(self.tnet.spatial))
            prevs = [self._infer(clips[:, t + 1], fused[n], vec) for n, clips in enumerate(self.calib)]
        return states

    def evaluate(self, frame_archs, batch_size=8):
        vectors = self.tnet.temporal_space.encode_many(frame_archs)
        saved = bn_lib.bn_state(self.tnet.spatial)
        try:
            states = self.calibrate(vectors)

            def frame_fn(t, vec):
                def run(images, prev):
                    bn_lib.set_bn_state(self.tnet.spatial, states[t])
                    return self._infer(images, prev, tf.constant(vec))
                return run

            frame_fns = [frame_fn(t, vec) for t, vec in enumerate(vectors)]

            def clip_predict(clips, crop_matrices):
                return propagate_clips(self.model.key_heatmaps, frame_fns, clips, crop_matrices)

            return self.clip_evaluator.evaluate(clip_predict, batch_size)
        finally:
            bn_lib.set_bn_state(self.tnet.spatial, saved)
