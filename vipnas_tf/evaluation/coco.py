"""COCO keypoint evaluation of a plain `predict_fn` (no model code here).

Build a `CocoEvaluator` once (it reads the ground truth and cuts all person crops),
then call `evaluate(predict_fn)` as often as needed - search scores hundreds of
sub-networks on the same small val set this way. `evaluate_coco` is the one-shot form.
"""
import numpy as np

from vipnas_tf.codecs.dataset_info import require_same_layout
from vipnas_tf.codecs.heatmap import HeatmapCodec
from vipnas_tf.data.coco import load_coco
from vipnas_tf.data.samples import SampleSet
from vipnas_tf.evaluation.topdown import load_eval_crops, predict_keypoints
from vipnas_tf.metrics.coco_eval import (
    coco_keypoint_eval,
    load_coco_gt,
    make_keypoint_results,
    oks_nms,
    write_coco_results,
)


class CocoEvaluator:
    """Scores predict functions on a COCO-format val set (OKS AP through pycocotools).

    Args:
      ann_file: COCO keypoints ground truth (path), or a pycocotools COCO.
      image_root: folder of the images (ignored when `samples` is given).
      input_size: (H, W) the predict functions take.
      samples: optional SampleSet to crop (default: `load_coco(ann_file, image_root,
        detections)`), e.g. a subset for quick evaluation.
      detections: optional detection results file: evaluate on detected boxes.
      min_det_score: drop detections below this score.
      nms_threshold: OKS-NMS threshold applied per image when boxes come from a
        detector (None disables; ground-truth boxes are never suppressed).
      codec: HeatmapCodec (default: input/4, sigma 2).
      padding: box padding.
      image_ids: evaluate on these images only (default: every ground-truth image); use
        it with a `samples` subset, e.g. `CocoEvaluator.subset`.
      keypoint_layout: the layout of the models to be scored ("coco", "posetrack18");
        when given, a val set of another layout is refused (LayoutMismatchError).
      model_source: what the models come from, for that error (e.g. their model_dir).

    Example:
      >>> ev = CocoEvaluator("coco/annotations/person_keypoints_val.json", "coco/images/val",
      ...                    input_size=(128, 96))
      >>> ev.evaluate(lambda x: model(x, training=False))["AP"]
    """

    def __init__(self, ann_file, image_root=None, input_size=(256, 192), samples=None,
                 detections=None, min_det_score=0.0, nms_threshold=0.9, codec=None,
                 padding=1.25, image_ids=None, keypoint_layout=None, model_source="the model"):
        self.input_size = tuple(input_size)
        self.codec = codec or HeatmapCodec(self.input_size)
        self.coco_gt = ann_file if hasattr(ann_file, "loadRes") else load_coco_gt(ann_file)
        if samples is None:
            if image_root is None:
                raise ValueError("CocoEvaluator needs image_root (or samples)")
            samples = load_coco(ann_file, image_root, detections=detections,
                                min_det_score=min_det_score)
        self.samples = samples
        if keypoint_layout is not None:
            require_same_layout(keypoint_layout, model_source, samples.info.name,
                                f"the evaluation set {samples.source or ann_file}", what="evaluate")
        self.image_ids = None if image_ids is None else sorted(int(i) for i in image_ids)
        self.from_detections = bool(len(samples)) and bool((samples.ann_ids < 0).all())
        self.nms_threshold = nms_threshold if self.from_detections else None
        self.crops, self.centers, self.scales = load_eval_crops(samples, self.input_size, padding)

    @classmethod
    def subset(cls, ann_file, image_root, max_persons, input_size=(256, 192), **kwargs):
        """An evaluator on the first images of a val set holding about `max_persons`
        persons (whole images, so that AP stays comparable to the full set's)."""
        samples = load_coco(ann_file, image_root)
        if max_persons and len(samples) > max_persons:
            order = []
            for image_id in samples.image_ids:
                if image_id not in order:
                    order.append(image_id)
            keep, count = set(), 0
            counts = {i: int((samples.image_ids == i).sum()) for i in order}
            for image_id in order:
                if count >= max_persons:
                    break
                keep.add(image_id)
                count += counts[image_id]
            samples = samples.select(np.isin(samples.image_ids, sorted(keep)))
            kwargs["image_ids"] = sorted(keep)
        return cls(ann_file, samples=samples, input_size=input_size, **kwargs)

    def predict(self, predict_fn, flip_test=False, batch_size=64):
        """Image-pixel keypoints [N, K, 2] and scores [N, K] for all rows."""
        return predict_keypoints(predict_fn, self.crops, self.centers, self.scales, self.codec,
                                 batch_size, flip_test, self.samples.info.flip_pairs)

    def results(self, keypoints, scores):
        """Standard COCO keypoint results (rescored, OKS-NMS'd for detections)."""
        s = self.samples
        keep = np.arange(len(s))
        if self.nms_threshold is not None and len(s):
            areas = s.bboxes[:, 2] * s.bboxes[:, 3]
            quality = np.array([sc[sc > 0.2].mean() if (sc > 0.2).any() else 0.0 for sc in scores])
            pose_scores = s.bbox_scores * quality
            kept = []
            for image_id in np.unique(s.image_ids):
                rows = np.flatnonzero(s.image_ids == image_id)
                order = oks_nms(keypoints[rows], pose_scores[rows], areas[rows],
                                s.info.sigmas, self.nms_threshold)
                kept.extend(rows[order])
            keep = np.sort(np.asarray(kept, np.int64))
        return make_keypoint_results(s.image_ids[keep], keypoints[keep], scores[keep],
                                     s.bbox_scores[keep])

    def evaluate(self, predict_fn, flip_test=False, batch_size=64, results_file=None):
        """AP/AR of `predict_fn` on the val set.

        Args:
          predict_fn: images float32 [n, H, W, 3] (ImageNet-normalised RGB) ->
            heatmaps [n, h, w, K], numpy or tf.
          flip_test: also predict on flipped crops and average.
          batch_size: persons per call.
          results_file: optionally write the COCO results JSON there (atomically).

        Returns:
          dict with AP, AP50, AP75, APm, APl, AR, AR50, AR75, ARm, ARl (0..1) and
          num_results.
        """
        keypoints, scores = self.predict(predict_fn, flip_test, batch_size)
        return self.score(keypoints, scores, results_file)

    def score(self, keypoints, scores, results_file=None):
        """Scores given image-pixel keypoints [N, K, 2] / scores [N, K] of all rows."""
        results = self.results(keypoints, scores)
        if results_file:
            write_coco_results(results_file, results)
        sigmas = None if self.samples.info.num_keypoints == 17 else self.samples.info.sigmas
        image_ids = self.image_ids or sorted(set(self.coco_gt.getImgIds()))
        return coco_keypoint_eval(self.coco_gt, results, sigmas=sigmas, image_ids=image_ids)


def evaluate_coco(predict_fn, samples_or_ann_file, image_root=None, input_size=(256, 192),
                  ann_file=None, flip_test=False, results_file=None, batch_size=64, **kwargs):
    """One-shot COCO evaluation (builds a CocoEvaluator; reuse that for repeated calls).

    Args:
      predict_fn: images float32 [n, H, W, 3] -> heatmaps [n, h, w, K].
      samples_or_ann_file: a SampleSet (then `ann_file` is its ground truth) or the
        ground-truth file itself.
      image_root: image folder (when a file is given).
      input_size: (H, W).
      ann_file: ground truth for a SampleSet (default: `samples.source`).
      flip_test, results_file, batch_size: as in `CocoEvaluator.evaluate`.
      **kwargs: more CocoEvaluator arguments (detections, nms_threshold, ...).
    """
    if isinstance(samples_or_ann_file, SampleSet):
        gt = ann_file or samples_or_ann_file.source
        ev = CocoEvaluator(gt, image_root, input_size, samples=samples_or_ann_file, **kwargs)
    else:
        ev = CocoEvaluator(samples_or_ann_file, image_root, input_size, **kwargs)
    return ev.evaluate(predict_fn, flip_test, batch_size, results_file)
