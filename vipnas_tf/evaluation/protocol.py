"""The top-down test protocol of the paper and of mmpose, end to end: images and boxes in,
a results file and its metric out.

COCO (mmpose's `TopDownCocoDataset` test of the ViPNAS configs,
`vipnas_mbv3_coco_256x192.py`: `det_bbox_thr=0.0`, `oks_thr=0.9`, `vis_thr=0.2`,
`flip_test=True`, `shift_heatmap=True`):

1. person boxes from a detection results file (scores below `bbox_thr` dropped), or the
   ground-truth boxes (clipped to their image); each box widened to the input aspect
   ratio and padded by `padding` (1.25);
2. the crops run through the model, with `flip_test` also mirrored (heatmaps flipped
   back with the flip pairs and shifted one pixel) and averaged;
3. heatmaps decoded (argmax + quarter-pixel shift), mapped back to image pixels;
4. each pose rescored: box score x mean of its keypoint scores above `kpt_score_thr`;
5. OKS-NMS per image at `nms_thr` (areas of the padded boxes, as mmpose's top-down
   models report them);
6. the COCO keypoint results file written atomically, scored by pycocotools.

PoseTrack18 (the paper's PoseTrack18 protocol): ground-truth boxes; a single-frame model on
every person, or a video schedule along each track (the key model on the track's first
box and every T + 1-th one after it, the frame models in between with the previous
heatmaps warped into the current crop); results in the ground truth's own per-video
format, scored by `vipnas_tf.metrics.posetrack_eval`.

Bad input: a detection naming an image not in the ground truth, or a malformed one, is
an error naming the file and the entry; an image with no box left, a detected box that
sticks out of its image (kept, as mmpose does) or lies wholly outside it (skipped), and
an image that cannot be decoded (its persons skipped) are counted in the returned
"skipped" dict and named in "skipped_entries" and in the log. Nothing is written until every result is computed.

The model comes in as a `Predictor` of plain callables: this module runs no model code.
"""
import collections
import dataclasses
import logging
import os
import shutil
import tempfile
from typing import Callable, Optional, Tuple

import numpy as np
from tqdm import tqdm

from vipnas_tf.codecs.affine import get_affine_matrix, keypoints_crop_to_image
from vipnas_tf.codecs.dataset_info import require_same_layout
from vipnas_tf.codecs.heatmap import HeatmapCodec
from vipnas_tf.data.coco import PERSON_CATEGORY_ID, load_coco, load_detections
from vipnas_tf.data.posetrack import PoseTrackData
from vipnas_tf.data.samples import SampleSet
from vipnas_tf.data.transforms import normalize_images_np
from vipnas_tf.evaluation.posetrack import PoseTrackEvaluator
from vipnas_tf.evaluation.topdown import load_eval_crops, predict_keypoints
from vipnas_tf.metrics.coco_eval import (
    coco_keypoint_eval,
    load_coco_gt,
    make_keypoint_results,
    oks_nms,
    write_coco_results,
)
from vipnas_tf.metrics.posetrack_eval import write_posetrack_results

log = logging.getLogger(__name__)

METRICS = ("coco", "posetrack")
# How many skipped entries of each kind the returned dict names (all are logged).
MAX_NAMED = 50


