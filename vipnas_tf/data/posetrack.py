"""PoseTrack18 reader (the COCO-style per-video format) producing samples and clips.

Accepts one merged JSON file or a folder of per-video JSON files (as PoseTrack18's
`annotations/val/*.json`). Frames are grouped by `vid_id` and ordered by `frame_id`;
`track_id`, head boxes (`bbox_head`, for the PCKh metric) and ignore regions
(`ignore_regions_x/y` polygons) are kept. Image paths are `image_root/file_name`
(PoseTrack's file names start with `images/...`, so the root is the dataset folder).

Bad input: a file with missing keys or wrong shapes raises ValueError naming the
file, the image or annotation id and the key; zero-area boxes and persons with no
labelled keypoint are kept out of the samples.
"""
import collections
import dataclasses
import glob
import logging
import os
from typing import Dict, List

import numpy as np

from vipnas_tf.codecs.dataset_info import POSETRACK18_INFO, info_for_names
from vipnas_tf.data.coco import _number_list, clip_bbox
from vipnas_tf.data.samples import ClipSet, SampleSet
from vipnas_tf.utils.io import read_json

log = logging.getLogger(__name__)


@dataclasses.dataclass
class PoseTrackFrame:
    """One video frame.

    Attributes:
      image_id, frame_id: ids from the file (PoseTrack: 1VVVVVVFFFF).
      file_name: as in the file; image_path: resolved against the image root.
      width, height: image size (0 when absent).
      is_labeled: whether the frame carries pose labels.
      ignore_regions: list of float32 [P, 2] polygons (x, y) in image pixels.
      ann_ids: ids of all person annotations of this frame.
    """

    image_id: int
    frame_id: int
    file_name: str
    image_path: str
    width: int
    height: int
    is_labeled: bool
    ignore_regions: List[np.ndarray]
    ann_ids: List[int]


@dataclasses.dataclass
class PoseTrackVideo:
    """A video: its id, a name (its frames' folder), the file it came from, its frames."""

    vid_id: str
    name: str
    source_file: str
    frames: List[PoseTrackFrame]


def _bad(path, what, key, problem):
    return ValueError(f"{path}: {what}: key '{key}' {problem}")


def _posetrack_files(path):
    path = os.fspath(path)
    if os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(path, "*.json")))
        if not files:
            raise FileNotFoundError(f"{path}: no .json annotation files in this folder")
        return files
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file or folder")
    return [path]


def _check_image(img, path, i):
    what = f"image id {img.get('id', f'? (#{i})')}" if isinstance(img, dict) else f"image #{i}"
    if not isinstance(img, dict):
        raise ValueError(f"{path}: {what}: not an object")
    for key in ("id", "file_name", "vid_id", "frame_id"):
        if key not in img:
            raise _bad(path, what, key, "is missing")
    xs, ys = img.get("ignore_regions_x", []) or [], img.get("ignore_regions_y", []) or []
    if not isinstance(xs, list) or not isinstance(ys, list) or len(xs) != len(ys):
        raise _bad(path, what, "ignore_regions_x", "must be a list of polygons matching "
                   "'ignore_regions_y' in length")
    regions = []
    for j, (px, py) in enumerate(zip(xs, ys)):
        if (not isinstance(px, list) or not isinstance(py, list) or len(px) != len(py)
                or not _number_list(px, len(px)) or not _number_list(py, len(py))):
            raise _bad(path, what, "ignore_regions_x",
                       f"polygon {j}: x and y must be number lists of equal length")
        if len(px) >= 3:
            regions.append(np.stack([px, py], axis=1).astype(np.float32))
    return regions


