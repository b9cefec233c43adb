"""Scores a results file against a ground truth and prints the metric table.

  python scripts/evaluate.py --metric=coco --gt=person_keypoints_val.json --results=res.json --json
  python scripts/evaluate.py --metric=posetrack --gt=annotations/val --results=results/ --json

COCO results: the standard keypoint results list (image_id, category_id, keypoints,
score); a ground-truth-format file (a dict with "annotations") is also accepted and
scored with score 1 per person. Prints AP, AP50, ... (0..1). PoseTrack results: files in the ground truth's own
format (per-annotation keypoints, optional per-joint scores), one file or a folder of
per-video files; prints Head, Shoulder, Elbow, Wrist, Hip, Knee, Ankle, Total (percent).

Keypoint layouts: results whose producer is named (--model_dir, --schedule or
--keypoint_layout), or whose files carry keypoint names, must have the ground truth's
layout ("coco" or "posetrack18"); otherwise the script refuses, naming both.
"""
import json
import sys

from absl import app, flags

from vipnas_tf.evaluation.layouts import check_result_layouts
from vipnas_tf.metrics.coco_eval import coco_keypoint_eval, load_coco_gt, results_from_ground_truth
from vipnas_tf.metrics.posetrack_eval import load_posetrack_gt, load_posetrack_predictions, posetrack_map
from vipnas_tf.temporal.schedule import Schedule
from vipnas_tf.utils.io import read_json

FLAGS = flags.FLAGS
flags.DEFINE_enum("metric", None, ["coco", "posetrack"], "Which metric.", required=True)
flags.DEFINE_string("gt", None, "Ground-truth annotation file (or folder for posetrack).",
                    required=True)
flags.DEFINE_string("results", None, "Results file (or folder for posetrack).", required=True)
flags.DEFINE_string("model_dir", None, "Optional: the model directory that produced the results "
                    "(its keypoint layout must be the ground truth's).")
flags.DEFINE_string("schedule", None, "Optional: the schedule.json that produced the results.")
flags.DEFINE_enum("keypoint_layout", None, ["coco", "posetrack18"], "Optional: the results' keypoint layout.")
flags.DEFINE_bool("json", False, "Print the table as JSON.")


def producers():
    """(layout, where) of what the flags say produced the results."""
    out = []
    if FLAGS.model_dir:
        # here, not at the top: scoring a results file does not start TensorFlow
        from vipnas_tf.training.model_dir import keypoint_layout_of_run  # pylint: disable=import-outside-toplevel

        out.append((keypoint_layout_of_run(FLAGS.model_dir), f"model_dir {FLAGS.model_dir}"))
    if FLAGS.schedule:
        out.append((Schedule.load(FLAGS.schedule).check_model_layouts(), f"the schedule {FLAGS.schedule}"))
    if FLAGS.keypoint_layout:
        out.append((FLAGS.keypoint_layout, f"--keypoint_layout={FLAGS.keypoint_layout}"))
    return out


def main(argv):
    del argv
    check_result_layouts(FLAGS.metric, FLAGS.gt, FLAGS.results, producers())
    if FLAGS.metric == "coco":
        gt = load_coco_gt(FLAGS.gt)
        results = read_json(FLAGS.results)
        if isinstance(results, dict) and "annotations" in results:
            results = results_from_ground_truth(results)
        table = coco_keypoint_eval(gt, results, name=FLAGS.results)
    else:
        gt = load_posetrack_gt(FLAGS.gt)
        table = posetrack_map(gt, load_posetrack_predictions(FLAGS.results, gt))
    if FLAGS.json:
        print(json.dumps(table, indent=2))
    else:
        for key, value in table.items():
            if not isinstance(value, dict):
                print(f"{key:>14s}  {value:.4f}" if isinstance(value, float) else f"{key:>14s}  {value}")


if __name__ == "__main__":
    try:
        app.run(main)
    except (ValueError, FileNotFoundError) as e:
        print(f"evaluate.py: error: {e}", file=sys.stderr)
        sys.exit(2)
