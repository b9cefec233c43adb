"""PoseTrack per-frame pose mAP following poseval (the metric the paper reports).

Definition (poseval's `evaluateAP` / `assignGTmulti`):
- 15 joints: PoseTrack18's 17 slots minus the two ear slots (never labelled);
  `head_bottom` is poseval's "neck".
- A predicted joint is correct when its distance to the ground-truth joint, divided
  by the head size = 0.6 x the diagonal of the ground-truth head box, is <= 0.5
  (PCKh@0.5).
- Only ground-truth frames with at least one person annotation are evaluated; a
  joint is labelled when its visibility flag is > 0. A predicted joint exists
  unless it is (0, 0) with visibility 0 (poseval's "unannotated" marker).
- Joints (ground truth and predicted) inside a frame's ignore regions are dropped.
- Greedy assignment per frame: each prediction picks the ground-truth person with
  the highest PCKh (share of that person's labelled joints it hits); each ground-truth
  person then keeps the best of the predictions that picked it. Joints of assigned
  predictions are hits when within the threshold, all other predicted joints are
  false positives.
- Per joint, (score, hit) pairs of all frames are sorted by score (stable, descending)
  into a precision-recall curve; AP as in VOC (area under the interpolated curve).
  Predictions without per-joint scores get poseval's fallback score -9999.
- Groups: Head (head_top, neck, nose), Shoulder, Elbow, Wrist, Hip, Knee, Ankle are
  means of their joints' AP; Total is the mean over the 15 joints. Percent.
Deviations: a joint with no labelled ground truth anywhere has AP NaN and is left out
of the means (poseval would divide by zero); predictions are matched to ground-truth
frames by image id rather than by position in the file.
"""
import collections
import dataclasses
import glob
import os
from typing import Dict, List

import numpy as np

from vipnas_tf.utils.io import read_json, write_json

PCKH_THRESHOLD = 0.5
MIN_SCORE = -9999.0

POSETRACK18_NAMES = (
    "nose", "head_bottom", "head_top", "left_ear", "right_ear", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)
# poseval's joint order.
EVAL_JOINTS = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow",
    "left_wrist", "head_bottom", "nose", "head_top",
)
GROUPS = collections.OrderedDict([
    ("Head", ("head_top", "head_bottom", "nose")),
    ("Shoulder", ("right_shoulder", "left_shoulder")),
    ("Elbow", ("right_elbow", "left_elbow")),
    ("Wrist", ("right_wrist", "left_wrist")),
    ("Hip", ("right_hip", "left_hip")),
    ("Knee", ("right_knee", "left_knee")),
    ("Ankle", ("right_ankle", "left_ankle")),
])


@dataclasses.dataclass
class FramePoses:
    """The persons of one frame in the 15-joint evaluation layout.

    Attributes:
      keypoints: float [P, 15, 2].
      present: bool [P, 15], joint labelled (ground truth) / predicted.
      scores: float [P, 15] (predictions) or None.
      head_size: float [P] (ground truth) or None.
    """

    keypoints: np.ndarray
    present: np.ndarray
    scores: np.ndarray = None
    head_size: np.ndarray = None


@dataclasses.dataclass
class PoseTrackGroundTruth:
    """Parsed ground truth: frames, ignore regions, and where each image came from.

    Attributes:
      frames: image_id -> FramePoses of the annotated frames (at least one person).
      ignore_regions: image_id -> list of [V, 2] polygons.
      images: image_id -> the image entry (for writing results in the same format).
      image_file: image_id -> the annotation file it came from.
      files: the annotation files, in order.
      keypoint_names: the K slot names of the files.
      is_folder: whether the ground truth was a folder of per-video files.
      ann_ids: image_id -> int64 [P], the annotation id of each person of `frames`.
    """

    frames: Dict[int, FramePoses]
    ignore_regions: Dict[int, List[np.ndarray]]
    images: Dict[int, dict]
    image_file: Dict[int, str]
    files: List[str]
    keypoint_names: tuple
    is_folder: bool
    categories: list
    ann_ids: Dict[int, np.ndarray] = dataclasses.field(default_factory=dict)


def _json_files(path):
    path = os.fspath(path)
    if os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(path, "*.json")))
        if not files:
            raise FileNotFoundError(f"{path}: no .json files in this folder")
        return files, True
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file or folder")
    return [path], False


def _names_of(data):
    for cat in data.get("categories", []) or []:
        if isinstance(cat, dict) and cat.get("keypoints"):
            return tuple(cat["keypoints"])
    return None


