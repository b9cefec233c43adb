"""Writes the synthetic COCO image set and PoseTrack18 video set (the default data).

  python scripts/make_synthetic.py --out=DIR [--images=N --clips=M --frames=F --seed=S]

writes DIR/coco/ and DIR/posetrack/ and prints a JSON summary (counts, seconds).
"""
import json

from absl import app, flags

from vipnas_tf.data.synthetic import generate

FLAGS = flags.FLAGS
flags.DEFINE_string("out", None, "Output folder.", required=True)
flags.DEFINE_integer("images", 2000, "COCO-format images (train + val).")
flags.DEFINE_integer("clips", 100, "PoseTrack-format videos (train + val).")
flags.DEFINE_integer("frames", 8, "Frames per video.")
flags.DEFINE_integer("seed", 0, "Seed; same flags give identical files.")
flags.DEFINE_float("val_fraction", 0.1, "Share of images / videos in the val split.")
flags.DEFINE_integer("workers", 0, "Worker processes (0: one per CPU).")
flags.DEFINE_bool("progress", True, "Show progress bars (on stderr).")


def main(argv):
    del argv

    summary = generate(FLAGS.out, images=FLAGS.images, clips=FLAGS.clips, frames=FLAGS.frames,
                       seed=FLAGS.seed, val_fraction=FLAGS.val_fraction,
                       workers=FLAGS.workers or None, progress=FLAGS.progress)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    app.run(main)