def _check_annotation(ann, path, i, k):
    if not isinstance(ann, dict):
        raise ValueError(f"{path}: annotation #{i}: not an object")
    what = f"annotation id {ann.get('id', f'? (#{i})')}"
    for key in ("id", "image_id", "keypoints", "track_id"):
        if key not in ann:
            raise _bad(path, what, key, "is missing")
    if not _number_list(ann["keypoints"], 3 * k):
        got = len(ann["keypoints"]) if isinstance(ann["keypoints"], list) else ann["keypoints"]
        raise _bad(path, what, "keypoints", f"must be {3 * k} numbers (K={k} x 3), got {got}")
    kp = np.asarray(ann["keypoints"], np.float32).reshape(k, 3)
    labelled = bool((kp[:, 2] > 0).any())
    if labelled and "bbox" not in ann:
        raise _bad(path, what, "bbox", "is missing (the person has labelled keypoints)")
    for key in ("bbox", "bbox_head"):
        if key in ann and not _number_list(ann[key], 4):
            raise _bad(path, what, key, f"must be 4 numbers [x, y, w, h], got {ann[key]!r}")
    if "occluded" in ann and not _number_list(ann["occluded"], k):
        raise _bad(path, what, "occluded", f"must be {k} numbers")
    return kp, labelled


def _id_range(ids):
    try:
        return f"{min(ids)}..{max(ids)}" if ids else "none"
    except TypeError:
        return str(ids[:5])


def _check_tracks_have_frames(data, path):
    """A file whose annotations carry tracks but whose 'images' list no frame: every
    track there has no frames (an export cut off, or annotations pasted into another
    video's file). Named here, before the per-annotation image_id check."""
    anns = [a for a in data.get("annotations", []) or [] if isinstance(a, dict)]
    if data["images"] or not anns:
        return
    tracks = sorted({a.get("track_id") for a in anns}, key=str)
    raise ValueError(f"{path}: field 'images' is empty (0 frames), but field 'annotations' has {len(anns)} "
                     f"entries of track_id {tracks[:10]}: a track without frames")


