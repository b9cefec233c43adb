"""COCO keypoints reader (pycocotools index) producing `SampleSet`s.

Training and ground-truth-box validation use the annotated persons; validation with a
person detector uses a detection results file (the COCO results format of
`test_coco_det_AP_H_56.json`: a list of {image_id, category_id, bbox, score}).

Bad input: a file with missing keys or wrong shapes raises ValueError naming the file,
the annotation id and the key; crowd regions, zero-area boxes and persons with no
labelled keypoint are skipped (counted in the log).
"""
import contextlib
import io
import logging
import os

import numpy as np
from pycocotools.coco import COCO

from vipnas_tf.codecs.dataset_info import COCO_INFO, info_for_names
from vipnas_tf.data.samples import SampleSet
from vipnas_tf.utils.io import read_json

log = logging.getLogger(__name__)

PERSON_CATEGORY_ID = 1


def _bad(path, what, key, problem):
    return ValueError(f"{path}: {what}: key '{key}' {problem}")


def _number_list(value, length):
    if not isinstance(value, (list, tuple)) or len(value) != length:
        return False
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)


def validate_coco_keypoints(data, path, num_keypoints=None):
    """Checks a COCO keypoints dict; raises ValueError naming file, id and key.

    Returns the number of keypoints K (from the person category, else `num_keypoints`).
    """
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object with 'images' and 'annotations'")
    for key in ("images", "annotations"):
        if not isinstance(data.get(key), list):
            raise ValueError(f"{path}: top-level key '{key}' is missing or not a list")
    k = num_keypoints
    for cat in data.get("categories", []) or []:
        if cat.get("id") == PERSON_CATEGORY_ID and isinstance(cat.get("keypoints"), list):
            k = len(cat["keypoints"])
    k = k or 17
    for i, img in enumerate(data["images"]):
        what = f"image #{i} (id {img.get('id', '?') if isinstance(img, dict) else '?'})"
        if not isinstance(img, dict):
            raise ValueError(f"{path}: {what}: not an object")
        for key in ("id", "file_name"):
            if key not in img:
                raise _bad(path, what, key, "is missing")
    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict):
            raise ValueError(f"{path}: annotation #{i}: not an object")
        what = f"annotation id {ann.get('id', f'? (#{i})')}"
        for key in ("id", "image_id", "bbox", "keypoints"):
            if key not in ann:
                raise _bad(path, what, key, "is missing")
        if not _number_list(ann["bbox"], 4):
            raise _bad(path, what, "bbox", f"must be 4 numbers [x, y, w, h], got {ann['bbox']!r}")
        if not _number_list(ann["keypoints"], 3 * k):
            got = len(ann["keypoints"]) if isinstance(ann["keypoints"], list) else ann["keypoints"]
            raise _bad(path, what, "keypoints", f"must be {3 * k} numbers (K={k} x 3), got {got}")
        if "occluded" in ann and not _number_list(ann["occluded"], k):
            raise _bad(path, what, "occluded", f"must be {k} numbers")
    return k


def clip_bbox(bbox, width, height):
    """Clips (x, y, w, h) to an image of size (width, height); sizes <= 0 mean unknown."""
    x, y, w, h = [float(v) for v in bbox]
    if width and height:
        x1, y1 = np.clip(x, 0, width - 1), np.clip(y, 0, height - 1)
        x2, y2 = np.clip(x + w, 0, width - 1), np.clip(y + h, 0, height - 1)
        return [float(x1), float(y1), float(x2 - x1), float(y2 - y1)]
    return [x, y, w, h]


