r"""Trains a ViPNAS super-network (sandwich rule), a fixed architecture, or a T-ViPNet model.

Examples:
  # quickstart: synthetic data (generated on first use), 64x64, about 7 minutes on 2 cores
  vipnas-train --flagfile=configs/quickstart_supernet.flags --model_dir=runs/supernet

  # the paper's recipe on COCO2017 (paths as flags)
  vipnas-train --flagfile=configs/coco_mbv3_supernet.flags --model_dir=runs/coco_mbv3 \
      --train_ann=/data/coco/annotations/person_keypoints_train2017.json \
      --train_images=/data/coco/train2017 ...

  # fine-tune a searched architecture from the super-network's weights
  vipnas-train --flagfile=configs/quickstart_finetune.flags --model_dir=runs/s_vipnet \
      --arch=runs/search/best_arch.json --init_from=runs/supernet

  # fine-tune the (COCO-trained) S-ViPNet on PoseTrack18 clips' frames (paper Sec. 4.2)
  vipnas-train --flagfile=configs/quickstart_posetrack_finetune.flags \
      --model_dir=runs/s_vipnet_pt --arch=runs/search/best_arch.json --init_from=runs/s_vipnet

  # temporal propagation model (T-ViPNets) over clips
  vipnas-train --flagfile=configs/quickstart_temporal.flags --model_dir=runs/temporal \
      --key_model_dir=runs/s_vipnet_pt

  # two workers (run on each host with its own task index; same flags on all)
  TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}' \
      vipnas-train --strategy=multi_worker --model_dir=/shared/runs/supernet ...

Re-running with the same --model_dir resumes from the last checkpoint; a resume with
changed flags is refused, listing them, unless --allow_changed_flags (see
vipnas_tf/training/run_history.py for the flags that may change). Each launch appends its
resolved flags, time and code version to MODEL_DIR/history.jsonl; MODEL_DIR/flags.txt
holds the latest launch's flags (usable as --flagfile), MODEL_DIR/run_config.json the
current run config.
"""
import json
import os
import sys

from absl import app, flags, logging

from vipnas_tf.arch.cost import parse_input_size
from vipnas_tf.data.synthetic import ensure as ensure_synthetic
from vipnas_tf.data.synthetic import training_paths
from vipnas_tf.cli import resolved_flags
from vipnas_tf.training import TrainConfig, Trainer, run_history
from vipnas_tf.training.strategy import configure_cpu_devices
from vipnas_tf.training.trainer import TrainingDivergedError, WorkerLostError, check_writable
from vipnas_tf.utils.io import write_text

F = flags.FLAGS
flags.DEFINE_string("model_dir", None, "Run directory (checkpoints, metrics.jsonl, tb/).", required=True)
flags.DEFINE_enum("mode", "supernet", ["supernet", "standalone", "temporal"],
                  "supernet: sandwich rule over the space; standalone: one --arch; temporal: T-ViPNets.")
flags.DEFINE_string("space", "mobilenetv3", "Search space (mobilenetv3, resnet50, hrnet_w32).")
flags.DEFINE_string("arch", None, "Stand-alone architecture: preset name, arch string or JSON file.")
flags.DEFINE_string("input_size", "256x192", "HxW input size (multiples of 32).")
flags.DEFINE_integer("batch_size", 32, "Global batch size.")
flags.DEFINE_integer("train_steps", 0, "Optimizer steps (0: --epochs x steps per epoch).")
flags.DEFINE_float("epochs", 250, "Epochs when --train_steps is 0 (paper: 250).")
flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate (paper: 1e-3).")
flags.DEFINE_enum("lr_schedule", "step", ["step", "cosine", "constant"], "Learning-rate schedule.")
flags.DEFINE_list("lr_decay_at", ["0.8", "0.92"], "Step decay points as fractions of training "
                  "(paper: epochs 200 and 230 of 250).")
flags.DEFINE_float("lr_decay_factor", 0.1, "Step decay factor.")
flags.DEFINE_integer("warmup_steps", 0, "Linear warm-up steps.")
flags.DEFINE_integer("num_random", 2, "Random sub-networks per sandwich step (paper: 2).")
flags.DEFINE_bool("distill", True, "In-place distillation from the biggest sub-network.")
flags.DEFINE_integer("distill_start", 0, "Step at which in-place distillation starts (0: from the "
                     "start, the paper's recipe); before it every member learns from the ground truth only.")
