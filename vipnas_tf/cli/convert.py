"""Converts a model (or a video schedule) to deployment-ready TFLite.

The static model is lowered first (`vipnas_tf.export.lowering.lower_model`: BN
folding incl. the head BNs, ReLU fusion, grouped convs as depthwise / dense /
native grouped CONV_2D, <= 25-tap depthwise bands, int8-friendly hard-swish for int8
and QAT), then converted with TFLite builtins only. A JSON summary is printed (and saved beside
the model): path, size, quantization, where the weights came from, and parity against the un-lowered
float Keras model (max abs heatmap difference, argmax agreement, mean keypoint error
in crop pixels) on validation crops (--data) or random inputs.

  vipnas-convert --arch=s_vipnas_mbv3 --quantization=float32 --output=/tmp/m.tflite
  vipnas-convert --arch=s_vipnas_mbv3 --quantization=int8 --output=/tmp/m8.tflite \\
      --data=/tmp/synth/coco/annotations/person_keypoints_val.json \\
      --image_root=/tmp/synth/coco/images
  vipnas-convert --arch=s_vipnas_mbv3 --model_dir=runs/svipnet --quantization=qat \\
      --output=/tmp/mq.tflite --data=... --image_root=... --qat_steps=300
  vipnas-convert --schedule=runs/t/schedule.json --quantization=float32 --output=/tmp/sched
  vipnas-convert --model_dir=runs/imported --quantization=float32 --input=uint8 \
      --decode --output=/tmp/app.tflite

--input=uint8 folds the normalisation into the model: it takes a uint8 RGB crop 0-255
(in int8 the image input is then the uint8 pixels themselves, scale 1, zero point 0).
Every model has the `serving_default` signature (inputs `image`, `prev_heatmaps` for a
T-ViPNet; outputs `heatmaps`, and `keypoints`, `scores` with --decode) and carries its
metadata (input size, colour order, normalisation, keypoint names, flip pairs, skeleton,
heatmap stride, crop rule, architecture, provenance) in the file and as `m.json` beside
`m.tflite`; the summary is also saved as `m.summary.json` (docs/tflite.md).

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
fn(schedule, frame_index, (H, W)) -> two-input Keras model, `schedule` a
`vipnas_tf.temporal.Schedule`), by default from `vipnas_tf.temporal`.
"""
import json
import sys

from absl import app, flags

from vipnas_tf.cli.history import record_beside
from vipnas_tf.export.convert_request import ConvertRequest, run_convert
from vipnas_tf.export.tflite_export import UnsupportedOpError

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
flags.DEFINE_enum("input", "float32", ["float32", "uint8"],
                  "Image input: float32 normalised crops, or uint8 RGB crops 0-255 (normalisation "
                  "folded into the model).")
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


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not FLAGS.quantization or not FLAGS.output:
        raise app.UsageError("--quantization and --output are required")
    if not FLAGS.schedule and not FLAGS.arch and not FLAGS.model_dir:
        raise app.UsageError("give --arch (and/or --model_dir)")
    request = ConvertRequest(
        quantization=FLAGS.quantization, output=FLAGS.output, arch=FLAGS.arch, model_dir=FLAGS.model_dir,
        input_size=FLAGS.input_size, data=FLAGS.data, image_root=FLAGS.image_root, eval_data=FLAGS.eval_data,
        eval_image_root=FLAGS.eval_image_root, eval_crops=FLAGS.eval_crops,
        calibration_samples=FLAGS.calibration_samples, qat_steps=FLAGS.qat_steps,
        qat_learning_rate=FLAGS.qat_learning_rate, qat_batch_size=FLAGS.qat_batch_size,
        qat_batches=FLAGS.qat_batches, qat_target=FLAGS.qat_target, decode=FLAGS.decode, lower=FLAGS.lower,
        schedule=FLAGS.schedule, frame_factory=FLAGS.frame_factory, seed=FLAGS.seed, progress=not FLAGS.json,
        input_dtype=FLAGS.input)
    try:
        summary = run_convert(request, log=_log)
    except UnsupportedOpError as e:
        return _fail(str(e))
    except (ValueError, FileNotFoundError) as e:
        return _fail(str(e))
    except Exception as e:  # tf.errors.OpError from the input pipeline: keep its message
        if type(e).__module__.startswith("tensorflow") and hasattr(e, "message"):
            return _fail(e.message.strip().splitlines()[-1][:2000])
        raise
    record_beside(FLAGS.output, "convert", FLAGS)  # OUTPUT.flags.json (DIR/flags.json for a schedule)
    print(json.dumps(summary, indent=1))
    return 0
