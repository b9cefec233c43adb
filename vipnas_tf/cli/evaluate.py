"""Runs a model over a COCO or PoseTrack18 val set and scores it, or scores a results file.

Run a model (the top-down test protocol of the paper and mmpose, docs/evaluation.md):

  vipnas-evaluate --model_dir=DIR --ann=person_keypoints_val2017.json --images=val2017 \\
      --detections=COCO_val2017_detections_AP_H_56_person.json --flip_test --output=results.json --json
  vipnas-evaluate --metric=posetrack --schedule=OUT/schedule.json --ann=PT18/annotations/val \\
      --images=PT18 --output=results/ --json

Without --detections the ground-truth boxes are used (PoseTrack18 always uses them).
The COCO results file (or the per-video PoseTrack18 files) is written atomically, then
AP, AP50, AP75, APm, APl, AR, ... (COCO, 0..1 from pycocotools) or Head ... Ankle, Total
(PoseTrack, percent) are printed, with the counted skips (images without a box, boxes
outside their image, images that cannot be decoded).

Score an existing results file (--results; --model_dir / --schedule / --keypoint_layout
then only name what produced it):

  vipnas-evaluate --metric=coco --gt=person_keypoints_val.json --results=res.json --json
  vipnas-evaluate --metric=posetrack --gt=annotations/val --results=results/ --json

COCO results: the standard keypoint results list (image_id, category_id, keypoints,
score); a ground-truth-format file (a dict with "annotations") is also accepted and
scored with score 1 per person. PoseTrack results: files in the ground truth's own
format (per-annotation keypoints, optional per-joint scores), one file or a folder of
per-video files.

Keypoint layouts: results whose producer is named (--model_dir, --schedule or
--keypoint_layout), or whose files carry keypoint names, must have the ground truth's
layout ("coco" or "posetrack18"); otherwise the script refuses, naming both.
"""
import json
import sys

from absl import flags

from vipnas_tf.evaluation.layouts import check_result_layouts
from vipnas_tf.evaluation.protocol import EvaluationConfig, run_evaluation
from vipnas_tf.metrics.coco_eval import coco_keypoint_eval, load_coco_gt, results_from_ground_truth
from vipnas_tf.metrics.posetrack_eval import load_posetrack_gt, load_posetrack_predictions, posetrack_map
from vipnas_tf.temporal.schedule import Schedule
from vipnas_tf.utils.io import read_json

FLAGS = flags.FLAGS
flags.DEFINE_enum("metric", "coco", ["coco", "posetrack"], "Which metric (and ground-truth format).")
flags.DEFINE_string("gt", None, "Ground-truth annotation file (or folder for posetrack).")
flags.DEFINE_alias("ann", "gt")
flags.DEFINE_string("results", None, "Score this results file (or folder for posetrack) instead of "
                    "running a model.")
flags.DEFINE_string("model_dir", None, "The model directory to run (with --results: the one that "
                    "produced them; its keypoint layout must be the ground truth's).")
flags.DEFINE_string("schedule", None, "The schedule.json to run over PoseTrack18 tracks (with --results: "
                    "the one that produced them).")
flags.DEFINE_string("arch", None, "Sub-network to extract from a super-network model_dir without an 'arch'.")
flags.DEFINE_string("input_size", None, "HxW to run at (default: the model's).")
flags.DEFINE_enum("keypoint_layout", None, ["coco", "posetrack18"], "Optional: the results' keypoint layout.")
flags.DEFINE_string("images", None, "Folder the ground truth's file_names are relative to.")
flags.DEFINE_string("detections", None, "COCO person detection results (image_id, bbox, score); "
                    "default: the ground-truth boxes.")
flags.DEFINE_string("output", None, "Where to write the results: a COCO results file, a PoseTrack18 "
                    "file or a folder of per-video files (as --ann).")
