"""PoseTrack evaluation of clip models (key frame + T propagated frames).

Val clips are consecutive, non-overlapping windows of T + 1 frames of one track
(`PoseTrackData.clips(T + 1, step=T + 1)`), cut around each frame's ground-truth box
like the training clips. A clip predict function gets the clips and every frame's crop
affine (to warp the previous heatmaps into the current crop,
`vipnas_tf.temporal.warp`, as in training and in the video runner) and returns the
heatmaps of the T non-key frames; they are decoded, mapped back to image pixels and
scored with the PoseTrack metric: pooled over the non-key frames ("Total": the frames
whose persons all sit on non-key clip frames, with all their persons), and per frame
position t = 1..T ("frame_map", the AP^t of paper eq. 3: the persons at position t of
their clips, each frame's ground truth cut to them). Frame-wise predict
functions (an S-ViPNet, a T-ViPNet run without fusion) are scored on the same rows
through `evaluate_framewise`, so the two are directly comparable.
"""
import dataclasses

import numpy as np

from vipnas_tf.codecs.affine import get_affine_matrix, keypoints_crop_to_image
from vipnas_tf.codecs.dataset_info import require_same_layout
from vipnas_tf.data.transforms import normalize_images_np
from vipnas_tf.evaluation.posetrack import PoseTrackEvaluator
from vipnas_tf.evaluation.topdown import predict_heatmaps
from vipnas_tf.metrics.posetrack_eval import FramePoses, posetrack_map, predictions_from_annotations


def _np(x):
    return x.numpy() if hasattr(x, "numpy") else np.asarray(x)


