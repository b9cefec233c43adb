r"""What validation AP would a perfect network reach at this input size?

Encodes each val person's ground-truth keypoints into the training target heatmaps
(the codec the networks learn: input/4 heatmaps, Gaussian sigma), decodes them with the
evaluation decoder, maps them back to the image and scores them with pycocotools, on
the same val subset the training run evaluates. The heatmap grid, not the network,
limits that AP: it is the ceiling of any network at that input size, and the scale
against which a trained network's AP reads.

  python research/ap_ceiling.py --data=runs/quickstart/01_synthetic_data/coco \
      --input_size=64x64 --eval_persons=60

With `--posetrack` (a PoseTrack18-format folder with annotations/val, e.g. a synthetic
data set's posetrack/) it also prints, for each T of `--frames`, the PoseTrack mAP the
temporal studies report (pooled over the non-key frames of the val clips of T + 1
frames, `ClipEvaluator`) of two fixed predictions:
  - the ceiling: the decoded ground-truth target heatmaps of every scored person;
  - the mean-pose plateau: one heatmap for every person, the mean of the val persons'
    target heatmaps (each joint where it sits on average in a person crop), which is
    what a network on the mean-pose plateau outputs.

  python research/ap_ceiling.py --data=runs/quickstart/01_synthetic_data/coco \
      --posetrack=runs/quickstart/01_synthetic_data/posetrack --input_size=64x64 --frames=2,3,4
"""
import json
import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FLAGS = flags.FLAGS
flags.DEFINE_string("data", None, "COCO-format folder with annotations/person_keypoints_val.json and "
                    "images/val (e.g. a synthetic data set's coco/).", required=True)
flags.DEFINE_list("input_size", ["64x64"], "HxW input sizes.")
flags.DEFINE_float("sigma", 2.0, "Heatmap Gaussian sigma (heatmap pixels).")
flags.DEFINE_integer("eval_persons", 0, "Validation subset size (persons; 0 = all), as train.py's "
                     "--eval_max_persons.")
flags.DEFINE_string("posetrack", "", "Optional PoseTrack18-format folder with annotations/val (e.g. a synthetic "
                    "data set's posetrack/): also the PoseTrack mAP ceiling and mean-pose level on the non-key "
                    "frames of its val clips.")
flags.DEFINE_list("frames", ["3"], "With --posetrack: the T values (clips of T + 1 frames) to score.")


def target_heatmaps(evaluator, codec):
    """The training target heatmaps [N, h, w, K] of every person row of `evaluator`
    (a CocoEvaluator or PoseTrackEvaluator: its samples and crop centers / scales)."""
    from vipnas_tf.codecs.affine import get_affine_matrix, affine_transform_points  # pylint: disable=import-outside-toplevel
    import numpy as np  # pylint: disable=import-outside-toplevel

    s = evaluator.samples
    heatmaps = []
    for i in range(len(s)):
        matrix = get_affine_matrix(evaluator.centers[i], evaluator.scales[i], 0.0, codec.input_size)
        hm, _ = codec.encode(affine_transform_points(s.keypoints[i], matrix), s.visible[i])
        heatmaps.append(hm)
    return np.stack(heatmaps)


def ceiling(evaluator, codec):
    """AP of the decoded ground-truth target heatmaps of every evaluated person."""
    from vipnas_tf.codecs.affine import keypoints_crop_to_image  # pylint: disable=import-outside-toplevel

    kp_crop, scores = codec.decode(target_heatmaps(evaluator, codec))
    keypoints = keypoints_crop_to_image(kp_crop, evaluator.centers, evaluator.scales, codec.input_size)
    return evaluator.score(keypoints, scores)


def posetrack_levels(clip_evaluator):
    """{"mAP_ceiling", "mAP_mean_pose"} (percent) on the non-key frames of `clip_evaluator`
    (a ClipEvaluator): its decoded ground-truth target heatmaps, and the mean pose."""
    import numpy as np  # pylint: disable=import-outside-toplevel

    base, rows = clip_evaluator.base, clip_evaluator.nonkey_rows
    heat = target_heatmaps(base, base.codec)
    mean_pose = np.broadcast_to(heat.mean(axis=0, keepdims=True), (len(rows),) + heat.shape[1:])
    return {"mAP_ceiling": round(float(clip_evaluator.score_heatmaps(heat[rows])["Total"]), 2),
            "mAP_mean_pose": round(float(clip_evaluator.score_heatmaps(np.ascontiguousarray(mean_pose))["Total"]), 2)}


def main(argv):
    del argv
    from vipnas_tf.arch.cost import parse_input_size  # pylint: disable=import-outside-toplevel
    from vipnas_tf.codecs.heatmap import HeatmapCodec  # pylint: disable=import-outside-toplevel
    from vipnas_tf.evaluation.clips import ClipEvaluator  # pylint: disable=import-outside-toplevel
    from vipnas_tf.evaluation.coco import CocoEvaluator  # pylint: disable=import-outside-toplevel
    from vipnas_tf.evaluation.posetrack import PoseTrackEvaluator  # pylint: disable=import-outside-toplevel

    ann = os.path.join(FLAGS.data, "annotations", "person_keypoints_val.json")
    images = os.path.join(FLAGS.data, "images", "val")
    for text in FLAGS.input_size:
        size = parse_input_size(text)
        codec = HeatmapCodec(size, sigma=FLAGS.sigma)
        ev = CocoEvaluator.subset(ann, images, FLAGS.eval_persons, input_size=size, codec=codec)
        stats = ceiling(ev, codec)
        print(json.dumps({"input_size": text, "heatmap_size": "x".join(map(str, codec.heatmap_size)),
                          "persons": len(ev.samples), "AP_ceiling": round(stats["AP"], 4),
                          "AP50": round(stats["AP50"], 4), "AR": round(stats["AR"], 4)}), flush=True)
        if FLAGS.posetrack:
            ann = os.path.join(FLAGS.posetrack, "annotations", "val")
            base = PoseTrackEvaluator(ann, FLAGS.posetrack, size, codec=codec)
            for t in (int(v) for v in FLAGS.frames):
                clip_ev = ClipEvaluator(ann, FLAGS.posetrack, size, t, base=base)
                print(json.dumps({"input_size": text, "posetrack": ann, "T": t, "clips": clip_ev.num_clips,
                                  "scored_frames": len(clip_ev.image_ids), **posetrack_levels(clip_ev)}),
                      flush=True)


if __name__ == "__main__":
    app.run(main)
