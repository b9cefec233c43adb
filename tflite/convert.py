"""Converts a model (or a video schedule) to deployment-ready TFLite.

The static model is lowered first (`vipnas_tf.export.lowered_model.lower_model`: BN
folding incl. the head BNs, ReLU fusion, grouped convs as depthwise / dense /
native grouped CONV_2D, <= 25-tap depthwise bands, int8-friendly hard-swish for int8
and QAT), then converted with TFLite builtins only. A JSON summary is printed: path,
size, quantization, where the weights came from, and parity against the un-lowered
float Keras model (max abs heatmap difference, argmax agreement, mean keypoint error
in crop pixels) on validation crops (--data) or random inputs.

  python tflite/convert.py --arch=s_vipnas_mbv3 --quantization=float32 --output=/tmp/m.tflite
  python tflite/convert.py --arch=s_vipnas_mbv3 --quantization=int8 --output=/tmp/m8.tflite \\
      --data=/tmp/synth/coco/annotations/person_keypoints_val.json \\
      --image_root=/tmp/synth/coco/images
  python tflite/convert.py --arch=s_vipnas_mbv3 --model_dir=runs/svipnet --quantization=qat \\
      --output=/tmp/mq.tflite --data=... --image_root=... --qat_steps=300
  python tflite/convert.py --schedule=runs/t/schedule.json --quantization=float32 --output=/tmp/sched

Without --model_dir the weights are randomly initialised (presets are architectures;
trained weights come from --model_dir: a training run or mmpose's published checkpoints
imported by scripts/import_mmpose.py): fine for speed, meaningless for accuracy.

int8 calibrates on --calibration_samples augmented crops from the training-mode input
pipeline over --data; QAT fine-tunes (--qat_steps) on such crops with the float model's
own heatmaps as targets (--qat_target=teacher) or the labels. Without --data both are
refused with an explanation. The parity / keypoint error is measured on the first
--eval_crops validation-mode crops of --eval_data (default --data).

Schedule mode writes DIR/key.tflite, DIR/frame{i}.tflite and DIR/manifest.json (the
`tflite/benchmark.py --schedule_dir` format). Frame models (T-ViPNets: image crop +
previous heatmaps) come from --frame_factory=module:function (called as
fn(schedule_dict, frame_index, (H, W)) -> two-input Keras model), by default from
`vipnas_tf.temporal`.
"""
import importlib
import json
import os
import sys
import time

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("arch", None, "Preset name, arch JSON file or compact arch string.")
flags.DEFINE_string("model_dir", None, "Training model directory (run_config.json + ckpt/).")
flags.DEFINE_enum("quantization", None, ["float32", "float16", "dynamic", "int8", "qat"],
                  "Quantization mode.")
flags.DEFINE_string("output", None, "Output .tflite path (a folder with --schedule).")
flags.DEFINE_string("input_size", None, "HxW, default the run's input size or 256x192.")
flags.DEFINE_string("data", None, "COCO keypoints JSON for calibration / QAT / evaluation crops.")
flags.DEFINE_string("image_root", None, "Image folder of --data.")
flags.DEFINE_string("eval_data", None, "COCO keypoints JSON for the parity crops (default --data).")
flags.DEFINE_string("eval_image_root", None, "Image folder of --eval_data (default --image_root).")
flags.DEFINE_integer("eval_crops", 32, "Validation crops for the parity / keypoint-error report.")
flags.DEFINE_integer("calibration_samples", 200, "int8: representative crops.", lower_bound=1)
flags.DEFINE_integer("qat_steps", 200, "QAT: fine-tune steps.", lower_bound=1)
flags.DEFINE_float("qat_learning_rate", 5e-5, "QAT: Adam learning rate.")
flags.DEFINE_integer("qat_batch_size", 8, "QAT: crops per step.", lower_bound=1)
flags.DEFINE_integer("qat_batches", 25, "QAT: distinct batches drawn from the pipeline (cycled).",
                     lower_bound=1)
flags.DEFINE_enum("qat_target", "teacher", ["teacher", "labels"],
                  "QAT targets: the float model's heatmaps (teacher) or the ground truth.")
