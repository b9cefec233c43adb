"""The spatial task: S-ViPNet super-network (sandwich) or one fixed architecture.

A task tells the Trainer what to build, what a batch is, how a member runs, what its
loss is and how to validate; the Trainer owns the loop, the strategy, checkpoints and
logs. (`vipnas_tf.training.temporal` is the other task.)

This module also registers the spatial kinds of model directory
(`vipnas_tf.training.model_dir`): "supernet" and "standalone" runs hold the
SuperNetwork of their space, "static" directories the static model of their `arch`.
"""
import dataclasses
import logging
import os

import numpy as np
import tensorflow as tf

from vipnas_tf.arch import get_space, parse_arch, resolve_arch
from vipnas_tf.codecs.dataset_info import UNLABELLED_SLOTS, require_same_layout
from vipnas_tf.codecs.layout_mapping import channel_mapping
from vipnas_tf.data.formats import annotation_layout, load_samples
from vipnas_tf.data.pipeline import make_topdown_dataset
from vipnas_tf.evaluation import CocoEvaluator, PoseTrackEvaluator
from vipnas_tf.models import build_static, build_supernet
from vipnas_tf.training import bn as bn_lib
from vipnas_tf.training.config import padding_of_run, static_dir_arch
from vipnas_tf.training.losses import keypoint_mse
from vipnas_tf.training.model_dir import ModelDirError, keypoint_layout_of_run, register_run_kind
from vipnas_tf.training.sandwich import FixedSampler, SandwichSampler

log = logging.getLogger(__name__)

TRAIN_KEYS = ("image", "heatmaps", "target_weight")


@register_run_kind("supernet", "standalone")
def build_supernet_run(run_config, config_path):
    """The SuperNetwork of a spatial run (a stand-alone run trains its `arch` inside it),
    padded as its `padding` says (absent: "same")."""
    return build_supernet(run_config.get("space"), input_size=tuple(run_config.get("input_size", (256, 192))),
                          padding=run_config.get("padding", "same"))


@register_run_kind("static")
def build_static_run(run_config, config_path):
    """The static Keras model of a "static" directory's `arch` (e.g. imported mmpose weights)."""
    if not run_config.get("arch"):
        raise ModelDirError(f"{config_path}: a 'static' model directory needs the field 'arch'")
    try:
        arch = parse_arch(str(run_config["arch"]))
    except ValueError as e:
        raise ModelDirError(f"{config_path}: field 'arch': {e}") from None
    return build_static(arch, input_size=tuple(run_config.get("input_size", (256, 192))))