def _slot_map(names, file):
    """For each of the 15 eval joints, its slot in `names`."""
    try:
        return np.array([list(names).index(j) for j in EVAL_JOINTS])
    except ValueError:
        missing = [j for j in EVAL_JOINTS if j not in names]
        raise ValueError(f"{file}: keypoint names lack PoseTrack joints {missing}") from None


def _keypoints(ann, k, file):
    kp = ann.get("keypoints")
    if not isinstance(kp, list) or len(kp) != 3 * k:
        got = len(kp) if isinstance(kp, list) else kp
        raise ValueError(f"{file}: annotation id {ann.get('id', '?')}: key 'keypoints' must be "
                         f"{3 * k} numbers, got {got}")
    return np.asarray(kp, np.float64).reshape(k, 3)


def points_in_polygon(points, polygon):
    """Even-odd test: bool [N] for points [N, 2] strictly inside polygon [V, 2]."""
    points = np.asarray(points, np.float64).reshape(-1, 2)
    poly = np.asarray(polygon, np.float64)
    x, y = points[:, 0:1], points[:, 1:2]
    x1, y1 = poly[:, 0][None], poly[:, 1][None]
    x2, y2 = np.roll(poly[:, 0], -1)[None], np.roll(poly[:, 1], -1)[None]
    crosses = (y1 > y) != (y2 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
    return (crosses & (x < x_at)).sum(axis=1) % 2 == 1


def _drop_ignored(poses, regions):
    if not regions or len(poses.keypoints) == 0:
        return poses
    flat = poses.keypoints.reshape(-1, 2)
    inside = np.zeros(len(flat), bool)
    for poly in regions:
        inside |= points_in_polygon(flat, poly)
    poses.present = poses.present & ~inside.reshape(poses.present.shape)
    return poses


def load_posetrack_gt(path):
    """Reads PoseTrack18-format ground truth (one file or a folder of per-video files).

    Raises ValueError naming the file, the annotation id and the key when an
    annotation lacks keypoints, or a labelled person lacks `bbox_head`.
    """
    files, is_folder = _json_files(path)
    frames, ignore, images, image_file = {}, {}, {}, {}
    names, categories = None, None
    persons = collections.defaultdict(list)
    for file in files:
        data = read_json(file)
        if not isinstance(data, dict) or not isinstance(data.get("images"), list):
            raise ValueError(f"{file}: top-level key 'images' is missing or not a list")
        names = names or _names_of(data)
        categories = categories or data.get("categories")
        k = len(names or POSETRACK18_NAMES)
        for i, img in enumerate(data["images"]):
            if not isinstance(img, dict) or "id" not in img:
                raise ValueError(f"{file}: image #{i}: key 'id' is missing")
            if img["id"] in images:
                raise ValueError(f"{file}: image id {img['id']}: duplicate (also in "
                                 f"{image_file[img['id']]})")
            images[img["id"]] = img
            image_file[img["id"]] = file
            xs, ys = img.get("ignore_regions_x") or [], img.get("ignore_regions_y") or []
            if len(xs) != len(ys):
                raise ValueError(f"{file}: image id {img['id']}: key 'ignore_regions_y' must "
                                 f"match 'ignore_regions_x' in length")
            ignore[img["id"]] = [np.stack([px, py], 1).astype(np.float64)
                                 for px, py in zip(xs, ys) if len(px) >= 3 and len(px) == len(py)]
        for i, ann in enumerate(data.get("annotations", []) or []):
            for key in ("id", "image_id", "keypoints"):
                if key not in ann:
                    raise ValueError(f"{file}: annotation id {ann.get('id', f'? (#{i})')}: "
                                     f"key '{key}' is missing")
            if ann["image_id"] not in images:
                raise ValueError(f"{file}: annotation id {ann['id']}: key 'image_id' refers to "
                                 f"image {ann['image_id']} not in 'images'")
            kp = _keypoints(ann, k, file)
            labelled = kp[:, 2] > 0
            head = ann.get("bbox_head")
            if labelled.any():
                if not isinstance(head, list) or len(head) != 4:
                    raise ValueError(f"{file}: annotation id {ann['id']}: key 'bbox_head' is "
                                     f"missing or not [x, y, w, h] (needed for PCKh)")
                head_size = 0.6 * float(np.hypot(head[2], head[3]))
            else:
                head_size = np.nan
            persons[ann["image_id"]].append((kp, labelled, head_size, file, ann["id"]))
    names = names or POSETRACK18_NAMES
    slots = _slot_map(names, files[0])
    ann_ids = {}
    for image_id, plist in persons.items():
        ann_ids[image_id] = np.array([p[4] for p in plist], np.int64)
        kps = np.stack([p[0][slots, :2] for p in plist])
        present = np.stack([p[1][slots] for p in plist])
        head = np.array([p[2] for p in plist])
        frames[image_id] = _drop_ignored(FramePoses(kps, present, None, head),
                                         ignore.get(image_id))
    return PoseTrackGroundTruth(frames, ignore, images, image_file, files, tuple(names),
                                is_folder, categories or [], ann_ids)


def predictions_from_annotations(annotations, keypoint_names, name="<results>"):
    """Groups results-format annotations by image id into FramePoses (15 joints).

    Each annotation needs `image_id` and `keypoints` (3K); `scores` (K per-joint
    scores) is optional.
    """
    slots = _slot_map(keypoint_names, name)
    k = len(keypoint_names)
    per_image = collections.defaultdict(list)
    for i, ann in enumerate(annotations):
        for key in ("image_id", "keypoints"):
            if key not in ann:
                raise ValueError(f"{name}: annotation id {ann.get('id', f'? (#{i})')}: "
                                 f"key '{key}' is missing")
        kp = _keypoints(ann, k, name)
        scores = ann.get("scores")
        if scores:
            if len(scores) != k:
                raise ValueError(f"{name}: annotation id {ann.get('id', '?')}: key 'scores' "
                                 f"must have {k} entries, got {len(scores)}")
            s = np.asarray(scores, np.float64)
        else:
            s = np.full(k, MIN_SCORE)
        present = ~((kp[:, 0] == 0) & (kp[:, 1] == 0) & (kp[:, 2] == 0))
        per_image[ann["image_id"]].append((kp[slots, :2], present[slots], s[slots]))
    out = {}
    for image_id, plist in per_image.items():
        out[image_id] = FramePoses(np.stack([p[0] for p in plist]),
                                   np.stack([p[1] for p in plist]),
                                   np.stack([p[2] for p in plist]))
    return out


def load_posetrack_predictions(path, gt):
    """Reads a results file or folder in the ground truth's format.

    Raises ValueError naming the image ids that are not in the ground truth.
    """
    files, _ = _json_files(path)
    anns = []
    for file in files:
        data = read_json(file)
        if isinstance(data, list):  # a bare annotation list is accepted too
            file_anns = data
        elif isinstance(data, dict) and isinstance(data.get("annotations"), list):
            file_anns = data["annotations"]
        else:
            raise ValueError(f"{file}: expected an object with an 'annotations' list")
        preds = predictions_from_annotations(file_anns, gt.keypoint_names, file)
        unknown = sorted(set(preds) - set(gt.images))
        if unknown:
            raise ValueError(f"{file}: results for {len(unknown)} image ids not in the ground "
                             f"truth: {unknown[:20]}")
        anns.extend(file_anns)
    return predictions_from_annotations(anns, gt.keypoint_names, os.fspath(path))


def _assign_frame(gt, pred, threshold):
    """poseval's per-frame assignment; returns (scores [M], hits [M], joint ids [M])."""
    n_pr, n_gt = len(pred.keypoints), len(gt.keypoints) if gt is not None else 0
    j = len(EVAL_JOINTS)
    hits = np.zeros((n_pr, j), bool)
    if n_gt:
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.linalg.norm(pred.keypoints[:, None] - gt.keypoints[None], axis=-1)
            d = d / gt.head_size[None, :, None]
        both = pred.present[:, None] & gt.present[None]
        match = both & (d <= threshold)  # [P, G, J]
        n_labelled = gt.present.sum(axis=1)
        pck = match.sum(axis=2) / np.maximum(n_labelled, 1)[None]
        # Each prediction keeps only its best ground truth ...
        best = pck.argmax(axis=1)
        keep = np.zeros_like(pck)
        keep[np.arange(n_pr), best] = pck[np.arange(n_pr), best]
        # ... and each ground truth the best prediction among those.
        pr_of_gt = keep.argmax(axis=0)
        pr_of_gt[keep.max(axis=0) == 0] = -1
        for g, p in enumerate(pr_of_gt):
            if p >= 0:
                hits[p] = match[p, g]
    sel = pred.present
    joint_ids = np.broadcast_to(np.arange(j), sel.shape)[sel]
    return pred.scores[sel], hits[sel], joint_ids


def voc_ap(scores, hits, num_positives):
    """VOC average precision of (score, hit) pairs against `num_positives`, in 0..1."""
    if num_positives == 0:
        return np.nan
    if len(scores) == 0:
        return 0.0
    order = np.argsort(-np.asarray(scores), kind="stable")
    tp = np.cumsum(np.asarray(hits)[order])
    recall = tp / num_positives
    precision = tp / np.arange(1, len(tp) + 1)
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    idx = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[idx] - mrec[idx - 1]) * mpre[idx]))


