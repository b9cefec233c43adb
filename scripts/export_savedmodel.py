"""Exports a model as a TensorFlow SavedModel with a `serving_default` signature.

  python scripts/export_savedmodel.py --arch=s_vipnas_mbv3 --output=/tmp/sm [--input_size=256x192]
  python scripts/export_savedmodel.py --arch=s_vipnas_mbv3 --model_dir=runs/svipnet --output=/tmp/sm
  python scripts/export_savedmodel.py --schedule=runs/t/schedule.json --output=/tmp/sm_sched

serving_default: image uint8 [N, H, W, 3] RGB crops (and prev_heatmaps float32
[N, H/4, W/4, K] for T-ViPNets) -> heatmaps [N, H/4, W/4, K], keypoints [N, K, 2]
(crop pixels), scores [N, K]; normalisation and decoding are inside
(`vipnas_tf/export/savedmodel.py`). The folder is written atomically.

Without --model_dir the weights are randomly initialised (presets are architectures;
trained weights come from --model_dir: a training run or scripts/import_mmpose.py).
A schedule writes OUTPUT/key and OUTPUT/frame{i}.

Check it with:
  saved_model_cli show --dir /tmp/sm --tag_set serve --signature_def serving_default
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
flags.DEFINE_string("output", None, "Output SavedModel folder.")
flags.DEFINE_string("input_size", None, "HxW, default the run's input size or 256x192.")
flags.DEFINE_string("schedule", None, "schedule.json: export the key model and every frame model.")
flags.DEFINE_string("frame_factory", None, "module:function building frame model i of a schedule "
                    "(fn(schedule, i, (H, W)) -> Keras model); default vipnas_tf.temporal.")
flags.DEFINE_integer("seed", 0, "Seed of the random initialisation.")
flags.DEFINE_bool("json", True, "Print the JSON summary.")


def _export_one(model, out_dir, meta, keypoint_layout=None):
    from vipnas_tf.export.savedmodel import export_savedmodel  # pylint: disable=import-outside-toplevel
    return export_savedmodel(model, out_dir, metadata=meta, keypoint_layout=keypoint_layout)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not FLAGS.output:
        raise app.UsageError("--output is required")
    from vipnas_tf.export import deploy  # pylint: disable=import-outside-toplevel

    t0 = time.time()
    try:
        if FLAGS.schedule:
            schedule = deploy.read_schedule(FLAGS.schedule)
            size = deploy.parse_input_size(FLAGS.input_size or schedule["input_size"])
            key = deploy.load_static_model(schedule["key"]["arch"],
                                           deploy.schedule_path(schedule, schedule["key"].get("model_dir")),
                                           size, FLAGS.seed)
            if FLAGS.frame_factory:
                module, _, fn = FLAGS.frame_factory.partition(":")
                factory = getattr(importlib.import_module(module), fn)
                frame_fn = lambda i: factory(schedule, i, size)  # noqa: E731
            else:
                frame_fn = deploy.temporal_frame_factory(schedule, size, seed=FLAGS.seed)
            exports = {"key": _export_one(key.model, os.path.join(FLAGS.output, "key"),
                                          {"role": "key", "arch": schedule["key"]["arch"],
                                           "weights": key.weights}, schedule.get("keypoint_layout"))}
            for i, frame in enumerate(schedule["frames"]):
                exports[f"frame{i + 1}"] = _export_one(
                    frame_fn(i), os.path.join(FLAGS.output, f"frame{i + 1}"),
                    {"role": f"frame{i + 1}", "arch": frame["arch"], "fusion_op": frame.get("fusion_op"),
                     "fusion_stage": frame.get("fusion_stage")}, schedule.get("keypoint_layout"))
            summary = {"schedule": os.path.abspath(FLAGS.schedule), "exports": exports,
                       "key_weights": key.weights}
        else:
            if not FLAGS.arch and not FLAGS.model_dir:
                raise app.UsageError("give --arch (and/or --model_dir)")
            loaded = deploy.load_static_model(FLAGS.arch, FLAGS.model_dir, FLAGS.input_size, FLAGS.seed)
            arch = loaded.arch.to_string() if loaded.arch else None
            summary = _export_one(loaded.model, FLAGS.output,
                                  {"arch": arch, "input_size": list(loaded.input_size),
                                   "weights": loaded.weights}, loaded.keypoint_layout)
            summary.update(arch=arch, input_size=list(loaded.input_size), weights=loaded.weights,
                           keypoint_layout=loaded.keypoint_layout,
                           random_init=loaded.random_init)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    summary["seconds"] = round(time.time() - t0, 1)
    if FLAGS.json:
        print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    app.run(main)
