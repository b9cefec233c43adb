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
  TensorBoard scalars under `tb/`, a tqdm progress bar with ETA; a spatial run's latest
  validation predictions under `val_results/` (`validate_run` repeats that validation
  of a checkpoint in one process). The losses stay on
  the device between records: the loop reads them (and the non-finite check) only
  every `log_every` steps and before each checkpoint, so no step waits for the host.
- Multi-worker (`strategy="multi_worker"`, TF_CONFIG): every worker runs the same
  loop on its shard of each global batch; the workers first compare their settings
  and refuse to start when one differs. Only the chief writes the run's files
  (run_config.json, checkpoints, metrics.jsonl, tb/); the other workers save their
  checkpoints (as MultiWorkerMirroredStrategy requires of every worker) into a
  temporary directory of their own, removed when they stop. Validation runs on the
  chief only, on the whole validation set, so its AP is a one-process AP. A worker
  that dies stops the others (a collective fails); restarting every worker with the
  same flags resumes from the chief's latest checkpoint (this project's resume, not
  Keras' BackupAndRestore), losing at most `checkpoint_every` steps.
- Mixed precision (`mixed_precision="bfloat16" | "float16"`): the model is built
  under Keras' `mixed_<dtype>` policy (float32 variables, low-precision compute), the
  losses are computed in float32, and float16 wraps Adam in a LossScaleOptimizer
  (dynamic loss scale; checkpoints hold the inner Adam, so a run may change its
  precision on resume). A float16 step whose gradients overflow is skipped by the
  loss-scale optimizer and does not advance the global step. `jit_compile=True`
  compiles the step with XLA (stand-alone runs).
- TPU (`strategy="tpu"`): the input pipeline stays on the host (it decodes images
  with `tf.numpy_function`), distributed with `tf.distribute.InputOptions(
  experimental_fetch_to_device=True)`; this needs the Python process on the TPU host
  (a TPU VM), not a remote TPU node. Not tested here (no TPU).
"""
import dataclasses
import logging
import os
import shutil
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
from vipnas_tf.training.strategy import check_same_settings, is_chief, is_multi_worker, make_strategy, worker_name
from vipnas_tf.training.temporal import TemporalTask
from vipnas_tf.utils import io as io_utils

log = logging.getLogger(__name__)

# Where the chief writes the predictions of the latest validation (task-defined files;
# the spatial task's: one COCO results file per member, `<member>.json`).
VAL_RESULTS_SUBDIR = "val_results"
# Fields that must match when a run resumes in an existing model_dir.
IDENTITY_FIELDS = ("mode", "space", "arch", "input_size", "num_frames", "key_arch", "fusion",
                   "keypoint_layout", "padding")


def write_scalar(tag, value, step):
    """A TensorBoard scalar through `tf.summary.write` (what `tf.summary.scalar` does,
    without needing the tensorboard package at training time)."""
    meta = summary_pb2.SummaryMetadata()
    meta.plugin_data.plugin_name = "scalars"
    meta.data_class = summary_pb2.DATA_CLASS_SCALAR
    tf.summary.write(tag, tf.constant(float(value), tf.float32), step=step, metadata=meta)


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite."""


class WorkerLostError(RuntimeError):
    """A worker of a multi-worker run stopped; the run resumes when all are restarted."""


# Keras dtype policy of each `mixed_precision` setting.
PRECISION_POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


def check_writable(model_dir):
    """Creates `model_dir` and proves it writable, or raises naming it."""
    try:
        os.makedirs(model_dir, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=model_dir, prefix=".write_probe"):
            pass
    except OSError as e:
        raise PermissionError(f"model_dir {model_dir!r} cannot be written: {e}") from e


WORKER_DIR_PREFIX = "vipnas_worker_"