def posetrack_map(gt, predictions, threshold=PCKH_THRESHOLD, image_ids=None):
    """Per-joint AP, joint groups and Total (percent) of predictions on a ground truth.

    Args:
      gt: PoseTrackGroundTruth (`load_posetrack_gt`).
      predictions: image_id -> FramePoses (`load_posetrack_predictions` or
        `predictions_from_annotations`); frames without an entry have no predictions.
      threshold: PCKh threshold (0.5).
      image_ids: restrict to these frames (default: all annotated frames).

    Returns:
      dict with Head, Shoulder, Elbow, Wrist, Hip, Knee, Ankle, Total (percent),
      `per_joint` (name -> AP percent), `num_frames`, `num_gt_joints`.
    """
    unknown = sorted(set(predictions) - set(gt.images))
    if unknown:
        raise ValueError(f"results for {len(unknown)} image ids not in the ground truth: "
                         f"{unknown[:20]}")
    j = len(EVAL_JOINTS)
    frame_ids = sorted(gt.frames) if image_ids is None else sorted(set(image_ids) & set(gt.frames))
    all_scores, all_hits, all_joints = [], [], []
    n_gt = np.zeros(j, np.int64)
    for image_id in frame_ids:
        g = gt.frames[image_id]
        n_gt += g.present.sum(axis=0)
        pred = predictions.get(image_id)
        if pred is None or len(pred.keypoints) == 0:
            continue
        pred = _drop_ignored(FramePoses(pred.keypoints, pred.present.copy(), pred.scores),
                             gt.ignore_regions.get(image_id))
        s, h, jid = _assign_frame(g, pred, threshold)
        all_scores.append(s)
        all_hits.append(h)
        all_joints.append(jid)
    scores = np.concatenate(all_scores) if all_scores else np.zeros(0)
    hits = np.concatenate(all_hits) if all_hits else np.zeros(0, bool)
    joints = np.concatenate(all_joints) if all_joints else np.zeros(0, np.int64)
    ap = np.array([voc_ap(scores[joints == k], hits[joints == k], n_gt[k]) for k in range(j)])
    ap = ap * 100.0
    index = {name: i for i, name in enumerate(EVAL_JOINTS)}
    out = collections.OrderedDict()
    for group, members in GROUPS.items():
        vals = ap[[index[m] for m in members]]
        out[group] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
    out["Total"] = float(np.nanmean(ap)) if np.isfinite(ap).any() else float("nan")
    out["per_joint"] = {name: float(ap[i]) for i, name in enumerate(EVAL_JOINTS)}
    out["num_frames"] = len(frame_ids)
    out["num_gt_joints"] = int(n_gt.sum())
    return out