def quiet_coco(data):
    """A pycocotools COCO index built from an already-loaded dict, without its prints."""
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def load_coco(ann_file, image_root, detections=None, min_det_score=0.0, info=None, data=None):
    """Reads a COCO keypoints file into a SampleSet of person instances.

    Args:
      ann_file: COCO keypoints JSON (person_keypoints_*.json format).
      image_root: folder the images' `file_name`s are relative to.
      detections: optional detection results JSON (path) or list; when given, rows
        are the detected person boxes (keypoints zero, `ann_id` -1) for validation.
      min_det_score: drop detections below this score.
      info: DatasetInfo; by default derived from the file's keypoint names (COCO).
      data: the file's already parsed content (saves reading a large file twice).

    Returns:
      SampleSet. Ground-truth rows: non-crowd persons with a non-zero box (clipped to
      the image) and at least one labelled keypoint.
    """
    ann_file = os.fspath(ann_file)
    data = read_json(ann_file) if data is None else data
    k = validate_coco_keypoints(data, ann_file)
    if info is None:
        names = next((c.get("keypoints") for c in data.get("categories", [])
                      if c.get("id") == PERSON_CATEGORY_ID), None)
        info = (info_for_names(names) if names else None) or COCO_INFO
    if info.num_keypoints != k:
        raise ValueError(f"{ann_file}: {k} keypoints per person, DatasetInfo "
                         f"'{info.name}' has {info.num_keypoints}")
    coco = quiet_coco(data)
    images = {img["id"]: img for img in data["images"]}
    missing = sorted({a["image_id"] for a in data["annotations"]} - set(images))
    if missing:
        raise ValueError(f"{ann_file}: annotations refer to image ids not in 'images': "
                         f"{missing[:10]}")

    def image_fields(img):
        return {"image_path": os.path.join(os.fspath(image_root), img["file_name"]),
                "image_id": img["id"],
                "image_size": (int(img.get("height", 0) or 0), int(img.get("width", 0) or 0))}

    rows = []
    skipped = {"crowd": 0, "zero_area": 0, "no_keypoints": 0}
    if detections is None:
        for img_id in sorted(coco.getImgIds()):
            img = images[img_id]
            for ann in coco.loadAnns(coco.getAnnIds(imgIds=[img_id])):
                if ann.get("category_id", PERSON_CATEGORY_ID) != PERSON_CATEGORY_ID:
                    continue
                if ann.get("iscrowd", 0):
                    skipped["crowd"] += 1
                    continue
                kp = np.asarray(ann["keypoints"], np.float32).reshape(k, 3)
                if not (kp[:, 2] > 0).any():
                    skipped["no_keypoints"] += 1
                    continue
                box = clip_bbox(ann["bbox"], img.get("width", 0), img.get("height", 0))
                if box[2] <= 0 or box[3] <= 0:
                    skipped["zero_area"] += 1
                    continue
                rows.append({**image_fields(img), "ann_id": ann["id"], "bbox": box,
                             "keypoints": kp[:, :2], "visible": kp[:, 2],
                             "area": float(ann.get("area", box[2] * box[3])),
                             # non-standard, synthetic sets only: joint hidden by something
                             "occluded": np.asarray(ann.get("occluded", np.zeros(k)),
                                                    np.float32)})
    else:
        dets, det_path = load_detections(detections)
        unknown = sorted({d["image_id"] for d in dets} - set(images))
        if unknown:
            raise ValueError(f"{det_path}: detections for image ids not in {ann_file}: "
                             f"{unknown[:20]}")
        for d in sorted(dets, key=lambda d: (d["image_id"], -d["score"])):
            if d.get("category_id", PERSON_CATEGORY_ID) != PERSON_CATEGORY_ID:
                continue
            if d["score"] < min_det_score:
                continue
            img = images[d["image_id"]]
            box = clip_bbox(d["bbox"], img.get("width", 0), img.get("height", 0))
            if box[2] <= 0 or box[3] <= 0:
                skipped["zero_area"] += 1
                continue
            rows.append({**image_fields(img), "bbox": box, "bbox_score": d["score"]})
    log.info("%s: %d person rows (skipped %s)", ann_file, len(rows), skipped)
    return SampleSet.from_rows(rows, info, source=ann_file)


def load_detections(detections):
    """Reads and checks person detections in the COCO results format.

    Args:
      detections: a JSON file (path) holding a list of {image_id, category_id, bbox
        [x, y, w, h], score}, or that list itself.

    Returns:
      (list of the detection dicts as given, the file's path or "<detections>" for a
      list, to name it in errors).

    Raises:
      ValueError naming the file, the detection's index (and image id) and the key,
      when the content is not a list of objects, or one lacks `image_id`, `bbox` or
      `score`, or has a `bbox` that is not 4 numbers or a `score` that is not a number.
      What the detections refer to (image ids, categories, scores below a threshold)
      is the caller's to check.
    """
    if isinstance(detections, (list, tuple)):
        dets, path = list(detections), "<detections>"
    else:
        path = os.fspath(detections)
        dets = read_json(path)
    if not isinstance(dets, list):
        raise ValueError(f"{path}: expected a JSON list of detections {{image_id, category_id, bbox, score}}, "
                         f"got a JSON {type(dets).__name__}")
    for i, d in enumerate(dets):
        what = f"detection #{i}"
        if not isinstance(d, dict):
            raise ValueError(f"{path}: {what}: not an object, got {d!r:.80}")
        for key in ("image_id", "bbox", "score"):
            if key not in d:
                raise _bad(path, what, key, "is missing")
        what = f"{what} (image_id {d['image_id']})"
        if not _number_list(d["bbox"], 4):
            raise _bad(path, what, "bbox", f"must be 4 numbers [x, y, w, h], got {d['bbox']!r}")
        if not _number_list([d["score"]], 1):
            raise _bad(path, what, "score", f"must be a number, got {d['score']!r}")
    return dets, path