@dataclasses.dataclass
class EvaluationConfig:
    """What to evaluate on and how (the defaults are mmpose's ViPNAS COCO test settings).

    Attributes:
      ann: COCO keypoints ground truth (metric "coco"), or a PoseTrack18 annotation
        file or folder of per-video files ("posetrack").
      images: the folder the ground truth's `file_name`s are relative to.
      output: the results file (COCO; PoseTrack with a single annotation file) or
        folder of per-video files (PoseTrack with an annotation folder).
      metric: "coco" or "posetrack".
      detections: COCO detection results file ({image_id, category_id, bbox, score}
        list) for COCO; None: the ground-truth boxes.
      flip_test: average with the prediction on the mirrored crop.
      shift_heatmap: shift the flipped-back heatmaps one pixel (mmpose `shift_heatmap`).
      bbox_thr: drop detections scoring below this (mmpose `det_bbox_thr`).
      nms_thr: OKS-NMS threshold per image (mmpose `oks_thr`; 1.0 keeps every pose).
      kpt_score_thr: keypoints scoring above this count in the rescoring (`vis_thr`).
      padding: box padding.
      batch_size: persons per call of the model.
      progress: progress bars on stderr.
    """

    ann: str
    images: str
    output: str
    metric: str = "coco"
    detections: Optional[str] = None
    flip_test: bool = False
    shift_heatmap: bool = True
    bbox_thr: float = 0.0
    nms_thr: float = 0.9
    kpt_score_thr: float = 0.2
    padding: float = 1.25
    batch_size: int = 32
    progress: bool = True

    def __post_init__(self):
        if self.metric not in METRICS:
            raise ValueError(f"EvaluationConfig.metric: {self.metric!r} is not one of {list(METRICS)}")
        for name in ("ann", "images", "output"):
            if not getattr(self, name):
                raise ValueError(f"EvaluationConfig.{name} is required")
        for name in ("ann", "images"):
            if not os.path.exists(getattr(self, name)):
                raise FileNotFoundError(f"EvaluationConfig.{name}: {getattr(self, name)} does not exist")
        if self.detections is not None and not os.path.isfile(self.detections):
            raise FileNotFoundError(f"EvaluationConfig.detections: {self.detections} does not exist")
        if self.detections is not None and self.metric == "posetrack":
            raise ValueError(f"EvaluationConfig.detections={self.detections}: PoseTrack18 is evaluated on "
                             "the ground-truth boxes (the paper's protocol); leave detections out")
        if not 0.0 < self.nms_thr <= 1.0:
            raise ValueError(f"EvaluationConfig.nms_thr must be in (0, 1], got {self.nms_thr}")
        if not 0.0 <= self.kpt_score_thr < 1.0:
            raise ValueError(f"EvaluationConfig.kpt_score_thr must be in [0, 1), got {self.kpt_score_thr}")
        if self.padding <= 0 or self.batch_size < 1:
            raise ValueError(f"EvaluationConfig: padding ({self.padding}) must be > 0 and batch_size "
                             f"({self.batch_size}) >= 1")


@dataclasses.dataclass
class Predictor:
    """The model `run_evaluation` runs, as plain callables.

    Attributes:
      input_size: (H, W) of the crops.
      predict_fn: single-frame model: ImageNet-normalised RGB crops float32 [n, H, W, 3]
        -> heatmaps [n, h, w, K] (numpy or tf).
      track_fn: video schedule (PoseTrack only): the normalised crops [n, H, W, 3] of one
        track's frames in frame order and their crop affines [n, 2, 3] (image -> crop
        pixels) -> heatmaps [n, h, w, K].
      keypoint_layout: "coco" | "posetrack18" of the heatmap channels; a ground truth
        of another layout is refused. None: not checked.
      source: what the model is, for messages (its model_dir, a schedule).
      codec: HeatmapCodec of the heatmaps (default: input_size / 4).
    """

    input_size: Tuple[int, int]
    predict_fn: Optional[Callable] = None
    track_fn: Optional[Callable] = None
    keypoint_layout: Optional[str] = None
    source: str = "the model"
    codec: Optional[HeatmapCodec] = None

    def __post_init__(self):
        self.input_size = (int(self.input_size[0]), int(self.input_size[1]))
        if (self.predict_fn is None) == (self.track_fn is None):
            raise ValueError(f"Predictor of {self.source}: give exactly one of predict_fn and track_fn")
        self.codec = self.codec or HeatmapCodec(self.input_size)