flags.DEFINE_bool("decode", False, "Also output keypoints [1,K,2] and scores [1,K] (codec decode).")
flags.DEFINE_bool("lower", True, "Apply the deployment lowering (keep on; off only for comparisons).")
flags.DEFINE_bool("json", False, "Print only the JSON summary on stdout.")
flags.DEFINE_string("schedule", None, "schedule.json: convert a video schedule to --output DIR.")
flags.DEFINE_string("frame_factory", None, "module:function building frame model i of a schedule.")
flags.DEFINE_integer("seed", 0, "Seed of random initialisation and data order.")


def _log(msg):
    if not FLAGS.json:
        print(msg, file=sys.stderr, flush=True)


def _fail(msg, code=2):
    print(f"error: {msg}", file=sys.stderr)
    return code


def _data(size):
    """(calibration/QAT training-mode dataset, eval crops or None)."""
    from vipnas_tf.export import deploy  # pylint: disable=import-outside-toplevel

    train_ds = eval_images = None
    if FLAGS.data:
        if not FLAGS.image_root:
            raise ValueError("--data needs --image_root (the folder its file_names are relative to)")
        train_ds = deploy.coco_dataset(FLAGS.data, FLAGS.image_root, size,
                                       batch_size=FLAGS.qat_batch_size, training=True, seed=FLAGS.seed)
    eval_ann = FLAGS.eval_data or FLAGS.data
    if eval_ann:
        root = FLAGS.eval_image_root or FLAGS.image_root
        eval_images = deploy.take_images(deploy.coco_dataset(eval_ann, root, size, batch_size=8),
                                         FLAGS.eval_crops)
    return train_ds, eval_images


def _qat_batches(train_ds, teacher):
    """QAT batches: (images, targets) with targets from the teacher or the labels."""
    from vipnas_tf.export import deploy  # pylint: disable=import-outside-toplevel

    batches = []
    for batch in train_ds.take(FLAGS.qat_batches):
        images = batch["image"].numpy()
        target = (batch["heatmaps"].numpy() if FLAGS.qat_target == "labels"
                  else deploy.predict_keras(teacher, [images]))
        batches.append((images, target))
    return batches


def _frame_factory(schedule, size):
    if FLAGS.frame_factory:
        module, _, fn = FLAGS.frame_factory.partition(":")
        factory = getattr(importlib.import_module(module), fn)
        return lambda i: factory(schedule, i, size)
    from vipnas_tf.export import deploy  # pylint: disable=import-outside-toplevel
    return deploy.temporal_frame_factory(schedule, size, seed=FLAGS.seed)


