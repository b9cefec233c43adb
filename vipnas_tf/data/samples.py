"""Columnar person instances and clips: what the readers produce and the pipeline eats.

A `SampleSet` holds one row per person crop (a ground-truth person or a detection) as
numpy columns, so that the tf.data pipeline passes only row indices through the graph
and selecting subsets is cheap. A `ClipSet` is a `SampleSet` of frames plus an index
array [M, T+1] of rows forming consecutive frames of one person track.
"""
import dataclasses
from typing import Optional

import numpy as np

from vipnas_tf.codecs.affine import bbox_xywh_to_center_scale
from vipnas_tf.codecs.dataset_info import DatasetInfo


@dataclasses.dataclass
class SampleSet:
    """Person instances as columns (N rows, K keypoints).

    Attributes:
      image_paths: [N] str, absolute or root-relative path of each row's image.
      image_ids: int64 [N].
      ann_ids: int64 [N], annotation id, -1 for detections.
      track_ids: int64 [N], PoseTrack track id, -1 when unknown.
      bboxes: float32 [N, 4] person box (x, y, w, h) in image pixels.
      bbox_scores: float32 [N], 1 for ground-truth boxes.
      keypoints: float32 [N, K, 2] in image pixels (0 where unlabelled).
      visible: float32 [N, K], the annotation's visibility flag (0 = unlabelled).
      info: the DatasetInfo giving the meaning of each slot.
      areas: float32 [N], the annotation's area (COCO OKS scale), box area otherwise.
      occluded: float32 [N, K], 1 where the joint is hidden behind something
        (known only for synthetic data; zeros otherwise).
      image_sizes: int32 [N, 2] (H, W) of each image, 0 when unknown.
      source: the annotation file the rows came from (for error messages).
    """

    image_paths: np.ndarray
    image_ids: np.ndarray
    ann_ids: np.ndarray
    track_ids: np.ndarray
    bboxes: np.ndarray
    bbox_scores: np.ndarray
    keypoints: np.ndarray
    visible: np.ndarray
    info: DatasetInfo
    areas: Optional[np.ndarray] = None
    occluded: Optional[np.ndarray] = None
    image_sizes: Optional[np.ndarray] = None
    source: str = ""

    def __post_init__(self):
        n = len(self.image_ids)
        k = self.info.num_keypoints
        self.image_paths = np.asarray(self.image_paths, dtype=object).reshape(n)
        self.image_ids = np.asarray(self.image_ids, np.int64).reshape(n)
        self.ann_ids = np.asarray(self.ann_ids, np.int64).reshape(n)
        self.track_ids = np.asarray(self.track_ids, np.int64).reshape(n)
        self.bboxes = np.asarray(self.bboxes, np.float32).reshape(n, 4)
        self.bbox_scores = np.asarray(self.bbox_scores, np.float32).reshape(n)
        self.keypoints = np.asarray(self.keypoints, np.float32).reshape(n, k, 2)
        self.visible = np.asarray(self.visible, np.float32).reshape(n, k)
        if self.areas is None:
            self.areas = self.bboxes[:, 2] * self.bboxes[:, 3]
        self.areas = np.asarray(self.areas, np.float32).reshape(n)
        if self.occluded is None:
            self.occluded = np.zeros((n, k), np.float32)
        self.occluded = np.asarray(self.occluded, np.float32).reshape(n, k)
        if self.image_sizes is None:
            self.image_sizes = np.zeros((n, 2), np.int32)
        self.image_sizes = np.asarray(self.image_sizes, np.int32).reshape(n, 2)

    def __len__(self):
        return len(self.image_ids)

    def center_scale(self, input_size=(256, 192), padding=1.25):
        """Box centres [N, 2] and scales [N, 2] (pixels) at the aspect W:H of input_size."""
        return bbox_xywh_to_center_scale(self.bboxes, input_size, padding)

    def select(self, indices):
        """A SampleSet of the rows `indices` (int array or boolean mask)."""
        indices = np.asarray(indices)
        if indices.dtype == bool:
            indices = np.flatnonzero(indices)
        fields = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            fields[f.name] = value[indices] if isinstance(value, np.ndarray) else value
        return SampleSet(**fields)

    @staticmethod
    def empty(info, source=""):
        """A SampleSet with no rows."""
        k = info.num_keypoints
        return SampleSet(
            image_paths=np.zeros(0, object), image_ids=np.zeros(0), ann_ids=np.zeros(0),
            track_ids=np.zeros(0), bboxes=np.zeros((0, 4)), bbox_scores=np.zeros(0),
            keypoints=np.zeros((0, k, 2)), visible=np.zeros((0, k)), info=info,
            source=source)

    @staticmethod
    def from_rows(rows, info, source=""):
        """Builds a SampleSet from a list of per-row dicts with the attribute names."""
        if not rows:
            return SampleSet.empty(info, source)
        k = info.num_keypoints
        return SampleSet(
            image_paths=[r["image_path"] for r in rows],
            image_ids=[r["image_id"] for r in rows],
            ann_ids=[r.get("ann_id", -1) for r in rows],
            track_ids=[r.get("track_id", -1) for r in rows],
            bboxes=[r["bbox"] for r in rows],
            bbox_scores=[r.get("bbox_score", 1.0) for r in rows],
            keypoints=[r.get("keypoints", np.zeros((k, 2))) for r in rows],
            visible=[r.get("visible", np.zeros(k)) for r in rows],
            info=info,
            areas=[r.get("area", r["bbox"][2] * r["bbox"][3]) for r in rows],
            occluded=[r.get("occluded", np.zeros(k)) for r in rows],
            image_sizes=[r.get("image_size", (0, 0)) for r in rows],
            source=source,
        )


@dataclasses.dataclass
class ClipSet:
    """Clips of T+1 consecutive frames of one person track.

    Attributes:
      samples: per-frame person rows (a SampleSet).
      indices: int64 [M, T+1], rows of `samples`; column 0 is the earliest frame.
      video_ids: [M] str, the video of each clip.
    """

    samples: SampleSet
    indices: np.ndarray
    video_ids: np.ndarray

    def __post_init__(self):
        self.indices = np.asarray(self.indices, np.int64)
        if self.indices.ndim != 2:
            self.indices = self.indices.reshape(len(self.indices), -1)
        self.video_ids = np.asarray(self.video_ids, dtype=object).reshape(len(self.indices))

    def __len__(self):
        return len(self.indices)

    @property
    def num_frames(self):
        """T + 1, frames per clip."""
        return self.indices.shape[1]

    def select(self, clip_indices):
        """A ClipSet of the clips `clip_indices` (sharing the same samples)."""
        clip_indices = np.asarray(clip_indices)
        return ClipSet(self.samples, self.indices[clip_indices], self.video_ids[clip_indices])
