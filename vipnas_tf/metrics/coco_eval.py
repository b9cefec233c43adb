"""COCO keypoint AP/AR (OKS) through pycocotools' COCOeval, plus OKS-NMS and writers.

Pure in/out: `coco_keypoint_eval(coco_gt, results)` takes a pycocotools COCO index and
a list of standard COCO keypoint results ({image_id, category_id, keypoints [3K],
score}) and returns the ten summary numbers. pycocotools' prints are suppressed.
"""
import contextlib
import io
import os

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from vipnas_tf.utils.io import read_json, write_json

STAT_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


def load_coco_gt(path_or_dict):
    """A pycocotools COCO index of a keypoints ground-truth file (or dict), quietly.

    Raises ValueError naming the file when it is malformed or lacks required keys.
    """
    if isinstance(path_or_dict, dict):
        data, name = path_or_dict, "<ground truth>"
    else:
        name = os.fspath(path_or_dict)
        data = read_json(name)
    if not isinstance(data, dict):
        raise ValueError(f"{name}: expected a JSON object with 'images' and 'annotations'")
    for key in ("images", "annotations"):
        if not isinstance(data.get(key), list):
            raise ValueError(f"{name}: top-level key '{key}' is missing or not a list")
    for i, ann in enumerate(data["annotations"]):
        for key in ("id", "image_id", "keypoints", "bbox", "area"):
            if key not in ann:
                raise ValueError(f"{name}: annotation id {ann.get('id', f'? (#{i})')}: "
                                 f"key '{key}' is missing")
    data.setdefault("categories", [{"id": 1, "name": "person"}])
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    coco.source = name
    return coco


def check_results(coco_gt, results, name="<results>"):
    """Validates a COCO keypoint results list against the ground truth.

    Raises ValueError naming `name`, the entry and the key for malformed entries, and
    naming the image ids that are not in the ground truth.
    """
    if not isinstance(results, list):
        raise ValueError(f"{name}: expected a JSON list of keypoint results")
    num_kp = None
    for cat in coco_gt.dataset.get("categories", []):
        if cat.get("keypoints"):
            num_kp = len(cat["keypoints"])
    for i, r in enumerate(results):
        if not isinstance(r, dict):
            raise ValueError(f"{name}: result #{i}: not an object")
        for key in ("image_id", "category_id", "keypoints", "score"):
            if key not in r:
                raise ValueError(f"{name}: result #{i} (image_id {r.get('image_id', '?')}): "
                                 f"key '{key}' is missing")
        kp = r["keypoints"]
        if not isinstance(kp, list) or len(kp) % 3 or (num_kp and len(kp) != 3 * num_kp):
            raise ValueError(f"{name}: result #{i} (image_id {r['image_id']}): key 'keypoints' "
                             f"must be {3 * (num_kp or 17)} numbers")
    unknown = sorted({r["image_id"] for r in results} - set(coco_gt.getImgIds()))
    if unknown:
        raise ValueError(f"{name}: results for {len(unknown)} image ids not in the ground truth "
                         f"{getattr(coco_gt, 'source', '')}: {unknown[:20]}")


def coco_keypoint_eval(coco_gt, results, sigmas=None, image_ids=None, name="<results>"):
    """OKS AP/AR of keypoint results against a ground truth.

    Args:
      coco_gt: pycocotools COCO (see `load_coco_gt`).
      results: list of {image_id, category_id, keypoints [x, y, s] * K, score}.
      sigmas: optional K OKS sigmas (default: COCOeval's 17 COCO sigmas).
      image_ids: evaluate only these images (default: all ground-truth images).
      name: how to call `results` in error messages.

    Returns:
      dict of AP, AP50, AP75, APm, APl, AR, AR50, AR75, ARm, ARl (fractions in 0..1;
      -1 where COCO has nothing to measure, e.g. no medium persons), and `num_results`.
    """
    check_results(coco_gt, results, name)
    if not results:
        return {**{k: 0.0 for k in STAT_NAMES}, "num_results": 0}
    results = [dict(r) for r in results]  # loadRes adds keys in place
    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt = coco_gt.loadRes(results)
        ev = COCOeval(coco_gt, coco_dt, "keypoints")
        if sigmas is not None:
            ev.params.kpt_oks_sigmas = np.asarray(sigmas, np.float64)
        if image_ids is not None:
            ev.params.imgIds = sorted(image_ids)
        ev.params.useSegm = None
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    out = {k: float(v) for k, v in zip(STAT_NAMES, ev.stats)}
    out["num_results"] = len(results)
    return out