def write_posetrack_results(out_path, gt, annotations):
    """Writes predictions as results files in the ground truth's own format.

    Args:
      out_path: a folder (one file per ground-truth file, same base names) when the
        ground truth was a folder, else a single JSON file path.
      gt: PoseTrackGroundTruth.
      annotations: list of {image_id, keypoints [3K], scores [K], track_id, ...}.

    Returns:
      list of written paths.
    """
    by_file = collections.defaultdict(list)
    for ann in annotations:
        if ann["image_id"] not in gt.image_file:
            raise ValueError(f"prediction for image id {ann['image_id']} not in the ground truth")
        by_file[gt.image_file[ann["image_id"]]].append(ann)
    images_by_file = collections.defaultdict(list)
    for image_id, file in gt.image_file.items():
        images_by_file[file].append(gt.images[image_id])
    written = []
    if gt.is_folder:
        for file in gt.files:
            path = os.path.join(os.fspath(out_path), os.path.basename(file))
            write_json(path, {"images": images_by_file[file], "annotations": by_file[file],
                              "categories": gt.categories}, indent=None)
            written.append(path)
    else:
        anns = [a for file in gt.files for a in by_file[file]]
        write_json(out_path, {"images": list(gt.images.values()), "annotations": anns,
                              "categories": gt.categories}, indent=None)
        written.append(os.fspath(out_path))
    return written