def _convert_single(mode):
    from vipnas_tf.export import deploy  # pylint: disable=import-outside-toplevel

    if not FLAGS.arch and not FLAGS.model_dir:
        raise app.UsageError("give --arch (and/or --model_dir)")
    if mode in ("int8", "qat") and not FLAGS.data:
        return _fail(deploy.INT8_NEEDS_DATA.format(
            mode="int8 quantization" if mode == "int8" else "QAT"))
    t0 = time.time()
    if FLAGS.model_dir:
        loaded = deploy.load_static_model(FLAGS.arch, FLAGS.model_dir, FLAGS.input_size, FLAGS.seed)
        train_ds, eval_images = _data(loaded.input_size)
    else:
        # Random initialisation: BN statistics from real crops when there are any.
        size = deploy.parse_input_size(FLAGS.input_size or (256, 192))
        train_ds, eval_images = _data(size)
        bn_images = deploy.take_images(train_ds, 8) if train_ds is not None else None
        loaded = deploy.load_static_model(FLAGS.arch, None, size, FLAGS.seed,
                                          calibration_images=bn_images)
    _log(f"model: {loaded.arch.to_string() if loaded.arch else loaded.model.name} at "
         f"{loaded.input_size[0]}x{loaded.input_size[1]}; {loaded.weights}")
    kwargs = {}
    if mode == "int8":
        kwargs["calibration_inputs"] = [deploy.take_images(train_ds, FLAGS.calibration_samples)]
    elif mode == "qat":
        kwargs["qat_batches"] = _qat_batches(train_ds, loaded.model)
        kwargs["qat"] = deploy.QatOptions(FLAGS.qat_steps, FLAGS.qat_learning_rate, FLAGS.qat_target)
    if eval_images is not None:
        kwargs["eval_inputs"] = [eval_images]
    _, summary = deploy.convert(loaded.model, mode, FLAGS.output, decode=FLAGS.decode,
                                lower=FLAGS.lower, num_calibration_samples=FLAGS.calibration_samples,
                                keypoint_layout=loaded.keypoint_layout, **kwargs)
    cost = None
    if loaded.arch is not None:
        from vipnas_tf.arch import arch_cost  # pylint: disable=import-outside-toplevel
        c = arch_cost(loaded.arch, loaded.input_size)
        cost = {"macs": int(c.macs), "paper_gflops": round(float(c.paper_gflops), 4), "params": int(c.params)}
    out = {"path": summary.pop("path"), "size_bytes": summary.pop("size_bytes"),
           "quantization": mode, "arch": loaded.arch.to_string() if loaded.arch else None,
           "input_size": list(loaded.input_size), "weights": loaded.weights,
           "random_init": loaded.random_init, "model_dir": FLAGS.model_dir, "cost": cost,
           **summary, "seconds": round(time.time() - t0, 1)}
    print(json.dumps(out, indent=1))
    return 0


def _convert_schedule(mode):
    from vipnas_tf.export import deploy  # pylint: disable=import-outside-toplevel

    if mode in ("int8", "qat") and not FLAGS.data:
        return _fail(deploy.INT8_NEEDS_DATA.format(
            mode="int8 quantization" if mode == "int8" else "QAT"))
    t0 = time.time()
    schedule = deploy.read_schedule(FLAGS.schedule)
    size = deploy.parse_input_size(FLAGS.input_size or schedule["input_size"])
    key = deploy.load_static_model(schedule["key"]["arch"],
                                   deploy.schedule_path(schedule, schedule["key"].get("model_dir")),
                                   size, FLAGS.seed)
    _log(f"key model: {schedule['key']['arch']}; {key.weights}")
    factory = _frame_factory(schedule, size)
    train_ds, eval_images = _data(size)
    data = None
    if mode == "int8":
        data = deploy.take_images(train_ds, FLAGS.calibration_samples)
    elif mode == "qat":
        data = deploy.take_images(train_ds, FLAGS.qat_batches * FLAGS.qat_batch_size)
    result = deploy.convert_schedule(
        schedule, key.model, factory, FLAGS.output, mode,
        calibration_images=data if mode == "int8" else None,
        qat_images=data if mode == "qat" else None,
        qat=deploy.QatOptions(FLAGS.qat_steps, FLAGS.qat_learning_rate, FLAGS.qat_target),
        eval_images=eval_images, decode=FLAGS.decode, progress=not FLAGS.json)
    result.update(quantization=mode, schedule=os.path.abspath(FLAGS.schedule),
                  key_weights=key.weights, random_init_key=key.random_init,
                  seconds=round(time.time() - t0, 1))
    print(json.dumps(result, indent=1))
    return 0


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not FLAGS.quantization or not FLAGS.output:
        raise app.UsageError("--quantization and --output are required")
    from vipnas_tf.export.tflite_export import UnsupportedOpError  # pylint: disable=import-outside-toplevel
    try:
        if FLAGS.schedule:
            return _convert_schedule(FLAGS.quantization)
        return _convert_single(FLAGS.quantization)
    except UnsupportedOpError as e:
        return _fail(str(e))
    except (ValueError, FileNotFoundError) as e:
        return _fail(str(e))
    except Exception as e:  # tf.errors.OpError from the input pipeline: keep its message
        if type(e).__module__.startswith("tensorflow") and hasattr(e, "message"):
            return _fail(e.message.strip().splitlines()[-1][:2000])
        raise


if __name__ == "__main__":
    app.run(main)
