"""Scores a results file against a ground truth and prints the metric table.

  python scripts/evaluate.py --metric=coco --gt=person_keypoints_val.json --results=res.json --json
  python scripts/evaluate.py --metric=posetrack --gt=annotations/val --results=results/ --json

COCO results: the standard keypoint results list (image_id, category_id, keypoints,
score); a ground-truth-format file (a dict with "annotations") is also accepted and
scored with score 1 per person. Prints AP, AP50, ... (0..1). PoseTrack results: files in the ground truth's own
format (per-annotation keypoints, optional per-joint scores), one file or a folder of
per-video files; prints Head, Shoulder, Elbow, Wrist, Hip, Knee, Ankle, Total (percent).
"""
import json
import sys

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_enum("metric", None, ["coco", "posetrack"], "Which metric.", required=True)
flags.DEFINE_string("gt", None, "Ground-truth annotation file (or folder for posetrack).",
                    required=True)
flags.DEFINE_string("results", None, "Results file (or folder for posetrack).", required=True)
flags.DEFINE_bool("json", False, "Print the table as JSON.")


def main(argv):
    del argv
    if FLAGS.metric == "coco":
        from vipnas_tf.metrics.coco_eval import (
            coco_keypoint_eval,
            load_coco_gt,
            results_from_ground_truth,
        )
        from vipnas_tf.utils.io import read_json

        gt = load_coco_gt(FLAGS.gt)
        results = read_json(FLAGS.results)
        if isinstance(results, dict) and "annotations" in results:
            results = results_from_ground_truth(results)
        table = coco_keypoint_eval(gt, results, name=FLAGS.results)
    else:
        from vipnas_tf.metrics.posetrack_eval import (
            load_posetrack_gt,
            load_posetrack_predictions,
            posetrack_map,
        )

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
