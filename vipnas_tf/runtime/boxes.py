"""Person boxes per frame from a detections file.

Accepted formats (a box is [x, y, w, h] in image pixels):

- COCO results: a JSON list of {"image_id", "bbox", "score"?, "category_id"?}.
  `image_id` is the frame index (0-based) - or a PoseTrack image id
  (1VVVVVVFFFF: video VVVVVV, frame FFFF, e.g. 10128340000), recognised when every
  id is >= 10^10; the file must then hold one video's boxes, or `video_id` picks one.
  This is also the format of PoseTrack's published human detections
  (`test_posetrack18_human_detections.json`).
- PoseTrack / COCO annotation-style: {"images": [...], "annotations": [{"image_id",
  "bbox", ...}]}. The frame index of an image is its position in "images" sorted
  by "frame_id" (else "id"); without "images", image ids are read as above.

Boxes with a `category_id` other than 1 (person) or a score below the threshold are
dropped. Errors name the file and the entry; a box on a frame the video does not
have is an error (`load_boxes(..., num_frames=n)`).
"""
import collections

import numpy as np

from vipnas_tf.utils import io as io_utils

POSETRACK_ID_MIN = 10**10


class BoxesFileError(ValueError):
    """Malformed boxes file, or boxes on frames the video does not have."""


def _frame_of_ids(ids, path, video_id=None):
    """image ids -> frame indices (identity, or PoseTrack ids decoded)."""
    ids = list(ids)
    if ids and all(i >= POSETRACK_ID_MIN for i in ids):
        videos = sorted({(i // 10000) % 10**6 for i in ids})
        if video_id is not None:
            videos = [int(video_id)]
        elif len(videos) > 1:
            raise BoxesFileError(f"{path}: PoseTrack image ids of {len(videos)} videos "
                                 f"({', '.join(f'{v:06d}' for v in videos)}); pick one with video_id")
        return {i: i % 10000 for i in ids if (i // 10000) % 10**6 == videos[0]}
    return {i: i for i in ids}


def load_boxes(path, num_frames=None, score_threshold=0.0, video_id=None):
    """Reads a boxes file.

    Args:
      path: the JSON file.
      num_frames: frames of the video; a box on frame >= num_frames is an error.
      score_threshold: drop boxes scored below it (boxes without a score are kept).
      video_id: for PoseTrack image ids of several videos, the video to keep.

    Returns:
      dict frame index -> float32 array [n, 5] (x, y, w, h, score), highest score
      first; frames without boxes are absent.
    """
    data = io_utils.read_json(path)
    if isinstance(data, list):
        anns, frame_of = data, None
    elif isinstance(data, dict) and isinstance(data.get("annotations"), list):
        anns = data["annotations"]
        images = data.get("images")
        frame_of = None
        if isinstance(images, list) and images:
            for j, img in enumerate(images):
                if not isinstance(img, dict) or "id" not in img:
                    raise BoxesFileError(f"{path}: images[{j}]: key 'id' is missing")
            order = sorted(images, key=lambda im: (im.get("frame_id", im["id"]), im["id"]))
            frame_of = {im["id"]: k for k, im in enumerate(order)}
    else:
        raise BoxesFileError(f"{path}: expected a list of detections (COCO results) or an object with "
                             f"an 'annotations' list, got {type(data).__name__}")
    rows = []
    for j, ann in enumerate(anns):
        if not isinstance(ann, dict):
            raise BoxesFileError(f"{path}: entry {j}: expected an object, got {type(ann).__name__}")
        for key in ("image_id", "bbox"):
            if key not in ann:
                raise BoxesFileError(f"{path}: entry {j}: key '{key}' is missing")
        image_id = ann["image_id"]
        if isinstance(image_id, bool) or not isinstance(image_id, (int, np.integer)):
            raise BoxesFileError(f"{path}: entry {j}: key 'image_id' must be an integer, got {image_id!r}")
        bbox = ann["bbox"]
        if (not isinstance(bbox, (list, tuple)) or len(bbox) != 4
                or not all(isinstance(v, (int, float)) and np.isfinite(v) for v in bbox)):
            raise BoxesFileError(f"{path}: entry {j}: key 'bbox' must be [x, y, w, h], got {bbox!r}")
        if ann.get("category_id", 1) != 1:
            continue
        score = ann.get("score", 1.0)
        if not isinstance(score, (int, float)):
            raise BoxesFileError(f"{path}: entry {j}: key 'score' must be a number, got {score!r}")
        if score < score_threshold or bbox[2] <= 0 or bbox[3] <= 0:
            continue
        rows.append((j, int(image_id), [float(v) for v in bbox] + [float(score)]))
    if frame_of is None:
        frame_of = _frame_of_ids({r[1] for r in rows}, path, video_id)
    per_frame = collections.defaultdict(list)
    for j, image_id, box in rows:
        if image_id not in frame_of:
            if frame_of and all(i >= POSETRACK_ID_MIN for i in frame_of):
                continue  # another video's box
            raise BoxesFileError(f"{path}: entry {j}: image_id {image_id} is not in the file's 'images'")
        frame = frame_of[image_id]
        if frame < 0 or (num_frames is not None and frame >= num_frames):
            raise BoxesFileError(f"{path}: entry {j}: box for frame {frame} (image_id {image_id}), but the video "
                                 f"has {num_frames} frames (0..{(num_frames or 0) - 1})")
        per_frame[frame].append(box)
    return {f: np.asarray(sorted(b, key=lambda r: -r[4]), np.float32) for f, b in sorted(per_frame.items())}