def oks_iou(keypoints, others, area, other_areas, sigmas):
    """OKS between one pose and several (the NMS flavour: all joints count).

    Args:
      keypoints: [K, 2]; others: [M, K, 2]; area: scalar; other_areas: [M];
      sigmas: [K].

    Returns:
      float [M].
    """
    sigmas = np.asarray(sigmas, np.float64)
    var = (2 * sigmas) ** 2
    d2 = ((np.asarray(others) - np.asarray(keypoints)[None]) ** 2).sum(-1)
    scale = (area + np.asarray(other_areas)) / 2.0 + np.spacing(1)
    e = d2 / var[None] / scale[:, None] / 2.0
    return np.exp(-e).mean(axis=1)


def oks_nms(keypoints, scores, areas, sigmas, threshold=0.9):
    """Greedy OKS non-maximum suppression of the poses of one image.

    Args:
      keypoints: [N, K, 2]; scores: [N] pose scores; areas: [N] box areas;
      sigmas: [K]; threshold: suppress poses with OKS above this.

    Returns:
      int array of kept indices, best first.
    """
    order = np.argsort(-np.asarray(scores), kind="stable")
    keep = []
    while len(order):
        i = order[0]
        keep.append(i)
        if len(order) == 1:
            break
        ious = oks_iou(keypoints[i], keypoints[order[1:]], areas[i], areas[order[1:]], sigmas)
        order = order[1:][ious <= threshold]
    return np.asarray(keep, np.int64)


def make_keypoint_results(image_ids, keypoints, keypoint_scores, bbox_scores,
                          score_threshold=0.2, category_id=1):
    """Standard COCO keypoint results with SimpleBaseline's rescoring.

    The pose score is the box score times the mean of the keypoint scores above
    `score_threshold` (0 when none is), as in mmpose.

    Args:
      image_ids: [N]; keypoints: [N, K, 2] image pixels; keypoint_scores: [N, K];
      bbox_scores: [N].

    Returns:
      list of {image_id, category_id, keypoints, score}.
    """
    keypoints = np.asarray(keypoints, np.float64)
    kscores = np.asarray(keypoint_scores, np.float64)
    results = []
    for i in range(len(keypoints)):
        good = kscores[i] > score_threshold
        quality = kscores[i][good].mean() if good.any() else 0.0
        triples = np.concatenate([keypoints[i], kscores[i][:, None]], axis=1)
        results.append({"image_id": int(image_ids[i]), "category_id": int(category_id),
                        "keypoints": [round(float(v), 3) for v in triples.ravel()],
                        "score": float(bbox_scores[i] * quality)})
    return results


def results_from_ground_truth(data):
    """Keypoint results made of a ground-truth dict's annotations (score 1).

    Lets a ground-truth file be scored as its own predictions (AP must be 1.0): crowd
    regions and persons without labelled keypoints are left out, as COCOeval ignores
    them.
    """
    out = []
    for ann in data.get("annotations", []):
        kp = ann.get("keypoints") or []
        if ann.get("iscrowd", 0) or not any(v > 0 for v in kp[2::3]):
            continue
        out.append({"image_id": ann["image_id"], "category_id": ann.get("category_id", 1),
                    "keypoints": list(kp), "score": float(ann.get("score", 1.0))})
    return out


def write_coco_results(path, results):
    """Writes a COCO keypoint results list atomically (compact JSON)."""
    write_json(path, results, indent=None)
