"""Trainer: the loop around the sandwich step (strategy, checkpoints, logs, validation).

    config = TrainConfig(space="mobilenetv3", input_size=(128, 96), batch_size=16,
                         train_steps=300, train_ann=..., train_images=..., val_ann=..., val_images=...)
    summary = Trainer(config, "runs/supernet").train()

What a run guarantees:
- Start-up checks before any training: the config (unknown values, missing data paths),
  a writable model_dir, and a model_dir that holds no run of another kind.
- Resumption: the latest checkpoint restores the weights, the optimizer (its step
  counter is the global step) and therefore the sandwich sampling, which depends only
  on (seed, step). A killed run loses at most `checkpoint_every` steps. The data order
  after a restart is a fresh deterministic stream seeded by (seed, step).
- A non-finite loss stops the run (`TrainingDivergedError`) without saving, so the
  last good checkpoint stays the latest.
- Logs: `metrics.jsonl` (step, each member's loss, lr, images/s, validation AP),
  TensorBoard scalars under `tb/`, a tqdm progress bar with ETA.
"""
import logging
import os
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2
from tqdm.auto import tqdm

from vipnas_tf.training import init as init_lib
from vipnas_tf.training import layout_transfer
from vipnas_tf.training import model_dir as model_dir_lib
from vipnas_tf.training.config import TrainConfig
from vipnas_tf.training.schedules import PoseLRSchedule
from vipnas_tf.training.spatial import SpatialTask
from vipnas_tf.training.step import TrainStep
from vipnas_tf.training.strategy import is_chief, make_strategy
from vipnas_tf.training.temporal import TemporalTask
from vipnas_tf.utils import io as io_utils

log = logging.getLogger(__name__)

# Fields that must match when a run resumes in an existing model_dir.
IDENTITY_FIELDS = ("mode", "space", "arch", "input_size", "num_frames", "key_arch", "fusion",
                   "keypoint_layout")