class _Skips:
    """Counted, named skips of one evaluation."""

    def __init__(self):
        self.counts = collections.OrderedDict()
        self.entries = collections.OrderedDict()

    def add(self, kind, entry):
        self.counts[kind] = self.counts.get(kind, 0) + 1
        named = self.entries.setdefault(kind, [])
        if len(named) < MAX_NAMED:
            named.append(entry)
        log.warning("%s: %s", kind, entry)

    def summary(self):
        return {"skipped": dict(self.counts), "skipped_entries": {k: list(v) for k, v in self.entries.items()}}


def run_evaluation(config: EvaluationConfig, predictor: Predictor) -> dict:
    """Runs `predictor` over the evaluation set of `config`, writes and scores the results.

    Returns:
      The metric table (COCO: AP, AP50, AP75, APm, APl, AR, AR50, AR75, ARm, ARl in
      0..1 and num_results; PoseTrack: Head ... Ankle, Total in percent and per_joint)
      plus "metric", "output" (the written path(s)), "num_persons" (persons run
      through the model), "skipped" ({kind: count}) and "skipped_entries" ({kind:
      names of the first entries}).

    Raises:
      ValueError / FileNotFoundError naming the file and the entry for bad input;
      LayoutMismatchError when the model's keypoint layout is not the ground truth's.
    """
    if predictor.track_fn is not None:
        if config.metric != "posetrack":
            raise ValueError(f"{predictor.source} is a video schedule: it is evaluated on PoseTrack18 "
                             "tracks (metric 'posetrack'), not on COCO images")
        if config.flip_test:
            raise ValueError(f"flip_test is for single-frame models; {predictor.source} is a video "
                             "schedule (its frame models take the previous frame's heatmaps)")
    if config.metric == "coco":
        return _run_coco(config, predictor)
    return _run_posetrack(config, predictor)


# ------------------------------------------------------------------------------ COCO


def _box_inside(bbox, width, height):
    """"inside" | "partly" | "outside" of an (x, y, w, h) box and a width x height image
    (sizes 0: unknown, "inside"); a box of no area is "outside"."""
    x, y, w, h = (float(v) for v in bbox)
    if w <= 0 or h <= 0:
        return "outside"
    if not (width and height):
        return "inside"
    if x >= width or y >= height or x + w <= 0 or y + h <= 0:
        return "outside"
    return "inside" if x >= 0 and y >= 0 and x + w <= width and y + h <= height else "partly"


def _read_detections(path, images, ann_file, bbox_thr, skips):
    """The person detections of `path` to run, checked and thresholded.

    A box partly outside its image is kept as it is (mmpose crops it with a black
    border) and named; one wholly outside it (or of no area) is skipped and named.
    """
    dets, path = load_detections(path)
    kept, unknown = [], []
    for i, d in enumerate(dets):
        bbox = d["bbox"]
        if d.get("category_id", PERSON_CATEGORY_ID) != PERSON_CATEGORY_ID:
            continue
        img = images.get(d["image_id"])
        if img is None:
            unknown.append(d["image_id"])
            continue
        if d["score"] < bbox_thr:
            skips.add("below_bbox_thr", f"detection #{i} (image_id {d['image_id']}, score {d['score']:.3g})")
            continue
        where = _box_inside(bbox, img.get("width", 0), img.get("height", 0))
        if where != "inside":
            skips.add("box_outside_image" if where == "outside" else "box_partly_outside_image",
                      f"detection #{i} (image_id {d['image_id']}, {img['file_name']} "
                      f"{img.get('width', '?')}x{img.get('height', '?')}): bbox {[round(v, 2) for v in bbox]}")
            if where == "outside":
                continue
        kept.append({"image_id": d["image_id"], "bbox": [float(v) for v in bbox], "score": float(d["score"]),
                     "index": i})
    if unknown:
        raise ValueError(f"{path}: {len(unknown)} detections name image ids not in {ann_file}: "
                         f"{sorted(set(unknown))[:20]}")
    return kept