flags.DEFINE_bool("flip_test", False, "Average with the prediction on the mirrored crop.")
flags.DEFINE_bool("shift_heatmap", True, "Shift the flipped-back heatmaps one pixel (mmpose).")
flags.DEFINE_float("bbox_thr", 0.0, "Drop detections scoring below this (mmpose det_bbox_thr).")
flags.DEFINE_float("nms_thr", 0.9, "OKS-NMS threshold per image (mmpose oks_thr; 1.0 keeps all).")
flags.DEFINE_float("kpt_score_thr", 0.2, "Keypoint score threshold of the rescoring (mmpose vis_thr).")
flags.DEFINE_float("padding", 1.25, "Box padding.")
flags.DEFINE_integer("batch_size", 32, "Persons per model call.")
flags.DEFINE_bool("progress", True, "Progress bars on stderr.")
flags.DEFINE_bool("json", False, "Print the table as JSON.")


def producers():
    """(layout, where) of what the flags say produced the results."""
    out = []
    if FLAGS.model_dir:
        # here, not at the top: scoring a results file does not start TensorFlow (seconds per call)
        from vipnas_tf.training.model_dir import keypoint_layout_of_run  # pylint: disable=import-outside-toplevel

        out.append((keypoint_layout_of_run(FLAGS.model_dir), f"model_dir {FLAGS.model_dir}"))
    if FLAGS.schedule:
        out.append((Schedule.load(FLAGS.schedule).check_model_layouts(), f"the schedule {FLAGS.schedule}"))
    if FLAGS.keypoint_layout:
        out.append((FLAGS.keypoint_layout, f"--keypoint_layout={FLAGS.keypoint_layout}"))
    return out


def score_results():
    check_result_layouts(FLAGS.metric, FLAGS.gt, FLAGS.results, producers())
    if FLAGS.metric == "coco":
        gt = load_coco_gt(FLAGS.gt)
        results = read_json(FLAGS.results)
        if isinstance(results, dict) and "annotations" in results:
            results = results_from_ground_truth(results)
        return coco_keypoint_eval(gt, results, name=FLAGS.results)
    gt = load_posetrack_gt(FLAGS.gt)
    return posetrack_map(gt, load_posetrack_predictions(FLAGS.results, gt))


def run_model():
    if bool(FLAGS.model_dir) == bool(FLAGS.schedule):
        raise ValueError("give --results to score a results file, or exactly one of --model_dir and "
                         "--schedule to run")
    for name in ("images", "output"):
        if not FLAGS[name].value:
            raise ValueError(f"--{name} is required to run {FLAGS.model_dir or FLAGS.schedule}")
    config = EvaluationConfig(
        ann=FLAGS.gt, images=FLAGS.images, output=FLAGS.output, metric=FLAGS.metric,
        detections=FLAGS.detections, flip_test=FLAGS.flip_test, shift_heatmap=FLAGS.shift_heatmap,
        bbox_thr=FLAGS.bbox_thr, nms_thr=FLAGS.nms_thr, kpt_score_thr=FLAGS.kpt_score_thr,
        padding=FLAGS.padding, batch_size=FLAGS.batch_size, progress=FLAGS.progress)
    # here, not at the top: scoring a results file does not start TensorFlow (seconds per call)
    from vipnas_tf.runtime.predictors import (  # pylint: disable=import-outside-toplevel
        predictor_of_model_dir, predictor_of_schedule)

    if FLAGS.model_dir:
        predictor = predictor_of_model_dir(FLAGS.model_dir, FLAGS.arch, FLAGS.input_size)
    else:
        predictor = predictor_of_schedule(FLAGS.schedule, FLAGS.input_size)
    return run_evaluation(config, predictor)


def main(argv):
    try:
        return _main(argv)
    except (ValueError, FileNotFoundError) as e:
        print(f"vipnas-evaluate: error: {e}", file=sys.stderr)
        return 2


def _main(argv):
    del argv
    if not FLAGS.gt:
        raise ValueError("--ann (or --gt) is required: the ground-truth annotation file or folder")
    table = score_results() if FLAGS.results else run_model()
    if FLAGS.json:
        print(json.dumps(table, indent=2))
        return
    for key, value in table.items():
        if isinstance(value, float):
            print(f"{key:>14s}  {value:.4f}")
        elif isinstance(value, int) or key == "output":
            print(f"{key:>14s}  {value}")
    for kind, count in table.get("skipped", {}).items():
        print(f"{'skipped':>14s}  {count} x {kind}")
