"""Exports a model as a TensorFlow SavedModel with a `serving_default` signature.

  vipnas-export --arch=s_vipnas_mbv3 --output=/tmp/sm [--input_size=256x192]
  vipnas-export --arch=s_vipnas_mbv3 --model_dir=runs/svipnet --output=/tmp/sm
  vipnas-export --schedule=runs/t/schedule.json --output=/tmp/sm_sched
  vipnas-export --model_dir=runs/svipnet --output=/models/pose --version=1
  vipnas-export --model_dir=runs/svipnet --keras=/tmp/pose.keras

serving_default: image uint8 [N, H, W, 3] RGB crops (and prev_heatmaps float32
[N, H/4, W/4, K] for T-ViPNets) -> heatmaps [N, H/4, W/4, K], keypoints [N, K, 2]
(crop pixels), scores [N, K]; normalisation and decoding are inside
(`vipnas_tf/export/savedmodel.py`). The folder is written atomically.

Without --model_dir the weights are randomly initialised (presets are architectures;
trained weights come from --model_dir: a training run or scripts/import_mmpose.py).
A schedule writes OUTPUT/key and OUTPUT/frame{i}.

--version=N writes TF Serving's layout, OUTPUT/N/ (saved_model.pb, variables/, assets/;
a schedule: OUTPUT/key/N/ and OUTPUT/frame{i}/N/), and refuses to replace an existing
version unless --overwrite. Serve it with
  tensorflow_model_server --model_name=pose --model_base_path=/models/pose --rest_api_port=8501

--keras=PATH.keras writes the static model itself (float input normalised with the
ImageNet mean/std, BN layers kept) as a Keras 3 file: after `import vipnas_tf`,
`keras.saving.load_model(PATH)` returns a model to `compile` and `fit` (docs/model_directory.md).
Give --output, --keras or both.

Check it with:
  saved_model_cli show --dir /tmp/sm --tag_set serve --signature_def serving_default
"""
import json
import sys

from absl import app, flags

from vipnas_tf.cli.history import record_beside
from vipnas_tf.export.savedmodel_request import SavedModelRequest, run_savedmodel_export

FLAGS = flags.FLAGS
flags.DEFINE_string("arch", None, "Preset name, arch JSON file or compact arch string.")
flags.DEFINE_string("model_dir", None, "Training model directory (run_config.json + ckpt/).")
flags.DEFINE_string("output", None, "Output SavedModel folder (with --version: TF Serving's model base path).")
flags.DEFINE_string("input_size", None, "HxW, default the run's input size or 256x192.")
flags.DEFINE_string("schedule", None, "schedule.json: export the key model and every frame model.")
flags.DEFINE_string("frame_factory", None, "module:function building frame model i of a schedule "
                    "(fn(schedule, i, (H, W)) -> Keras model); default vipnas_tf.temporal.")
flags.DEFINE_integer("seed", 0, "Seed of the random initialisation.")
flags.DEFINE_integer("version", None, "Write the SavedModel to OUTPUT/VERSION/ (TF Serving layout; a positive integer).")
flags.DEFINE_bool("overwrite", False, "Replace an existing OUTPUT/VERSION/ or --keras file.")
flags.DEFINE_string("keras", None, "Also (or only) write the static model as this .keras file.")
flags.DEFINE_bool("json", True, "Print the JSON summary.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not FLAGS.output and not FLAGS.keras:
        raise app.UsageError("give --output (SavedModel folder) and/or --keras (PATH.keras)")
    if not FLAGS.schedule and not FLAGS.arch and not FLAGS.model_dir:
        raise app.UsageError("give --arch (and/or --model_dir)")
    request = SavedModelRequest(output=FLAGS.output, arch=FLAGS.arch, model_dir=FLAGS.model_dir,
                                input_size=FLAGS.input_size, schedule=FLAGS.schedule,
                                frame_factory=FLAGS.frame_factory, seed=FLAGS.seed, version=FLAGS.version,
                                overwrite=FLAGS.overwrite, keras=FLAGS.keras)
    try:
        summary = run_savedmodel_export(request)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    # OUTPUT/flags.json; with --version inside OUTPUT/N/, so that the serving base path
    # holds version folders only; a .keras file alone: PATH.keras.flags.json
    record_beside(summary.get("path") or FLAGS.output or FLAGS.keras, "export", FLAGS)
    if FLAGS.json:
        print(json.dumps(summary, indent=1))
    return 0
