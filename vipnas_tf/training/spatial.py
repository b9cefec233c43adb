"""The spatial task: S-ViPNet super-network (sandwich) or one fixed architecture.

A task tells the Trainer what to build, what a batch is, how a member runs, what its
loss is and how to validate; the Trainer owns the loop, the strategy, checkpoints and
logs. (`vipnas_tf.training.temporal` is the other task.)
"""
import logging

import numpy as np
import tensorflow as tf

from vipnas_tf.arch import get_space, resolve_arch
from vipnas_tf.training import bn as bn_lib
from vipnas_tf.training.losses import keypoint_mse
from vipnas_tf.training.sandwich import FixedSampler, SandwichSampler

log = logging.getLogger(__name__)

TRAIN_KEYS = ("image", "heatmaps", "target_weight")


class SpatialTask:
    def __init__(self, config):
        self.config = config
        self.space = get_space(config.space)
        self.input_size = tuple(config.input_size)
        self.arch = None
        if config.mode == "standalone":
            self.arch = resolve_arch(config.arch)
            if self.arch.space != self.space.name:
                raise ValueError(f"arch {config.arch!r} belongs to space {self.arch.space!r}, "
                                 f"but space is {self.space.name!r}")
            self.space.validate(self.arch)
        self._train_samples = None
        self._evaluator = None

    # ---- model -----------------------------------------------------------------
    def build_model(self):
        from vipnas_tf.models import build_supernet  # pylint: disable=import-outside-toplevel

        return build_supernet(self.space, input_size=self.input_size)

    def inherited_variables(self, model):
        """Variables of a freshly built model that hold trained weights: none (a
        spatial run starts from scratch, or from `init_from`, which the Trainer restores)."""
        return []

    def sampler(self):
        if self.arch is not None:
            return FixedSampler(self.space, self.arch)
        return SandwichSampler(self.space, self.config.num_random, self.config.seed)

    def run_config_extra(self):
        return {"arch": self.arch.to_string() if self.arch is not None else None}

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
            from vipnas_tf.data import load_coco  # pylint: disable=import-outside-toplevel

            self._train_samples = load_coco(self.config.train_ann, self.config.train_images)
            if len(self._train_samples) == 0:
                raise ValueError(f"{self.config.train_ann}: no person samples to train on")
        return self._train_samples

    def steps_per_epoch(self):
        return max(1, len(self.train_samples()) // self.config.batch_size)

    def train_dataset(self, seed, batch_size, stats=None):
        from vipnas_tf.data.pipeline import make_topdown_dataset  # pylint: disable=import-outside-toplevel

        ds = make_topdown_dataset(self.train_samples(), self.input_size, batch_size, training=True,
                                  seed=seed, augment=self.config.augment_config(), stats=stats)
        stats = ds.pipeline_stats
        ds = ds.map(lambda d: {k: d[k] for k in TRAIN_KEYS})
        ds.pipeline_stats = stats
        return ds

    # ---- validation ------------------------------------------------------------
    def evaluator(self):
        if self._evaluator is None:
            from vipnas_tf.evaluation import CocoEvaluator  # pylint: disable=import-outside-toplevel

            self._evaluator = CocoEvaluator.subset(self.config.val_ann, self.config.val_images,
                                                   self.config.eval_max_persons, self.input_size)
        return self._evaluator

    def eval_members(self):
        if self.arch is not None:
            return {"arch": self.arch}
        return {"max": self.space.max(), "min": self.space.min()}

    def evaluate(self, model, calib_batches):
        """Validation AP of the members to watch (BN re-calibrated for sampled ones)."""
        out = {}
        state = bn_lib.bn_state(model)
        try:
            for name, arch in self.eval_members().items():
                if self.arch is None:
                    bn_lib.recalibrate_bn(model, arch, calib_batches())
                stats = self.evaluator().evaluate(bn_lib.predict_fn(model, arch))
                out[f"val_ap_{name}"] = float(stats["AP"])
        finally:
            bn_lib.set_bn_state(model, state)
        return out
