"""Imports an mmpose top-down heatmap checkpoint (.pth) as a vipnas-tf model directory.

  python scripts/import_mmpose.py --checkpoint=vipnas_mbv3_coco_256x192-7018731a_20211122.pth \\
      --arch=s_vipnas_mbv3 --output=runs/mmpose_vipnas_mbv3 --json

--arch is the network the checkpoint holds: s_vipnas_mbv3 (mmpose ViPNAS_MobileNetV3 +
ViPNASHead), s_vipnas_res50 (ViPNAS_ResNet + ViPNASHead) or sbl_res50 (SimpleBaseline:
ResNet-50 + HeatmapHead). mmpose 1.x (`backbone.*`, `head.*`) and 0.x
(`keypoint_head.*`) keys are read, with or without the "state_dict" wrapper. Every
tensor is checked (missing, unexpected, shape); on any error nothing is written.

The model directory (mode "static": run_config.json + ckpt/, input 256x192, COCO
keypoints, the checkpoint's name and sha256) is what --model_dir takes, e.g.

  python tflite/convert.py --model_dir=runs/mmpose_vipnas_mbv3 --quantization=float32 --output=m.tflite
  python scripts/export_savedmodel.py --model_dir=runs/mmpose_vipnas_mbv3 --output=runs/sm

Needs PyTorch to read the file: pip install "vipnas-tf[torch]".
"""
import json
import sys
import time

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("checkpoint", None, "mmpose checkpoint (.pth).")
flags.DEFINE_enum("arch", None, ["s_vipnas_mbv3", "s_vipnas_res50", "sbl_res50"],
                  "The network the checkpoint holds.")
flags.DEFINE_string("output", None, "Model directory to create (must not exist, or be empty).")
flags.DEFINE_bool("json", False, "Print the JSON summary instead of one line.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    for name in ("checkpoint", "arch", "output"):
        if not getattr(FLAGS, name):
            raise app.UsageError(f"--{name} is required")
    from vipnas_tf.interop import mmpose  # pylint: disable=import-outside-toplevel  (TF start-up after flag checks)

    t0 = time.time()
    try:
        summary = mmpose.import_checkpoint(FLAGS.checkpoint, FLAGS.arch, FLAGS.output)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    summary["seconds"] = round(time.time() - t0, 1)
    print(json.dumps(summary, indent=1) if FLAGS.json else mmpose.import_summary_line(summary))
    return 0


if __name__ == "__main__":
    app.run(main)
