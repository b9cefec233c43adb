"""PoseTrack per-frame evaluation of a plain `predict_fn` (ground-truth boxes, as the
paper evaluates), writing results in the ground truth's own per-video format.

Build a `PoseTrackEvaluator` once and call `evaluate(predict_fn)` repeatedly; video
and temporal code that produces its own keypoints calls `score(...)` instead.
"""
import numpy as np

from vipnas_tf.codecs.dataset_info import require_same_layout
from vipnas_tf.codecs.heatmap import HeatmapCodec
from vipnas_tf.data.posetrack import PoseTrackData
from vipnas_tf.evaluation.occlusion import occluded_joint_pckh
from vipnas_tf.evaluation.topdown import load_eval_crops, predict_keypoints
from vipnas_tf.metrics.posetrack_eval import (
    load_posetrack_gt,
    posetrack_map,
    predictions_from_annotations,
    write_posetrack_results,
)


class PoseTrackEvaluator:
    """Scores predict functions on a PoseTrack18-format val set (mAP, percent).

    Args:
      ann_path: a merged annotation file or a folder of per-video files.
      image_root: the folder the frames' `file_name`s are relative to.
      input_size: (H, W) the predict functions take.
      codec: HeatmapCodec (default: input/4, sigma 2).
      padding: box padding.
      data: an already loaded PoseTrackData of `ann_path` (optional).
      keypoint_layout: the layout of the models to be scored ("coco", "posetrack18");
        when given, a val set of another layout is refused (LayoutMismatchError).
      model_source: what the models come from, for that error (e.g. their model_dir).
      unreadable: None (a frame that cannot be read is an error) or a list that
        collects the paths of frames that cannot be read (their crops stay black).
      progress: show a progress bar while the frames are read.

    Attributes:
      data: the PoseTrackData; samples: its person rows (one crop each).

    Example:
      >>> ev = PoseTrackEvaluator("posetrack/annotations/val", "posetrack", (128, 96))
      >>> ev.evaluate(predict_fn)["Total"]
    """

    def __init__(self, ann_path, image_root, input_size=(256, 192), codec=None, padding=1.25,
                 data=None, keypoint_layout=None, model_source="the model", unreadable=None,
                 progress=False):
        self.input_size = tuple(input_size)
        self.codec = codec or HeatmapCodec(self.input_size)
        self.data = data or PoseTrackData(ann_path, image_root)
        self.keypoint_layout = self.data.info.name
        if keypoint_layout is not None:
            require_same_layout(keypoint_layout, model_source, self.keypoint_layout,
                                f"the evaluation set {ann_path}", what="evaluate")
        self.gt = load_posetrack_gt(ann_path)
        self.samples = self.data.samples
        self.crops, self.centers, self.scales = load_eval_crops(self.samples, self.input_size, padding,
                                                                unreadable=unreadable, progress=progress)

    def predict(self, predict_fn, flip_test=False, batch_size=64):
        """Image-pixel keypoints [N, K, 2] and scores [N, K] for all sample rows."""
        return predict_keypoints(predict_fn, self.crops, self.centers, self.scales, self.codec,
                                 batch_size, flip_test, self.samples.info.flip_pairs)

    def annotations(self, keypoints, scores, rows=None):
        """Results-format annotations (ground-truth format) for sample rows."""
        s = self.samples
        rows = np.arange(len(s)) if rows is None else np.asarray(rows)
        anns = []
        for i, r in enumerate(rows):
            kp = np.concatenate([keypoints[i], np.ones((len(keypoints[i]), 1))], axis=1)
            anns.append({
                "id": int(s.ann_ids[r]), "image_id": int(s.image_ids[r]),
                "track_id": int(s.track_ids[r]), "category_id": 1,
                "bbox": [round(float(v), 2) for v in s.bboxes[r]],
                "keypoints": [round(float(v), 2) for v in kp.ravel()],
                "scores": [round(float(v), 4) for v in scores[i]],
            })
        return anns

    def evaluate(self, predict_fn, flip_test=False, batch_size=64, results_path=None):
        """PoseTrack mAP of `predict_fn` with ground-truth boxes.

        Args:
          predict_fn: images float32 [n, H, W, 3] -> heatmaps [n, h, w, K].
          flip_test: also predict on flipped crops and average.
          batch_size: persons per call.
          results_path: optionally write results there: a folder of per-video files
            when the ground truth is a folder, else one file.

        Returns:
          dict with Head, Shoulder, Elbow, Wrist, Hip, Knee, Ankle, Total (percent),
          per_joint, and - when the annotations mark occluded joints (synthetic data) -
          occluded_PCKh / visible_PCKh (percent) and their joint counts.
        """
        keypoints, scores = self.predict(predict_fn, flip_test, batch_size)
        return self.score(keypoints, scores, results_path=results_path)

    def score(self, keypoints, scores, rows=None, results_path=None):
        """Scores image-pixel keypoints [M, K, 2] / scores [M, K] of sample `rows`.

        Frames whose persons are not among `rows` count as having no predictions.
        """
        rows = np.arange(len(self.samples)) if rows is None else np.asarray(rows)
        anns = self.annotations(keypoints, scores, rows)
        if results_path:
            write_posetrack_results(results_path, self.gt, anns)
        preds = predictions_from_annotations(anns, self.gt.keypoint_names)
        out = posetrack_map(self.gt, preds)
        if self.samples.occluded[rows].any():
            out.update(occluded_joint_pckh(self.data, rows, keypoints))
        return out


def evaluate_posetrack(predict_fn, ann_path, image_root, input_size=(256, 192), flip_test=False,
                       results_path=None, batch_size=64, **kwargs):
    """One-shot PoseTrack evaluation (builds a PoseTrackEvaluator; reuse that instead
    for repeated calls). Arguments as in `PoseTrackEvaluator` / `evaluate`."""
    ev = PoseTrackEvaluator(ann_path, image_root, input_size, **kwargs)
    return ev.evaluate(predict_fn, flip_test, batch_size, results_path)
