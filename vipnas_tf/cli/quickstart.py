"""The main job on the embedded synthetic data, resumable step by step.

  vipnas-quickstart --out=runs/quickstart        # or: python scripts/quickstart.py --out=...
  vipnas-quickstart --out=/tmp/qs --stop_after=supernet --images=40 --supernet_steps=2
      # the first steps only (here: the data and a 2-step super-network)

Steps (each in its own folder under --out; a re-run skips completed steps and says
what it resumes): synthetic data -> sandwich-trained super-network -> S-ViPNet search
under a GFLOPs budget -> fine-tune on COCO images -> fine-tune on the PoseTrack18 clips'
frames (COCO -> PoseTrack18 keypoint layout) -> T-ViPNet propagation model -> T = 3 video
schedule -> SavedModel + TFLite (float32, int8) -> benchmark (schedule vs S-ViPNet vs
baseline, one run) -> PoseTrack mAP of schedule vs per-frame S-ViPNet -> video
inference over a synthetic val clip and the sample video (person detector) with
overlays -> report.md and a self-contained report.html.

summary.json holds each step's summary, the step times and, under "headline", the
numbers the report opens with (vipnas_tf/pipeline/headline.py): untrained / biggest /
smallest super-network AP, the S-ViPNet's GFLOPs and budget, the Pareto candidates
with AP >= half the best, the schedule's GFLOPs per non-key frame, schedule vs
S-ViPNet mAP, and FPS at the training size and at 256x192.
"""
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from vipnas_tf.cli.history import record_launch  # noqa: E402
from vipnas_tf.pipeline import headline as headline_lib  # noqa: E402
from vipnas_tf.pipeline import quickstart as qs  # noqa: E402
from vipnas_tf.pipeline import steps as steps_lib  # noqa: E402
from vipnas_tf.training.run_history import RunHistoryError  # noqa: E402
from vipnas_tf.utils import io as io_utils  # noqa: E402


FLAGS = flags.FLAGS
_DEFAULTS = qs.QuickstartSettings()  # one source of the defaults: the library's settings
flags.DEFINE_string("out", "runs/quickstart", "Run directory.")
flags.DEFINE_integer("images", _DEFAULTS.images, "Synthetic COCO-format images.")
flags.DEFINE_integer("clips", _DEFAULTS.clips, "Synthetic PoseTrack-format clips.")
flags.DEFINE_integer("frames", _DEFAULTS.frames, "Frames per clip.")
flags.DEFINE_integer("seed", _DEFAULTS.seed, "Seed.")
flags.DEFINE_integer("supernet_steps", _DEFAULTS.supernet_steps, "Super-network training steps.")
flags.DEFINE_integer("finetune_steps", _DEFAULTS.finetune_steps, "S-ViPNet fine-tuning steps.")
flags.DEFINE_integer("posetrack_finetune_steps", _DEFAULTS.posetrack_finetune_steps, "S-ViPNet fine-tuning steps on the PoseTrack18 clips.")
flags.DEFINE_integer("temporal_steps", _DEFAULTS.temporal_steps, "Temporal training steps.")
flags.DEFINE_string("video", None, "Video for the inference step (default: the shared sample video when "
                    "$VIPNAS_SHARED_DATA or a checkout's ../shared/data has it; else a synthetic clip only).")
flags.DEFINE_string("stop_after", None, "Run the steps up to and including this one, then stop (no headline or "
                    "report); a later run without it resumes with the next step.")


def main(argv):
    del argv

    try:
        probe = os.path.join(FLAGS.out, ".write_test")
        os.makedirs(FLAGS.out, exist_ok=True)
        io_utils.write_text(probe, "ok")
        os.remove(probe)
    except OSError as e:
        raise app.UsageError(f"--out={FLAGS.out}: cannot write there ({e})")
    settings = qs.QuickstartSettings(images=FLAGS.images, clips=FLAGS.clips, frames=FLAGS.frames, seed=FLAGS.seed,
                                     supernet_steps=FLAGS.supernet_steps, finetune_steps=FLAGS.finetune_steps,
                                     posetrack_finetune_steps=FLAGS.posetrack_finetune_steps,
                                     temporal_steps=FLAGS.temporal_steps)
    if FLAGS.video is not None:
        settings.video = FLAGS.video
    steps = qs.build_steps(FLAGS.out, settings)
    names = [step.name for step in steps]
    if FLAGS.stop_after is not None and FLAGS.stop_after not in names:
        raise app.UsageError(f"--stop_after={FLAGS.stop_after!r}: not a step; steps: {', '.join(names)}")
    try:
        record_launch(FLAGS.out, "quickstart", FLAGS, path_flags=("out", "video"))  # OUT/history.jsonl
    except RunHistoryError as e:
        raise app.UsageError(str(e))
    if FLAGS.stop_after is not None:
        steps = steps[:names.index(FLAGS.stop_after) + 1]
    summaries = steps_lib.run_steps(FLAGS.out, steps)
    times = {name: s.get("seconds") for name, s in summaries.items()}
    if FLAGS.stop_after is not None:
        io_utils.write_json(os.path.join(FLAGS.out, "summary.json"),
                            {"stopped_after": FLAGS.stop_after, "step_seconds": times, "steps": summaries})
        print(json.dumps({"out": FLAGS.out, "stopped_after": FLAGS.stop_after, "step_seconds": times}, indent=2))
        return
    head = headline_lib.headline(steps_lib.step_folders(FLAGS.out, steps), settings)
    io_utils.write_json(os.path.join(FLAGS.out, "summary.json"),
                        {"headline": head, "step_seconds": times, "steps": summaries})
    print(json.dumps({"out": FLAGS.out, "step_seconds": times, "headline": head,
                      "report": os.path.join(FLAGS.out, "report.md"),
                      "html": os.path.join(FLAGS.out, "report.html")}, indent=2))


if __name__ == "__main__":
    app.run(main)