flags.DEFINE_integer("random_start", 0, "Step at which the --num_random random members join the "
                     "sandwich (0: from the start, the paper's recipe); before it only the biggest and "
                     "the smallest train.")
flags.DEFINE_enum("kernel_init", "paper", ["paper", "he"], "Kernel initialisation of a fresh run: the "
                  "paper's N(0, 0.001), or He normal (except the heatmap output conv and the fusion "
                  "module), which leaves the mean-pose plateau far sooner on short budgets.")
flags.DEFINE_bool("augment", True, "Training augmentation (rotation, flip, scale, half body; the four flags "
                  "below). Temporal clips: one transform per clip, for all T + 1 frames.")
flags.DEFINE_float("rotation_deg", 40.0, "Random rotation uniform in [-r, r] degrees (paper Sec. 4.2: 40).")
flags.DEFINE_float("rotation_prob", 0.6, "Probability of rotating a sample (the paper states none; 0.6 as mmpose).")
flags.DEFINE_float("flip_prob", 0.5, "Probability of a horizontal flip (paper Sec. 4.2: random flip).")
flags.DEFINE_list("scale_range", ["0.75", "1.25"], "Random box-size factor lo,hi (beyond the paper, which "
                  "states rotation and flip only).")
flags.DEFINE_float("half_body_prob", 0.3, "Probability of a half-body crop (beyond the paper; mmpose's 0.3). "
                   "Clips: the same half on every frame, or none.")
flags.DEFINE_integer("seed", 0, "Seed of data order, augmentation and sampling.")
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker", "tpu"],
                  "tf.distribute strategy (multi_worker reads TF_CONFIG).")
flags.DEFINE_integer("cpu_devices", 0, "Split the CPU into this many logical devices (mirrored on CPU).")
flags.DEFINE_string("tpu", "", "TPU name/address for --strategy=tpu.")
flags.DEFINE_float("communication_timeout", 0, "multi_worker: seconds a collective waits for the other "
                   "workers before this one stops (0: no bound; set it above the chief's validation time).")
flags.DEFINE_enum("mixed_precision", "float32", ["float32", "bfloat16", "float16"], "Compute dtype "
                  "(Keras mixed policy: float32 variables and losses; float16 with dynamic loss scaling).")
flags.DEFINE_bool("jit_compile", False, "Compile the training step with XLA.")
flags.DEFINE_integer("checkpoint_every", 1000, "Steps between checkpoints.")
flags.DEFINE_integer("keep_checkpoints", 3, "Checkpoints kept.")
flags.DEFINE_integer("log_every", 50, "Steps between metrics records.")
flags.DEFINE_integer("eval_every", 0, "Steps between validation AP (0: at the end only, -1: never).")
flags.DEFINE_integer("eval_max_persons", 0, "Validate on about this many persons (0: all).")
flags.DEFINE_integer("bn_calib_batches", 16, "BN re-calibration batches before evaluating a sub-network.")
flags.DEFINE_string("train_ann", "", "Training annotations: a COCO keypoints JSON, or PoseTrack18 (a folder "
                    "of per-video JSONs or one merged file); temporal: PoseTrack18.")
flags.DEFINE_string("train_images", "", "Training image root.")
flags.DEFINE_string("val_ann", "", "Validation annotations.")
flags.DEFINE_string("val_images", "", "Validation image root.")
flags.DEFINE_enum("data_format", "auto", ["auto", "coco", "posetrack"], "Annotation format (auto: told "
                  "apart by the content; the keypoint layout comes from the files' keypoint names).")
flags.DEFINE_enum("synthetic_set", None, ["coco", "posetrack"], "With --synthetic_data: its COCO images or "
                  "its PoseTrack18 clips (default: posetrack for --mode=temporal, else coco).")
flags.DEFINE_string("synthetic_data", "", "Use (and generate if missing) the synthetic data set in this "
                    "folder; fills the four data paths.")