def remove_stale_worker_dirs(root=None):
    """Removes the temporary directories of non-chief workers that died without
    cleaning up (named by their process id; only dirs of processes gone are removed)."""
    root = root or tempfile.gettempdir()
    for name in os.listdir(root):
        if not name.startswith(WORKER_DIR_PREFIX):
            continue
        pid = name[len(WORKER_DIR_PREFIX):].split("_", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
        except PermissionError:
            pass  # another user's live process


def calibration_batches(task, config):
    """K training batches (un-distributed) for BN re-calibration before validation: a
    function returning the same `config.bn_calib_batches` batches at every call."""
    ds = task.train_dataset(config.seed + 17, config.batch_size).take(config.bn_calib_batches)
    return lambda: ds


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
        # First: MultiWorkerMirroredStrategy must exist before TensorFlow runs an op.
        self.strategy = make_strategy(config.strategy, config.tpu, config.communication_timeout)
        self.chief = is_chief(self.strategy)
        self.multi_worker = is_multi_worker(self.strategy)
        check_same_settings(self.strategy, dict(config.to_dict(), model_dir=os.path.abspath(self.model_dir)))
        self.task = make_task(config)
        if hasattr(self.task, "check_layouts"):
            self.task.check_layouts()
        self._check_existing_run()
        self.num_replicas = self.strategy.num_replicas_in_sync
        if config.batch_size % self.num_replicas:
            raise ValueError(f"batch_size {config.batch_size} is not divisible by the "
                             f"{self.num_replicas} replicas")
        self.total_steps = config.train_steps or int(round(config.epochs * self.task.steps_per_epoch()))
        self.sampler = self.task.sampler()
        # Seeded construction: every initial weight (also those a layer's own initializer
        # draws) is the same in any process, so a multi-worker run starts where a
        # one-process run of the same config does.
        keras.utils.set_random_seed(config.seed)
        previous_policy = keras.config.dtype_policy()
        keras.config.set_dtype_policy(PRECISION_POLICIES[config.mixed_precision])
        try:
            with self.strategy.scope():
                self.model = self.task.build_model()
                self.lr_schedule = PoseLRSchedule(config.learning_rate, self.total_steps, config.lr_schedule,
                                                  config.lr_decay_at, config.lr_decay_factor, config.warmup_steps)
                adam = keras.optimizers.Adam(learning_rate=self.lr_schedule)
                self.optimizer = adam
                if config.mixed_precision == "float16":
                    self.optimizer = keras.optimizers.LossScaleOptimizer(adam)
                self.optimizer.build(self.model.trainable_variables)
        finally:
            keras.config.set_dtype_policy(previous_policy)
        # The inner Adam is checkpointed (not the loss scale): precision may change on resume.
        self.checkpoint = model_dir_lib.model_checkpoint(self.model, optimizer=adam)
        ckpt_dir = os.path.join(self.model_dir, model_dir_lib.CKPT_SUBDIR)
        self.worker_dir = None
        self._eval_model = None
        if not self.chief:  # MultiWorkerMirroredStrategy: every worker saves; only the chief's count
            remove_stale_worker_dirs()
            self.worker_dir = tempfile.mkdtemp(prefix=f"{WORKER_DIR_PREFIX}{os.getpid()}_")
            ckpt_dir = os.path.join(self.worker_dir, model_dir_lib.CKPT_SUBDIR)
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
            jit_compile=config.jit_compile,
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
            self.log(f"resuming from {latest} (step {self.step})")
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

    def _evaluation_model(self):
        """The model validation runs on. Multi-worker: a local copy of the chief's
        weights, built outside the strategy, so that validating on the chief alone runs
        no collective the other workers would have to join."""
        if not self.multi_worker:
            return self.model
        if self._eval_model is None:
            previous_policy = keras.config.dtype_policy()
            keras.config.set_dtype_policy(PRECISION_POLICIES[self.config.mixed_precision])
            try:
                self._eval_model = self.task.build_model()
            finally:
                keras.config.set_dtype_policy(previous_policy)
        for dst, src in zip(self._eval_model.weights, self.model.weights):
            value = getattr(src, "value", src)
            dst.assign(self.strategy.experimental_local_results(value)[0].numpy())
        return self._eval_model

    @property
    def step(self):
        return int(self.optimizer.iterations.numpy())

    def _dataset(self, seed):
        ds = self.task.train_dataset(seed, self.config.batch_size)
        self.pipeline_stats = ds.pipeline_stats
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return ds.with_options(options)

    def _validate(self):
        """The validation scores of the current weights (the chief's copy, multi-worker);
        a task that writes its predictions puts them under VAL_RESULTS_SUBDIR."""
        kwargs = {}
        if getattr(self.task, "writes_val_results", False):
            kwargs["results_dir"] = os.path.join(self.model_dir, VAL_RESULTS_SUBDIR)
        return self.task.evaluate(self._evaluation_model(), calibration_batches(self.task, self.config), **kwargs)

    # ---- loop ------------------------------------------------------------------
    def train(self, train_steps=None):
        """Trains up to `train_steps` (default: the config's total); returns a summary."""
        try:
            return self._train(train_steps)
        except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError) as e:
            if not self.multi_worker:
                raise
            latest = self.manager.latest_checkpoint if self.chief else tf.train.latest_checkpoint(
                os.path.join(self.model_dir, model_dir_lib.CKPT_SUBDIR))
            raise WorkerLostError(
                f"{worker_name(self.strategy)}: a worker of the cluster stopped ({type(e).__name__}: "
                f"{str(e).splitlines()[0][:300]}); restart every worker with the same flags to resume from "
                f"the chief's latest checkpoint {latest}") from e
        finally:
            if self.worker_dir is not None:
                shutil.rmtree(self.worker_dir, ignore_errors=True)

    def _save(self, done):
        if self.worker_dir is not None:
            os.makedirs(self.manager.directory, exist_ok=True)
        self.manager.save(checkpoint_number=done)

    def _train(self, train_steps=None):
        total = int(train_steps or self.total_steps)
        start = self.step
        summary = {"model_dir": self.model_dir, "start_step": start, "total_steps": total,
                   "resumed_from": self.restored_from, "worker": worker_name(self.strategy)}
        if start >= total:
            self.log(f"{self.model_dir}: already trained to step {start} (>= {total})")
            summary.update(final_step=start, traces=0)
            return summary
        data_seed = int(np.random.default_rng([self.config.seed, start]).integers(2**31))
        options = None
        if isinstance(self.strategy, tf.distribute.TPUStrategy):
            # Host-side input: the pipeline decodes and crops in tf.numpy_function on the
            # TPU host's CPU; the batches are then fetched to the TPU cores.
            options = tf.distribute.InputOptions(experimental_fetch_to_device=True)
        dist = self.strategy.experimental_distribute_dataset(self._dataset(data_seed), options=options)
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
        traces_before = self.step_fn.tracing_count
        first_call = int(self.step_fn.calls.numpy())
        step_times = []
        for step in range(start, total):
            batch = next(iterator)
            # no host read here: the losses stay on the device until a record or a checkpoint
            self.step_fn(batch, self.sampler.vectors(step))
            done = step + 1
            n_log += 1
            if bar is not None:
                bar.update(1)
            log_now = done % self.config.log_every == 0 or done == total
            save_now = done % self.config.checkpoint_every == 0 or done == total
            eval_now = eval_every >= 0 and ((eval_every > 0 and done % eval_every == 0) or done == total)
            if not (log_now or save_now or eval_now):
                continue
            gt, kd, bad = self.step_fn.read_losses()
            if bad is not None:
                bad_step = start + bad[0] - first_call + 1
                bgt, bkd = bad[1], bad[2]
                members = [n for n, x, y in zip(names, bgt, bkd) if not (np.isfinite(x) and np.isfinite(y))]
                raise TrainingDivergedError(
                    f"non-finite loss at step {bad_step} (members {members}: gt {bgt.tolist()}, distill "
                    f"{bkd.tolist()}); stopped without saving, the last good checkpoint "
                    f"{self.manager.latest_checkpoint} is kept. Lower the learning rate or check the data.")
            record = None
            if log_now:
                dt = time.time() - t_log
                step_times.append(dt / max(n_log, 1))
                record = {"step": done, "lr": float(self.lr_schedule(done - 1)),
                          "images_per_sec": round(n_log * self.config.batch_size / max(dt, 1e-9), 2),
                          "elapsed_s": round(time.time() - t0, 1)}
                for n, a, b in zip(names, gt, kd):
                    record[f"loss_{n}"] = float(a)
                    if self.step_fn.distill and n != names[0]:
                        record[f"distill_{n}"] = float(b)
                record["loss"] = float(np.sum(gt) + np.sum(kd))
                record["skipped_images"] = self.pipeline_stats.skipped
                if bar is not None:
                    bar.set_postfix(loss=f"{gt[0]:.2e}")
                t_log, n_log = time.time(), 0
            if save_now:
                self._save(done)
            if eval_now and self.chief:  # validation on the chief only, on the whole val set
                record = record or {"step": done}
                record.update(self._validate())
                self.log(f"step {done}: " + ", ".join(f"{k} {v:.4f}" for k, v in record.items()
                                                       if k.startswith("val_")))
            if record is not None and self.chief:
                io_utils.append_jsonl(metrics_path, record)
                with writer.as_default(step=done):
                    for key, value in record.items():
                        if key != "step" and isinstance(value, (int, float)):
                            write_scalar(key, value, done)
                writer.flush()
            if record is not None:
                last = record
        if bar is not None:
            bar.close()
        summary.update(final_step=self.step, traces=self.step_fn.tracing_count - traces_before,
                       seconds=round(time.time() - t0, 1), last=last,
                       step_seconds=round(float(np.median(step_times[1:] or step_times)), 4) if step_times else None,
                       skipped_images=self.pipeline_stats.skipped,
                       checkpoint=self.manager.latest_checkpoint if self.chief else None)
        return summary


def validate_run(model_dir, results_dir=None):
    """The training loop's validation of `model_dir`'s latest checkpoint, run again here
    in one process without a distribution strategy: the same members, the same BN
    re-calibration batches (the run's seed) and the same validation set (its
    run_config.json). Returns the scores the loop logs (`val_ap_*` / `val_map_*`); with
    `results_dir`, a task that writes its predictions writes them there as the loop
    does under VAL_RESULTS_SUBDIR. Like the Trainer, it sets the global random seeds
    (Python, NumPy, TensorFlow) to the run's seed."""
    run_config = model_dir_lib.read_run_config(model_dir)
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    config = TrainConfig.from_dict({k: v for k, v in run_config.items() if k in fields}).validate()
    task = make_task(config)
    keras.utils.set_random_seed(config.seed)  # as the Trainer: the data shuffling depends on it
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(PRECISION_POLICIES[config.mixed_precision])
    try:
        model = task.build_model()
    finally:
        keras.config.set_dtype_policy(previous_policy)
    model_dir_lib.restore_weights(model, model_dir)
    kwargs = {"results_dir": results_dir} if results_dir is not None and getattr(
        task, "writes_val_results", False) else {}
    return task.evaluate(model, calibration_batches(task, config), **kwargs)