def write_scalar(tag, value, step):
    """A TensorBoard scalar through `tf.summary.write` (what `tf.summary.scalar` does,
    without needing the tensorboard package at training time)."""
    meta = summary_pb2.SummaryMetadata()
    meta.plugin_data.plugin_name = "scalars"
    meta.data_class = summary_pb2.DATA_CLASS_SCALAR
    tf.summary.write(tag, tf.constant(float(value), tf.float32), step=step, metadata=meta)


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite."""


def check_writable(model_dir):
    """Creates `model_dir` and proves it writable, or raises naming it."""
    try:
        os.makedirs(model_dir, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=model_dir, prefix=".write_probe"):
            pass
    except OSError as e:
        raise PermissionError(f"model_dir {model_dir!r} cannot be written: {e}") from e


def make_task(config):
    if config.mode == "temporal":
        return TemporalTask(config)
    return SpatialTask(config)


class Trainer:
    """Runs a TrainConfig in a model directory (resuming what is there).

    Args:
      config: TrainConfig (validated here).
      model_dir: run directory.
      progress: show a tqdm bar.
      log_fn: where one-line status messages go (default: logging).
    """

    def __init__(self, config: TrainConfig, model_dir, progress=True, log_fn=None):
        config = config.with_absolute_paths().validate()
        self.config = config
        self.model_dir = os.fspath(model_dir)
        self.progress = progress
        self.log = log_fn or log.info
        check_writable(self.model_dir)
        self.task = make_task(config)
        if hasattr(self.task, "check_layouts"):
            self.task.check_layouts()
        self._check_existing_run()
        self.strategy = make_strategy(config.strategy, config.tpu)
        self.chief = is_chief(self.strategy)
        self.num_replicas = self.strategy.num_replicas_in_sync
        if config.batch_size % self.num_replicas:
            raise ValueError(f"batch_size {config.batch_size} is not divisible by the "
                             f"{self.num_replicas} replicas")
        self.total_steps = config.train_steps or int(round(config.epochs * self.task.steps_per_epoch()))
        self.sampler = self.task.sampler()
        with self.strategy.scope():
            self.model = self.task.build_model()
            self.lr_schedule = PoseLRSchedule(config.learning_rate, self.total_steps, config.lr_schedule,
                                              config.lr_decay_at, config.lr_decay_factor, config.warmup_steps)
            self.optimizer = keras.optimizers.Adam(learning_rate=self.lr_schedule)
            self.optimizer.build(self.model.trainable_variables)
        self.checkpoint = model_dir_lib.model_checkpoint(self.model, optimizer=self.optimizer)
        ckpt_dir = os.path.join(self.model_dir, model_dir_lib.CKPT_SUBDIR)
        if not self.chief:  # MultiWorkerMirroredStrategy: every worker saves; only the chief's count
            ckpt_dir = os.path.join(tempfile.mkdtemp(prefix="vipnas_worker_ckpt_"))
        self.manager = tf.train.CheckpointManager(self.checkpoint, ckpt_dir,
                                                  max_to_keep=config.keep_checkpoints)
        self.kernel_init = None  # KernelInit of a fresh run (None when resumed or init_from)
        self.restored_from = self._restore()
        self.step_fn = TrainStep(
            self.strategy, self.model, self.optimizer,
            forward=self.task.forward(self.model), loss_fn=self.task.loss_fn,
            teacher_shape=self.task.teacher_shape(self.model),
            global_batch_size=config.batch_size, num_members=self.sampler.num_members,
            distill=config.distill and config.mode != "standalone",
            fixed_arch=getattr(self.sampler, "arch", None),
            distill_fn=getattr(self.task, "distill_fn", None),
            distill_start=config.distill_start,
            random_start=config.random_start,
        )
        if self.chief:
            run_config = dict(config.to_dict(), **self.task.run_config_extra(),
                              total_steps=self.total_steps, members=self.sampler.member_names)
            io_utils.write_json(os.path.join(self.model_dir, model_dir_lib.RUN_CONFIG), run_config)

    # ---- set-up ----------------------------------------------------------------
    def _check_existing_run(self):
        path = os.path.join(self.model_dir, model_dir_lib.RUN_CONFIG)
        if not os.path.exists(path):
            return
        old = io_utils.read_json(path)
        new = dict(self.config.to_dict(), **self.task.run_config_extra())
        for field in IDENTITY_FIELDS:
            if field in old and old[field] != new.get(field):
                raise ValueError(f"model_dir {self.model_dir!r} holds a run with {field}={old[field]!r}, "
                                 f"this run has {field}={new.get(field)!r}; use another model_dir")

    def _restore(self):
        latest = self.manager.latest_checkpoint
        if self.chief is False:
            latest = tf.train.latest_checkpoint(os.path.join(self.model_dir, model_dir_lib.CKPT_SUBDIR))
        if latest:
            self.checkpoint.restore(latest).assert_existing_objects_matched()
            self.log(f"resuming from {latest} (step {int(self.optimizer.iterations)})")
            return latest
        if self.config.init_from:
            path, source, fresh = layout_transfer.restore_for_layout(
                self.model, self.config.init_from, self.task.keypoint_layout, self.config.seed)
            self.log(f"initialised weights from {path}")
            if source != self.task.keypoint_layout:
                self.log(f"keypoint layout {source} -> {self.task.keypoint_layout}: output-conv channels "
                         f"{list(fresh)} re-initialised N(0, 0.001), the others copied "
                         f"(vipnas_tf.codecs.layout_mapping)")
        else:
            # Weights the task copied from a trained model (a temporal run's T-ViPNet
            # from the key S-ViPNet) are kept; only new kernels follow `kernel_init`.
            self.kernel_init = init_lib.initialize_kernels(
                self.model, self.config.kernel_init, self.config.seed,
                inherited=self.task.inherited_variables(self.model))
            self.log(self.kernel_init.describe(self.config.kernel_init))
        return None

    @property
    def step(self):
        return int(self.optimizer.iterations.numpy())

    def _dataset(self, seed):
        ds = self.task.train_dataset(seed, self.config.batch_size)
        self.pipeline_stats = ds.pipeline_stats
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return ds.with_options(options)

    def _calibration_batches(self):
        """K training batches (un-distributed) for BN re-calibration."""
        k = self.config.bn_calib_batches
        ds = self.task.train_dataset(self.config.seed + 17, self.config.batch_size).take(k)
        return lambda: ds

    # ---- loop ------------------------------------------------------------------
    def train(self, train_steps=None):
        """Trains up to `train_steps` (default: the config's total); returns a summary."""
        total = int(train_steps or self.total_steps)
        start = self.step
        summary = {"model_dir": self.model_dir, "start_step": start, "total_steps": total,
                   "resumed_from": self.restored_from}
        if start >= total:
            self.log(f"{self.model_dir}: already trained to step {start} (>= {total})")
            summary.update(final_step=start, traces=0)
            return summary
        data_seed = int(np.random.default_rng([self.config.seed, start]).integers(2**31))
        dist = self.strategy.experimental_distribute_dataset(self._dataset(data_seed))
        iterator = iter(dist)
        writer = tf.summary.create_file_writer(os.path.join(self.model_dir, "tb")) if self.chief else None
        metrics_path = os.path.join(self.model_dir, "metrics.jsonl")
        names = self.sampler.member_names
        bar = None
        if self.progress and self.chief:
            bar = tqdm(total=total, initial=start, desc=f"train {self.config.mode}", unit="step")
        t_log, n_log, t0 = time.time(), 0, time.time()
        last = {}
        eval_every = self.config.eval_every
        for step in range(start, total):
            batch = next(iterator)
            gt, kd = self.step_fn(batch, self.sampler.vectors(step))
            gt, kd = gt.numpy(), kd.numpy()
            done = step + 1
            if not (np.all(np.isfinite(gt)) and np.all(np.isfinite(kd))):
                bad = [n for n, a, b in zip(names, gt, kd) if not (np.isfinite(a) and np.isfinite(b))]
                raise TrainingDivergedError(
                    f"non-finite loss at step {done} (members {bad}: gt {gt.tolist()}, distill "
                    f"{kd.tolist()}); stopped without saving, the last good checkpoint "
                    f"{self.manager.latest_checkpoint} is kept. Lower the learning rate or check the data.")
            n_log += 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{gt[0]:.2e}")
            record = None
            if done % self.config.log_every == 0 or done == total:
                dt = time.time() - t_log
                record = {"step": done, "lr": float(self.lr_schedule(done - 1)),
                          "images_per_sec": round(n_log * self.config.batch_size / max(dt, 1e-9), 2),
                          "elapsed_s": round(time.time() - t0, 1)}
                for n, a, b in zip(names, gt, kd):
                    record[f"loss_{n}"] = float(a)
                    if self.step_fn.distill and n != names[0]:
                        record[f"distill_{n}"] = float(b)
                record["loss"] = float(np.sum(gt) + np.sum(kd))
                record["skipped_images"] = self.pipeline_stats.skipped
                t_log, n_log = time.time(), 0
            if done % self.config.checkpoint_every == 0 or done == total:
                self.manager.save(checkpoint_number=done)
            if eval_every >= 0 and ((eval_every > 0 and done % eval_every == 0) or done == total):
                record = record or {"step": done}
                record.update(self.task.evaluate(self.model, self._calibration_batches()))
                self.log(f"step {done}: " + ", ".join(f"{k} {v:.4f}" for k, v in record.items()
                                                       if k.startswith("val_")))
            if record is not None and self.chief:
                io_utils.append_jsonl(metrics_path, record)
                with writer.as_default(step=done):
                    for key, value in record.items():
                        if key != "step" and isinstance(value, (int, float)):
                            write_scalar(key, value, done)
                writer.flush()
                last = record
        if bar is not None:
            bar.close()
        summary.update(final_step=self.step, traces=self.step_fn.trace_count,
                       seconds=round(time.time() - t0, 1), last=last,
                       skipped_images=self.pipeline_stats.skipped,
                       checkpoint=self.manager.latest_checkpoint)
        return summary