flags.DEFINE_integer("synthetic_images", 600, "Images to generate with --synthetic_data.")
flags.DEFINE_integer("synthetic_clips", 24, "Video clips to generate with --synthetic_data.")
flags.DEFINE_integer("synthetic_frames", 8, "Frames per synthetic clip.")
flags.DEFINE_string("init_from", "", "Initialise weights from this model_dir (e.g. the super-network).")
flags.DEFINE_string("key_model_dir", "", "Temporal: the trained S-ViPNet for key frames.")
flags.DEFINE_integer("num_frames", 3, "Temporal: T non-key frames per clip.")
flags.DEFINE_bool("fusion", True, "Temporal: fuse the previous heatmaps (False: frame-wise ablation).")
flags.DEFINE_bool("progress", True, "Show a progress bar.")
flags.DEFINE_bool("json", False, "Print the run summary as JSON.")
flags.DEFINE_bool("allow_changed_flags", False, "Resume even though flags differ from the previous launch's "
                  "(each change is recorded in MODEL_DIR/history.jsonl).")


def config_from_flags():
    paths = {k: getattr(F, k) for k in ("train_ann", "train_images", "val_ann", "val_images")}
    if F.synthetic_data:
        which = F.synthetic_set or ("posetrack" if F.mode == "temporal" else "coco")
        for key, value in training_paths(F.synthetic_data, which).items():
            paths[key] = paths[key] or value
    return TrainConfig(
        mode=F.mode, space=F.space, arch=F.arch, input_size=parse_input_size(F.input_size),
        batch_size=F.batch_size, train_steps=F.train_steps, epochs=F.epochs,
        learning_rate=F.learning_rate, lr_schedule=F.lr_schedule,
        lr_decay_at=tuple(float(v) for v in F.lr_decay_at), lr_decay_factor=F.lr_decay_factor,
        warmup_steps=F.warmup_steps, num_random=F.num_random, distill=F.distill,
        distill_start=F.distill_start, random_start=F.random_start, seed=F.seed, kernel_init=F.kernel_init,
        strategy=F.strategy, tpu=F.tpu, communication_timeout=F.communication_timeout,
        mixed_precision=F.mixed_precision, jit_compile=F.jit_compile, checkpoint_every=F.checkpoint_every,
        keep_checkpoints=F.keep_checkpoints, log_every=F.log_every, eval_every=F.eval_every,
        eval_max_persons=F.eval_max_persons, bn_calib_batches=F.bn_calib_batches,
        init_from=F.init_from, key_model_dir=F.key_model_dir, num_frames=F.num_frames, fusion=F.fusion,
        augment=F.augment, rotation_deg=F.rotation_deg, rotation_prob=F.rotation_prob, flip_prob=F.flip_prob,
        scale_range=_float_pair("scale_range", F.scale_range), half_body_prob=F.half_body_prob,
        data_format=F.data_format, **paths)


def _float_pair(name, values):
    """A flag 'lo,hi' -> (lo, hi); exits naming the flag otherwise."""
    try:
        pair = tuple(float(v) for v in values)
    except ValueError:
        pair = ()
    if len(pair) != 2:
        sys.exit(f"train.py: --{name} must be two numbers lo,hi, got {','.join(values)!r}")
    return pair


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if F.cpu_devices > 1:
        configure_cpu_devices(F.cpu_devices)
    check_writable(F.model_dir)
    if F.synthetic_data:
        ensure_synthetic(F.synthetic_data, F.synthetic_images, F.synthetic_clips, F.synthetic_frames)
    config = config_from_flags()
    launch = run_history.normalize_flags(resolved_flags(F), run_history.TRAIN_PATH_FLAGS)
    try:
        changed = run_history.check_launch(F.model_dir, "train", launch, F.allow_changed_flags,
                                           run_history.TRAIN_MAY_CHANGE, run_history.TRAIN_IDENTITY)
        trainer = Trainer(config, F.model_dir, progress=F.progress, log_fn=logging.info)
    except (ValueError, PermissionError) as e:
        sys.exit(f"train.py: {e}")
    if trainer.chief:
        run_history.append_launch(F.model_dir, run_history.launch_record(
            "train", launch, sys.argv[1:], sys.argv[0], changed))
        write_text(os.path.join(F.model_dir, "flags.txt"), F.flags_into_string())
    try:
        summary = trainer.train()
    except (WorkerLostError, TrainingDivergedError) as e:
        sys.exit(f"train.py: {e}")
    if F.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        logging.info("done: %s", summary)