def _detection_samples(detections, images, image_root, info, source):
    """SampleSet of detection rows in image id order, each image's boxes by descending
    score (ties in file order)."""
    rows = []
    for d in sorted(detections, key=lambda d: (d["image_id"], -d["score"], d["index"])):
        img = images[d["image_id"]]
        rows.append({"image_path": os.path.join(os.fspath(image_root), img["file_name"]),
                     "image_id": img["id"], "bbox": d["bbox"], "bbox_score": d["score"],
                     "image_size": (int(img.get("height", 0) or 0), int(img.get("width", 0) or 0))})
    return SampleSet.from_rows(rows, info, source=source)


def _readable_rows(samples, unreadable, skips):
    """Boolean mask of the rows whose image could be read; counts the others."""
    bad = set(unreadable)
    for path in sorted(bad):
        rows = int(sum(p == path for p in samples.image_paths))
        skips.add("unreadable_image", f"{path} (cannot be decoded; {rows} person(s) not run)")
    return np.array([p not in bad for p in samples.image_paths], bool)


def _rescore_and_nms(samples, keypoints, scores, scales, config):
    """Rows kept by per-image OKS-NMS on the rescored poses (mmpose's order of things)."""
    good = scores > config.kpt_score_thr
    quality = np.where(good.any(1), (scores * good).sum(1) / np.maximum(good.sum(1), 1), 0.0)
    pose_scores = samples.bbox_scores * quality
    areas = scales[:, 0] * scales[:, 1]  # the padded box, as mmpose's TopDown reports `area`
    kept = []
    for image_id in np.unique(samples.image_ids):
        rows = np.flatnonzero(samples.image_ids == image_id)
        kept.extend(rows[oks_nms(keypoints[rows], pose_scores[rows], areas[rows], samples.info.sigmas,
                                 config.nms_thr)])
    return np.sort(np.asarray(kept, np.int64))


def _run_coco(config, predictor):
    skips = _Skips()
    coco_gt = load_coco_gt(config.ann)
    data = coco_gt.dataset
    images = {img["id"]: img for img in data["images"]}
    detections = None
    if config.detections is not None:
        detections = _read_detections(config.detections, images, config.ann, config.bbox_thr, skips)
        with_boxes = {d["image_id"] for d in detections}
        for image_id in sorted(set(images) - with_boxes):
            skips.add("image_without_boxes", f"image_id {image_id} ({images[image_id]['file_name']}): "
                      f"no person box in {config.detections}"
                      + (f" scoring >= bbox_thr {config.bbox_thr}" if config.bbox_thr > 0 else ""))
    samples = load_coco(config.ann, config.images, data=data)  # ground-truth boxes
    if detections is not None:
        samples = _detection_samples(detections, images, config.images, samples.info, config.ann)
    if predictor.keypoint_layout is not None:
        require_same_layout(predictor.keypoint_layout, predictor.source, samples.info.name,
                            f"the evaluation set {config.ann}", what="evaluate")
    unreadable = []
    crops, centers, scales = load_eval_crops(samples, predictor.input_size, config.padding,
                                             unreadable=unreadable, progress=config.progress)
    ok = _readable_rows(samples, unreadable, skips)
    samples, crops, centers, scales = samples.select(ok), crops[ok], centers[ok], scales[ok]
    keypoints, scores = predict_keypoints(
        predictor.predict_fn, crops, centers, scales, predictor.codec, config.batch_size, config.flip_test,
        samples.info.flip_pairs, config.shift_heatmap, config.progress)
    keep = _rescore_and_nms(samples, keypoints, scores, scales, config) if len(samples) else np.zeros(0, np.int64)
    results = make_keypoint_results(samples.image_ids[keep], keypoints[keep], scores[keep],
                                    samples.bbox_scores[keep], score_threshold=config.kpt_score_thr)
    sigmas = None if samples.info.num_keypoints == 17 else samples.info.sigmas
    table = coco_keypoint_eval(coco_gt, results, sigmas=sigmas, image_ids=sorted(images), name=config.output)
    write_coco_results(config.output, results)
    return {"metric": "coco", **table, "output": os.fspath(config.output), "num_persons": int(len(samples)),
            **skips.summary()}