class PoseTrackData:
    """A loaded PoseTrack18-format set: videos, frames, annotations, samples, clips.

    Args:
      path: a merged JSON file or a folder of per-video JSON files.
      image_root: folder that the images' `file_name`s are relative to.
      info: DatasetInfo; by default from the file's keypoint names (PoseTrack18).

    Attributes:
      videos: list of PoseTrackVideo, sorted by video id.
      frames: dict image_id -> PoseTrackFrame.
      annotations: dict ann_id -> the raw annotation dict.
      samples: SampleSet of persons with a labelled keypoint and a non-zero box, in
        video / frame order; `track_ids` kept.

    Example:
      >>> data = PoseTrackData("posetrack18/annotations/val", "posetrack18")
      >>> clips = data.clips(num_frames=4)   # ClipSet [M, 4]
    """

    def __init__(self, path, image_root, info=None):
        self.path = os.fspath(path)
        self.image_root = os.fspath(image_root)
        self.files = _posetrack_files(self.path)
        self.frames: Dict[int, PoseTrackFrame] = {}
        self.annotations: Dict[int, dict] = {}
        self.info = info
        image_source = {}
        by_video = collections.OrderedDict()
        rows_by_image = collections.defaultdict(list)
        for file in self.files:
            data = read_json(file)
            if not isinstance(data, dict) or not isinstance(data.get("images"), list):
                raise ValueError(f"{file}: top-level key 'images' is missing or not a list")
            if not isinstance(data.get("annotations", []), list):
                raise ValueError(f"{file}: top-level key 'annotations' is not a list")
            names = next((c.get("keypoints") for c in data.get("categories", []) or []
                          if isinstance(c, dict) and c.get("keypoints")), None)
            if self.info is None:
                self.info = (info_for_names(names) if names else None) or POSETRACK18_INFO
            k = self.info.num_keypoints
            for i, img in enumerate(data["images"]):
                regions = _check_image(img, file, i)
                if img["id"] in self.frames:
                    raise ValueError(f"{file}: image id {img['id']}: duplicate id (also in "
                                     f"{image_source[img['id']]})")
                frame = PoseTrackFrame(
                    image_id=img["id"], frame_id=int(img["frame_id"]),
                    file_name=img["file_name"],
                    image_path=os.path.join(self.image_root, img["file_name"]),
                    width=int(img.get("width", 0) or 0), height=int(img.get("height", 0) or 0),
                    is_labeled=bool(img.get("is_labeled", True)),
                    ignore_regions=regions, ann_ids=[])
                self.frames[img["id"]] = frame
                image_source[img["id"]] = file
                vid = str(img["vid_id"])
                if vid not in by_video:
                    name = os.path.basename(os.path.dirname(img["file_name"])) or vid
                    by_video[vid] = PoseTrackVideo(vid, name, file, [])
                by_video[vid].frames.append(frame)
            _check_tracks_have_frames(data, file)
            file_ids = [img["id"] for img in data["images"]]
            for i, ann in enumerate(data.get("annotations", [])):
                kp, labelled = _check_annotation(ann, file, i, k)
                if ann["image_id"] not in self.frames:
                    raise _bad(file, f"annotation id {ann['id']} (track_id {ann['track_id']})", "image_id",
                               f"is {ann['image_id']!r}, which names no image: the file's 'images' have "
                               f"{len(file_ids)} ids, {_id_range(file_ids)}")
                self.annotations[ann["id"]] = ann
                frame = self.frames[ann["image_id"]]
                frame.ann_ids.append(ann["id"])
                if not labelled:
                    continue
                box = clip_bbox(ann["bbox"], frame.width, frame.height)
                if box[2] <= 0 or box[3] <= 0:
                    continue
                rows_by_image[frame.image_id].append({
                    "image_path": frame.image_path, "image_id": frame.image_id,
                    "ann_id": ann["id"], "track_id": ann["track_id"], "bbox": box,
                    "keypoints": kp[:, :2], "visible": kp[:, 2],
                    "occluded": np.asarray(ann.get("occluded", np.zeros(k)), np.float32),
                    "image_size": (frame.height, frame.width)})
        if self.info is None:
            self.info = POSETRACK18_INFO
        self.videos = sorted(by_video.values(), key=lambda v: v.vid_id)
        rows = []
        self._row_of_ann = {}
        for video in self.videos:
            video.frames.sort(key=lambda f: f.frame_id)
            for frame in video.frames:
                for row in rows_by_image[frame.image_id]:
                    self._row_of_ann[row["ann_id"]] = len(rows)
                    rows.append(row)
        self.samples = SampleSet.from_rows(rows, self.info, source=self.path)
        log.info("%s: %d videos, %d frames, %d person samples", self.path, len(self.videos),
                 len(self.frames), len(self.samples))

    def row_of_annotation(self, ann_id):
        """Row of `samples` holding annotation `ann_id` (KeyError if not a sample)."""
        return self._row_of_ann[ann_id]

    def clips(self, num_frames, step=1):
        """Clips of `num_frames` consecutive frames in which one track is a sample.

        Args:
          num_frames: T + 1.
          step: distance between the first frames of successive clips of a track.

        Returns:
          ClipSet over `self.samples`; clips ordered by video, track, first frame.
        """
        indices, video_ids = [], []
        for video in self.videos:
            tracks = collections.defaultdict(dict)  # track -> {frame position: row}
            for pos, frame in enumerate(video.frames):
                for ann_id in frame.ann_ids:
                    row = self._row_of_ann.get(ann_id)
                    if row is not None:
                        tracks[self.samples.track_ids[row]][pos] = row
            for track in sorted(tracks):
                rows = tracks[track]
                for start in sorted(rows):
                    if (start - min(rows)) % step:
                        continue
                    window = [rows.get(start + t) for t in range(num_frames)]
                    if all(r is not None for r in window):
                        indices.append(window)
                        video_ids.append(video.vid_id)
        return ClipSet(self.samples, np.asarray(indices, np.int64).reshape(-1, num_frames),
                       np.asarray(video_ids, dtype=object))


def load_posetrack(path, image_root, info=None):
    """Reads PoseTrack18-format annotations (file or folder); see `PoseTrackData`."""
    return PoseTrackData(path, image_root, info)