class SpatialTask:
    def __init__(self, config):
        self.config = config
        self.space = get_space(config.space)
        self.input_size = tuple(config.input_size)
        self.arch = None
        # The network's padding: init_from's (a "static" directory: its architecture's),
        # else the architecture's.
        self.padding = padding_of_run(config.init_from) if config.init_from else "same"
        if config.mode == "standalone":
            if config.arch:
                self.arch = resolve_arch(config.arch)
            else:  # init_from a "static" directory (TrainConfig.validate): its architecture
                self.arch = static_dir_arch(config.init_from)
            if self.arch.space != self.space.name:
                raise ValueError(f"arch {config.arch!r} belongs to space {self.arch.space!r}, "
                                 f"but space is {self.space.name!r}")
            self.space.validate(self.arch)
            if not config.init_from:
                self.padding = self.arch.padding
            elif self.arch.padding not in ("same", self.padding):
                raise ValueError(f"arch {self.arch.to_string()} has padding {self.arch.padding!r}, but the "
                                 f"networks of init_from {config.init_from!r} pad {self.padding!r}")
            self.arch = dataclasses.replace(self.arch, padding=self.padding)
        self._train_samples = None
        self._evaluator = None

    # ---- model -----------------------------------------------------------------
    def build_model(self):
        return build_supernet(self.space, input_size=self.input_size, padding=self.padding)

    def inherited_variables(self, model):
        """Variables of a freshly built model that hold trained weights: none (a
        spatial run starts from scratch, or from `init_from`, which the Trainer restores)."""
        return []

    def sampler(self):
        if self.arch is not None:
            return FixedSampler(self.space, self.arch)
        return SandwichSampler(self.space, self.config.num_random, self.config.seed)

    def run_config_extra(self):
        return {"arch": self.arch.to_string() if self.arch is not None else None,
                "keypoint_layout": self.keypoint_layout, "padding": self.padding}

    def forward(self, model):
        return lambda batch, arch, training: model(batch["image"], arch=arch, training=training)

    def loss_fn(self, pred, batch):
        return keypoint_mse(pred, batch["heatmaps"], batch["target_weight"])

    def teacher_shape(self, model):
        h, w = self.input_size
        k = model.num_keypoints
        return lambda batch: [tf.shape(batch["image"])[0], h // 4, w // 4, k]

    # ---- data ------------------------------------------------------------------
    def train_samples(self):
        if self._train_samples is None:
            self._train_samples, _ = load_samples(
                self.config.train_ann, self.config.train_images, self.config.data_format)
            if len(self._train_samples) == 0:
                raise ValueError(f"{self.config.train_ann}: no person samples to train on")
        return self._train_samples

    @property
    def keypoint_layout(self):
        """"coco" | "posetrack18": the training annotations' layout (the run's)."""
        return self.train_samples().info.name

    def check_val_layout(self):
        """Refuses a validation set whose keypoint layout differs from the training set's."""

        if self.config.val_ann and self.config.eval_every >= 0:
            require_same_layout(self.keypoint_layout, f"the training annotations {self.config.train_ann}",
                                annotation_layout(self.config.val_ann, self.config.data_format),
                                f"the validation annotations {self.config.val_ann}",
                                what="validate on a set of another layout")

    def check_layouts(self):
        """Start-up checks (Trainer, before any model is built): the validation set and
        `init_from` must fit the training set's keypoint layout (`init_from` of another
        layout only through a mapping of `vipnas_tf.codecs.layout_mapping`)."""

        self.check_val_layout()
        if self.config.init_from:
            source = keypoint_layout_of_run(self.config.init_from)
            channel_mapping(source, self.keypoint_layout,
                            where=f"init_from {self.config.init_from} (layout {source!r}) into a run on "
                                  f"{self.config.train_ann} (layout {self.keypoint_layout!r})")

    def steps_per_epoch(self):
        return max(1, len(self.train_samples()) // self.config.batch_size)

    def train_dataset(self, seed, batch_size, stats=None):

        samples = self.train_samples()
        ds = make_topdown_dataset(samples, self.input_size, batch_size, training=True,
                                  seed=seed, augment=self.config.augment_config(), stats=stats)
        stats = ds.pipeline_stats
        # Slots the layout never labels (PoseTrack18's ears) train at target weight 0,
        # whatever a file might hold there.
        keep = np.ones(samples.info.num_keypoints, np.float32)
        keep[list(UNLABELLED_SLOTS.get(samples.info.name, ()))] = 0.0
        keep = tf.constant(keep)
        ds = ds.map(lambda d: {k: d[k] * keep if k == "target_weight" else d[k] for k in TRAIN_KEYS})
        ds.pipeline_stats = stats
        return ds

    # ---- validation ------------------------------------------------------------
    def evaluator(self):
        """COCO OKS AP for a COCO-layout run, PoseTrack mAP (PCKh@0.5) for a
        PoseTrack18-layout one (the paper's metric on PoseTrack)."""
        if self._evaluator is None:
            self.check_val_layout()
            if self.keypoint_layout == "posetrack18":
                self._evaluator = PoseTrackEvaluator(self.config.val_ann, self.config.val_images,
                                                     self.input_size, keypoint_layout=self.keypoint_layout)
            else:
                self._evaluator = CocoEvaluator.subset(self.config.val_ann, self.config.val_images,
                                                       self.config.eval_max_persons, self.input_size)
        return self._evaluator

    def eval_members(self):
        if self.arch is not None:
            return {"arch": self.arch}
        pad = lambda a: dataclasses.replace(a, padding=self.padding)  # noqa: E731
        return {"max": pad(self.space.max()), "min": pad(self.space.min())}

    # The spatial validation writes what it scored (`evaluate(..., results_dir=)`).
    writes_val_results = True

    def evaluate(self, model, calib_batches, results_dir=None):
        """Validation AP of the members to watch (BN re-calibrated for sampled ones):
        `val_ap_*` (COCO AP, 0..1) or, for a PoseTrack18-layout run, `val_map_*`
        (PoseTrack mAP, percent).

        results_dir: optionally write each member's predictions there (atomically,
        replacing the previous validation's): `<member>.json`, the COCO keypoint
        results file; for a PoseTrack18-layout run the PoseTrack results, `<member>/`
        (one file per video) when the annotations are a folder, else `<member>.json`.
        Members: "max" and "min" of a super-network, "arch" of a stand-alone run."""
        out = {}
        state = bn_lib.bn_state(model)
        posetrack = self.keypoint_layout == "posetrack18"
        try:
            for name, arch in self.eval_members().items():
                if self.arch is None:
                    bn_lib.recalibrate_bn(model, arch, calib_batches())
                kwargs = {}
                if results_dir is not None and posetrack:
                    folder = os.path.isdir(self.config.val_ann)
                    kwargs["results_path"] = os.path.join(results_dir, name if folder else f"{name}.json")
                elif results_dir is not None:
                    kwargs["results_file"] = os.path.join(results_dir, f"{name}.json")
                stats = self.evaluator().evaluate(bn_lib.predict_fn(model, arch), **kwargs)
                if posetrack:
                    out[f"val_map_{name}"] = float(stats["Total"])
                else:
                    out[f"val_ap_{name}"] = float(stats["AP"])
        finally:
            bn_lib.set_bn_state(model, state)
        return out