# ------------------------------------------------------------------------- PoseTrack


def _track_rows(data, rows):
    """Sample rows grouped by (video, track), each in frame order."""
    video_of = {frame.image_id: video.vid_id for video in data.videos for frame in video.frames}
    tracks = collections.OrderedDict()
    s = data.samples
    for r in rows:  # samples are in video / frame order
        tracks.setdefault((video_of[int(s.image_ids[r])], int(s.track_ids[r])), []).append(int(r))
    return list(tracks.values())


def _predict_tracks(predictor, ev, rows, progress):
    """Keypoints [len(rows), K, 2] / scores of `rows`, the schedule run along each track."""
    k = ev.samples.info.num_keypoints
    keypoints = np.zeros((len(rows), k, 2), np.float32)
    scores = np.zeros((len(rows), k), np.float32)
    where = {r: i for i, r in enumerate(rows)}
    size = predictor.input_size
    for track in tqdm(_track_rows(ev.data, rows), desc="tracks", unit="track", disable=not progress, leave=False):
        matrices = np.stack([get_affine_matrix(ev.centers[r], ev.scales[r], 0.0, size) for r in track])
        heat = predictor.track_fn(normalize_images_np(ev.crops[track]), matrices.astype(np.float32))
        heat = np.asarray(heat.numpy() if hasattr(heat, "numpy") else heat, np.float32)
        if heat.shape[:3] != (len(track),) + tuple(predictor.codec.heatmap_size):
            raise ValueError(f"{predictor.source}: track_fn returned heatmaps {heat.shape} for {len(track)} "
                             f"frames, expected [{len(track)}, {predictor.codec.heatmap_size}, K]")
        kp_crop, sc = predictor.codec.decode(heat)
        idx = [where[r] for r in track]
        keypoints[idx] = keypoints_crop_to_image(kp_crop, ev.centers[track], ev.scales[track], size)
        scores[idx] = sc
    return keypoints, scores


def _write_results_folder(out_dir, gt, annotations):
    """Per-video files written into a fresh sibling folder, then moved in one by one
    (each move atomic), so that a failure leaves no partial output."""
    out_dir = os.fspath(out_dir)
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".results-", dir=parent)
    try:
        written = write_posetrack_results(staging, gt, annotations)
        os.makedirs(out_dir, exist_ok=True)
        final = []
        for path in written:
            target = os.path.join(out_dir, os.path.basename(path))
            os.replace(path, target)
            final.append(target)
        return final
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _run_posetrack(config, predictor):
    skips = _Skips()
    data = PoseTrackData(config.ann, config.images)
    unreadable = []
    ev = PoseTrackEvaluator(config.ann, config.images, predictor.input_size, codec=predictor.codec,
                            padding=config.padding, data=data, keypoint_layout=predictor.keypoint_layout,
                            model_source=predictor.source, unreadable=unreadable, progress=config.progress)
    rows = np.flatnonzero(_readable_rows(ev.samples, unreadable, skips))
    if predictor.track_fn is not None:
        keypoints, scores = _predict_tracks(predictor, ev, rows, config.progress)
    else:
        keypoints, scores = predict_keypoints(
            predictor.predict_fn, ev.crops[rows], ev.centers[rows], ev.scales[rows], predictor.codec,
            config.batch_size, config.flip_test, ev.samples.info.flip_pairs, config.shift_heatmap,
            config.progress)
    table = ev.score(keypoints, scores, rows=rows)
    anns = ev.annotations(keypoints, scores, rows)
    if ev.gt.is_folder:
        written = _write_results_folder(config.output, ev.gt, anns)
    else:
        written = write_posetrack_results(config.output, ev.gt, anns)
    return {"metric": "posetrack", **table, "output": written if ev.gt.is_folder else written[0],
            "num_persons": int(len(rows)), **skips.summary()}
