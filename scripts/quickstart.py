"""The main job on the embedded synthetic data, resumable step by step.

  python scripts/quickstart.py --out=runs/quickstart

Runs the pipeline's steps in order, each in its own folder under --out; a re-run skips
completed steps. Today: synthetic data generation and the architecture table; the
training, search, temporal, export and benchmark steps join as they land.
"""
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from vipnas_tf.pipeline import steps as steps_lib  # noqa: E402
from vipnas_tf.utils import io as io_utils  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("out", "runs/quickstart", "Run directory.")
flags.DEFINE_integer("images", 600, "Synthetic COCO-format images.")
flags.DEFINE_integer("clips", 24, "Synthetic PoseTrack-format clips.")
flags.DEFINE_integer("frames", 8, "Frames per clip.")
flags.DEFINE_integer("seed", 0, "Seed.")


def main(argv):
    del argv
    try:
        probe = os.path.join(FLAGS.out, ".write_test")
        os.makedirs(FLAGS.out, exist_ok=True)
        io_utils.write_text(probe, "ok")
        os.remove(probe)
    except OSError as e:
        raise app.UsageError(f"--out={FLAGS.out}: cannot write there ({e})")
    summaries = steps_lib.run_steps(
        FLAGS.out,
        [
            steps_lib.synthetic_data_step(FLAGS.images, FLAGS.clips, FLAGS.frames, FLAGS.seed),
            steps_lib.architectures_step(),
        ],
    )
    io_utils.write_json(os.path.join(FLAGS.out, "summary.json"), summaries)
    print(json.dumps(summaries, indent=2))


if __name__ == "__main__":
    app.run(main)