class ClipEvaluator:
    """Scores clip models on the non-key frames of val clips.

    Args:
      ann_path, image_root: the PoseTrack18-format val set.
      input_size: (H, W).
      num_frames: T (non-key frames per clip); clips have T + 1 frames.
      max_clips: use at most this many clips (0: all).
      base: an existing PoseTrackEvaluator of the same set (shares its crops).
      keypoint_layout: the layout of the clip models ("coco", "posetrack18"); when
        given, a val set of another layout is refused (LayoutMismatchError).
      model_source: what the models come from, for that error (a model_dir, a schedule).
    """

    def __init__(self, ann_path, image_root, input_size, num_frames, max_clips=0, base=None,
                 keypoint_layout=None, model_source="the model"):
        if num_frames < 1:
            raise ValueError(f"num_frames (T) must be >= 1, got {num_frames}")
        self.base = base or PoseTrackEvaluator(ann_path, image_root, input_size)
        if keypoint_layout is not None:
            require_same_layout(keypoint_layout, model_source, self.base.keypoint_layout,
                                f"the evaluation set {ann_path}", what="evaluate")
        self.num_frames = int(num_frames)
        clips = self.base.data.clips(num_frames + 1, step=num_frames + 1)
        rows = clips.indices
        if max_clips and len(rows) > max_clips:
            rows = rows[:max_clips]
        if len(rows) == 0:
            raise ValueError(f"{ann_path}: no track has {num_frames + 1} consecutive annotated frames")
        self.clip_rows = rows  # [C, T + 1] sample rows
        # The crop affine of every sample row (the plain box, as the crops were cut).
        self.crop_matrices = np.stack([get_affine_matrix(c, s, 0.0, self.base.codec.input_size)
                                       for c, s in zip(self.base.centers, self.base.scales)]).astype(np.float32)
        self.nonkey_rows = rows[:, 1:].reshape(-1)
        # Frames scored: those whose every labelled person is a non-key row (so a
        # person of a key frame or of a track too short for a clip is never a miss).
        image_ids = self.base.samples.image_ids
        chosen = set(self.nonkey_rows.tolist())
        self.image_ids = sorted(
            i for i in set(image_ids[self.nonkey_rows].tolist())
            if set(np.flatnonzero(image_ids == i).tolist()) <= chosen)
        if not self.image_ids:
            raise ValueError(f"{ann_path}: no frame has all its persons on non-key clip frames")
        # Per frame position t (1..T): the persons at position t of their clips, each
        # frame's ground truth cut to those persons (they are predicted from their
        # ground-truth boxes, as the paper evaluates). Tracks starting on different
        # frames of a video put one frame's persons at different positions (or on a
        # key frame), so position t scores every frame it has a person on.
        self.nonkey_positions = np.tile(np.arange(self.num_frames), len(rows))  # of nonkey_rows
        gt = self.base.gt
        self.position_gt = []
        for t in range(1, self.num_frames + 1):
            at_t = self.base.samples.ann_ids[rows[:, t]]
            frames, ann_ids = {}, {}
            for i in sorted(set(image_ids[rows[:, t]].tolist()) & set(gt.frames)):
                g, keep = gt.frames[i], np.isin(gt.ann_ids[i], at_t)
                frames[i] = FramePoses(g.keypoints[keep], g.present[keep], None, g.head_size[keep])
                ann_ids[i] = gt.ann_ids[i][keep]
            self.position_gt.append(dataclasses.replace(gt, frames=frames, ann_ids=ann_ids))

    @property
    def num_clips(self):
        return len(self.clip_rows)

    def clip_images(self, start, stop):
        """Normalised clips [n, T + 1, H, W, 3] float32 of clips start..stop."""
        crops = self.base.crops[self.clip_rows[start:stop]]
        return normalize_images_np(crops)

    def clip_matrices(self, start, stop):
        """Crop affines [n, T + 1, 2, 3] float32 (image -> crop pixels) of clips start..stop."""
        return self.crop_matrices[self.clip_rows[start:stop]]

    def score_heatmaps(self, heatmaps, rows=None):
        """Scores fixed heatmaps of the non-key rows, as `evaluate` scores a model's.

        Args:
          heatmaps: float32 [len(rows), h, w, K], one per sample row of `rows`, in order.
          rows: the sample rows they belong to (default `nonkey_rows`, the rows
            `evaluate` and `evaluate_framewise` predict).

        Returns:
          The dict of `evaluate`.
        """
        rows = self.nonkey_rows if rows is None else np.asarray(rows)
        heatmaps = np.asarray(heatmaps)
        if heatmaps.ndim != 4 or len(heatmaps) != len(rows):
            raise ValueError(f"heatmaps: expected [{len(rows)}, h, w, K] (one per row), got shape {heatmaps.shape}")
        codec = self.base.codec
        kp_crop, scores = codec.decode(heatmaps)
        kps = keypoints_crop_to_image(kp_crop, self.base.centers[rows], self.base.scales[rows], codec.input_size)
        anns = self.base.annotations(kps, scores, rows)
        preds = predictions_from_annotations(anns, self.base.gt.keypoint_names)
        out = posetrack_map(self.base.gt, preds, image_ids=self.image_ids)
        out["num_scored_frames"] = len(self.image_ids)
        positions = []
        for t, gt_t in enumerate(self.position_gt):
            anns_t = [a for a, p in zip(anns, self.nonkey_positions) if p == t]
            preds_t = predictions_from_annotations(anns_t, self.base.gt.keypoint_names)
            positions.append(posetrack_map(gt_t, preds_t) if gt_t.frames else None)
        out["frame_map"] = [p["Total"] if p else float("nan") for p in positions]
        out["frame_num_scored_frames"] = [len(gt_t.frames) for gt_t in self.position_gt]
        return out

    def evaluate(self, clip_predict_fn, batch_size=8):
        """PoseTrack mAP (percent) on the non-key frames.

        Args:
          clip_predict_fn: (clips float32 [n, T + 1, H, W, 3], crop matrices float32
            [n, T + 1, 2, 3]) -> non-key heatmaps [n, T, h, w, K]
            (`vipnas_tf.temporal.propagation.propagate_clips` with the frames' networks).

        Returns:
          `posetrack_map`'s dict over all non-key frames ("Total" the pooled mAP,
          groups, per joint) plus "num_scored_frames", "frame_map" (T floats: the mAP
          of each frame position t = 1..T, NaN where no frame is scored at t) and
          "frame_num_scored_frames" (T ints).
        """
        out = []
        for start in range(0, self.num_clips, batch_size):
            stop = start + batch_size
            heat = _np(clip_predict_fn(self.clip_images(start, stop), self.clip_matrices(start, stop)))
            heat = heat.astype(np.float32)
            if heat.shape[1] != self.num_frames:
                raise ValueError(f"clip_predict_fn returned {heat.shape[1]} frames, expected T={self.num_frames}")
            out.append(heat.reshape((-1,) + heat.shape[2:]))
        return self.score_heatmaps(np.concatenate(out))

    def evaluate_framewise(self, predict_fn, batch_size=32):
        """The same non-key rows scored with a single-frame model
        (images [n, H, W, 3] -> heatmaps)."""
        heat = predict_heatmaps(predict_fn, self.base.crops[self.nonkey_rows], batch_size)
        return self.score_heatmaps(heat)
