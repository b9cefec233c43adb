# Over 450 lines for one idea: the online runner's per-person state (tracks, key-frame cycle, warp, results) is one loop.
"""Online video pose estimation with a ViPNAS schedule (paper Sec. 3.1, Fig. 2).

Each tracked person runs the key-frame S-ViPNet every T + 1 frames and the T
propagation networks (T-ViPNets) in between, each fed with the heatmaps of the same
person's previous frame. Frames are processed one by one, online: nothing looks
ahead.

Person boxes:
- from a boxes file (`vipnas_tf.runtime.boxes`): per frame, the boxes are associated
  with the previous frame's tracks by IoU (greedy, `iou_threshold`); a matched track
  goes on, an unmatched box starts a new track (with a key frame: there are no
  previous heatmaps), an unmatched track ends;
- without one, from each track's previous pose: the box of its confident keypoints
  (score >= `keypoint_threshold`, at least `min_keypoints`), enlarged by
  `box_enlarge`, its size changing by at most `max_scale_change` per frame; when the
  pose is not confident the box stays where it was, and after
  `reset_after` such frames in a row the track restarts from its initial box with a
  key frame. The tracks start from the given first boxes, else the whole frame;
- with a person detector (`vipnas_tf.runtime.detector`, e.g. OpenCV's HOG): detected
  boxes start the tracks on the first frame (and on every frame while nobody is
  tracked); each track then follows its keypoints as above, and a lost track is
  dropped and the detector looks again (its new boxes that overlap a live track
  by `iou_threshold` are ignored); with `redetect_every` it also looks every that
  many frames and moves the tracks onto its boxes.

Every track's cycle starts with a key frame when the track starts, so with tracks that
live from the first frame the key frames are frames 0, T+1, 2(T+1), ...

Previous heatmaps are warped into the current crop (`vipnas_tf.temporal.warp`, from
the two crops' affines: the same function as training and clip evaluation; an unmoved
box gives the identity warp). All tracks at the same cycle position run as one batch
through that position's network.

Output: PoseTrack results ({"images", "annotations", "categories"}; `image_id` =
frame index, one annotation per frame per tracked person with `track_id`,
`keypoints` [x, y, 1] * K in image pixels and per-joint `scores`); frames without a
person have no annotation. An optional overlay video shows skeletons and boxes.

Timing (`summary`): `fps` counts frames per second of the pipeline's own work
(crop, networks, decode, tracking), `model_fps` of the network calls alone, and
`wall_fps` of everything including video decoding and overlay writing. With a
detector, its time is part of the pipeline's (`detector_share` of it). The networks'
one-off tracing is done before the clock starts (`warmup_seconds`).
"""
import dataclasses
import os
import time
from typing import Optional, Sequence

import cv2
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from vipnas_tf.arch.space import get_space
from vipnas_tf.codecs.affine import bbox_xywh_to_center_scale, get_affine_matrix, keypoints_crop_to_image
from vipnas_tf.codecs.dataset_info import DATASET_INFOS, require_same_layout
from vipnas_tf.codecs.heatmap import HeatmapCodec
from vipnas_tf.data.transforms import normalize_images_np, warp_crop
from vipnas_tf.runtime import tracking
from vipnas_tf.runtime.detector import TimedDetector
from vipnas_tf.runtime.tracking import Track, parse_box  # noqa: F401  (re-exported)
from vipnas_tf.temporal.warp import warp_previous_heatmaps
from vipnas_tf.utils import io as io_utils

_COLORS = [(0, 200, 255), (255, 120, 0), (80, 220, 80), (255, 0, 200), (0, 120, 255), (200, 200, 0)]


@dataclasses.dataclass(frozen=True)
class RunnerConfig:
    """Settings of the video runner (see the module docstring).

    Attributes:
      keypoint_threshold: a keypoint with this score or more is confident (keypoint
        boxes) and is drawn.
      min_keypoints: confident keypoints needed for a keypoint box.
      box_enlarge: keypoint box enlargement (before the crop's usual padding).
      padding: crop padding of a box (1.25, as in training).
      iou_threshold: box-to-track association threshold (boxes file).
      reset_after: keypoint tracking: frames without a confident pose before the
        track restarts from its initial box (None: 2 (T + 1)).
      max_scale_change: keypoint tracking: a new box's width and height stay within
        this factor of the previous box's (one wrong pose cannot collapse the box).
      min_box_size: keypoint tracking: smallest box side in pixels.
      keypoint_format: "posetrack18" or "coco": keypoint names of the results (None:
        the schedule's `keypoint_layout`, else "posetrack18"); a format other than the
        schedule's layout is refused.
      max_detections: a person detector's best boxes used per detection (new tracks).
      redetect_every: with a person detector, also detect every this many frames: a
        detection re-anchors the track it overlaps (IoU, else the track box holding its
        centre), so a track whose keypoints drift comes back to its person; None: only
        on the first frame, while nobody is tracked and when a track is lost.
    """

    keypoint_threshold: float = 0.3
    min_keypoints: int = 4
    box_enlarge: float = 1.2
    padding: float = 1.25
    iou_threshold: float = 0.3
    reset_after: Optional[int] = None
    max_scale_change: float = 1.5
    min_box_size: float = 16.0
    keypoint_format: Optional[str] = None
    max_detections: int = 10
    redetect_every: Optional[int] = None
    min_anchor_iou: Optional[float] = 0.3

    def __post_init__(self):
        if self.keypoint_format is not None and self.keypoint_format not in DATASET_INFOS:
            raise ValueError(f"keypoint_format={self.keypoint_format!r}: expected one of {sorted(DATASET_INFOS)}")


class VideoPoseRunner:
    """Runs a schedule's networks over a frame source.

    Args:
      schedule: the `Schedule`.
      models: its `ScheduleModels` (`load_schedule_models`).
      config: `RunnerConfig`.

    Example:
      >>> schedule = Schedule.load("out/schedule.json")
      >>> runner = VideoPoseRunner(schedule, load_schedule_models(schedule))
      >>> result = runner.run(FrameSource(video="clip.mp4"), output_video="overlay.mp4")
      >>> result["summary"]["fps"], len(result["annotations"])
    """

    def __init__(self, schedule, models, config=RunnerConfig()):
        self.schedule = schedule
        self.models = models
        self.config = config
        self.input_size = tuple(schedule.input_size)
        self.codec = HeatmapCodec(self.input_size)
        layout = schedule.check_model_layouts(required=False)
        if layout is not None and config.keypoint_format is not None:
            require_same_layout(layout, f"the schedule {getattr(schedule, '_source', None) or ''}".strip(),
                                config.keypoint_format, "keypoint_format (the results' keypoint names)",
                                what="name the keypoints")
        self.keypoint_format = config.keypoint_format or layout or "posetrack18"
        self.info = DATASET_INFOS[self.keypoint_format]
        desc = schedule.describe()
        self.position_gflops = [desc["key"]["paper_gflops"]] + [f["paper_gflops"] for f in desc["frames"]]
        self.cycle = schedule.num_frames + 1
        self.reset_after = config.reset_after or 2 * self.cycle
        k = get_space(schedule.space).num_keypoints
        if k != self.info.num_keypoints:
            raise ValueError(f"the schedule's networks predict {k} keypoints, keypoint_format="
                             f"{self.keypoint_format!r} has {self.info.num_keypoints}")
        input_size = self.input_size
        # One trace (batch = tracks at a cycle position); no Python control flow to convert.
        self._warp = tf.function(lambda hm, prev_m, cur_m: warp_previous_heatmaps(hm, prev_m, cur_m, input_size),
                                 reduce_retracing=True, autograph=False)

    # ---- one frame -------------------------------------------------------------------------
    def _crop(self, frame, box):
        center, scale = bbox_xywh_to_center_scale(np.asarray(box, np.float32), self.input_size, self.config.padding)
        matrix = get_affine_matrix(center, scale, 0.0, self.input_size)
        crop = warp_crop(frame, matrix, self.input_size)[..., ::-1]  # BGR -> RGB
        return crop, center, scale, matrix.astype(np.float32)

    def _previous_heatmaps(self, tracks, matrices):
        """The tracks' last heatmaps warped from their last crops into the current ones."""
        prev = np.stack([t.heatmaps for t in tracks]).astype(np.float32)
        prev_m = np.stack([t.crop_matrix for t in tracks])
        return self._warp(prev, prev_m, np.stack(matrices)).numpy()

    def _run_networks(self, tracks, crops, matrices, stats):
        """Runs every track through the network of its cycle position; returns heatmaps."""
        heatmaps = [None] * len(tracks)
        by_position = {}
        for i, t in enumerate(tracks):
            if t.heatmaps is None:
                t.position = 0  # nothing to propagate: key frame
            by_position.setdefault(t.position, []).append(i)
        for position, rows in sorted(by_position.items()):
            images = normalize_images_np(np.stack([crops[i] for i in rows]))
            start = time.perf_counter()
            if position == 0:
                out = self.models.key(images)
            else:
                prev = self._previous_heatmaps([tracks[i] for i in rows], [matrices[i] for i in rows])
                out = self.models.frames[position - 1](images, prev)
            stats["model_seconds"] += time.perf_counter() - start
            stats["calls"][position] += 1
            stats["poses"][position] += len(rows)
            for k, i in enumerate(rows):
                heatmaps[i] = out[k]
        return heatmaps

    def _boxes_for_frame(self, tracks, dets, initial, next_id, frame_size, frame=None, detector=None, index=0):
        """The tracks of this frame and their crop boxes (see the module docstring)."""
        if dets is not None:
            pairs, new = tracking.match_boxes([t.box for t in tracks], dets[:, :4], self.config.iou_threshold)
            kept = []
            for i, j in pairs:
                tracks[i].box = dets[j, :4].copy()
                kept.append(tracks[i])
            for j in new:
                kept.append(Track(next_id(), dets[j, :4].copy()))
            return kept
        if not tracks and detector is None:
            return [Track(next_id(), b.copy()) for b in initial]
        kept, lost, drifted = [], 0, 0
        for i, t in enumerate(tracks):
            if t.keypoints is not None:
                box = tracking.box_from_pose(t.keypoints, t.scores, self.config.keypoint_threshold,
                                             self.config.min_keypoints, self.config.box_enlarge, frame_size)
                if box is not None:
                    t.box, t.missed = self._limit_change(t.box, box, frame_size), 0
                    if (detector is not None and t.anchor is not None and self.config.min_anchor_iou
                            and tracking.iou(t.box, t.anchor)[0, 0] < self.config.min_anchor_iou):
                        drifted += 1  # the pose has left the detector's box: ask the detector
                    kept.append(t)
                    continue
                t.missed += 1
            if t.missed >= self.reset_after:  # lost
                if detector is not None:  # the detector looks for the person again below
                    lost += 1
                    continue
                t.box, t.missed, t.heatmaps, t.position = initial[i].copy(), 0, None, 0  # from the initial box
            kept.append(t)
        redetect = bool(drifted) or (detector is not None and self.config.redetect_every and index > 0
                                     and index % self.config.redetect_every == 0)
        if detector is not None and (lost or not kept or redetect):
            found = detector.detect(frame)[: self.config.max_detections]
            if not redetect:
                _, new = tracking.match_boxes([t.box for t in kept], found[:, :4], self.config.iou_threshold)
            else:  # the detector's boxes re-anchor the tracks they match (by their last detected box, else now)
                ref = [t.anchor if t.anchor is not None else t.box for t in kept]
                pairs, new = tracking.match_boxes(ref, found[:, :4], self.config.iou_threshold)
                matched = {i: j for i, j in pairs}
                for j in list(new):  # a drifted track box still holds its person's centre
                    centre = found[j, :2] + found[j, 2:4] / 2
                    for i, t in enumerate(kept):
                        if i not in matched and np.all(centre >= t.box[:2]) and np.all(centre <= t.box[:2] + t.box[2:]):
                            matched[i] = j
                            new.remove(j)
                            break
                for i, j in matched.items():
                    kept[i].box, kept[i].missed = tracking.clip_box(found[j, :4], frame_size), 0
                    kept[i].anchor = kept[i].box.copy()
                if len(found):  # the detector sees people: tracks it does not confirm end
                    kept = [t for i, t in enumerate(kept) if i in matched]
                else:  # it sees nobody: drifted tracks go back to their last detected box
                    for t in kept:
                        if t.anchor is not None and tracking.iou(t.box, t.anchor)[0, 0] < self.config.min_anchor_iou:
                            t.box = t.anchor.copy()
            for j in new:
                box = tracking.clip_box(found[j, :4], frame_size)
                kept.append(Track(next_id(), box, anchor=box.copy()))
        return kept

    def _limit_change(self, old, new, frame_size, factor=None):
        """`new` with its size kept within `factor` (max_scale_change) of `old` and above
        min_box_size, about its own centre, clipped to the frame."""
        f = factor or self.config.max_scale_change
        centre = new[:2] + new[2:] / 2
        size = np.clip(new[2:], old[2:] / f, old[2:] * f)
        size = np.maximum(size, self.config.min_box_size)
        box = np.concatenate([centre - size / 2, size]).astype(np.float32)
        clipped = tracking.clip_box(box, frame_size)
        return clipped if clipped[2] > 1 and clipped[3] > 1 else old

    # ---- the whole video -----------------------------------------------------------------------
    def warmup(self):
        """Traces every network once (batch 1) so that timing excludes tracing."""
        h, w = self.input_size
        k = self.info.num_keypoints
        start = time.perf_counter()
        x = np.zeros((1, h, w, 3), np.float32)
        self.models.key(x)
        hm = np.zeros((1, h // 4, w // 4, k), np.float32)
        for f in self.models.frames:
            f(x, hm)
        eye = np.eye(2, 3, dtype=np.float32)[None]
        self._warp(hm, eye, eye)
        return time.perf_counter() - start

    def run(self, source, boxes=None, first_boxes: Optional[Sequence] = None, output_video=None, progress=False,
            detector=None):
        """Processes `source` (a FrameSource).

        Args:
          boxes: dict frame -> [n, 5] boxes (`load_boxes`), or None for keypoint tracking.
          first_boxes: initial boxes [(x, y, w, h), ...] for keypoint tracking (default
            the whole frame). Not allowed with `boxes` or `detector`.
          detector: a person detector (`vipnas_tf.runtime.detector`): run on the first
            frame, on every frame while nobody is tracked, and when a track is lost;
            its boxes start new tracks that then follow their keypoints.
          output_video: optional overlay video path (.mp4 / .avi), written atomically.
          progress: show a tqdm bar.

        Returns:
          {"images", "annotations", "categories" (PoseTrack results), "summary"}.
        """
        if boxes is not None and first_boxes:
            raise ValueError("first boxes and a boxes file are exclusive (the boxes file gives every frame's boxes)")
        if detector is not None and (boxes is not None or first_boxes):
            raise ValueError("a person detector is used without a boxes file and without first boxes")
        if detector is not None:
            detector = TimedDetector(detector)
        frame_size = source.frame_size
        if first_boxes:
            initial = [parse_box(",".join(str(v) for v in b), frame_size) for b in first_boxes]
        else:
            initial = [np.array([0, 0, frame_size[0], frame_size[1]], np.float32)]
        warmup = self.warmup()
        counter = iter(range(1, 1 << 30))
        next_id = lambda: next(counter)  # noqa: E731
        stats = {"model_seconds": 0.0, "calls": [0] * self.cycle, "poses": [0] * self.cycle}
        writer = _OverlayWriter(output_video, source.fps, frame_size) if output_video else None
        images, annotations, tracks = [], [], []
        empty, unreadable, work_seconds = [], [], 0.0
        n_expected = source.num_frames
        bar = None
        if progress:
            bar = tqdm(total=n_expected, desc="video", unit="frame")
        wall_start = time.perf_counter()
        processed = 0
        try:
            for index, frame, name in source:
                processed += 1
                images.append({"id": index, "file_name": name, "frame_id": index, "nframes": n_expected,
                               "is_labeled": True})
                if bar is not None:
                    bar.update(1)
                if frame is None:
                    unreadable.append(index)
                    empty.append(index)
                    if writer is not None:  # keep the overlay in step with the source
                        writer.write(np.zeros((frame_size[1], frame_size[0], 3), np.uint8))
                    continue
                start = time.perf_counter()
                dets = None
                if boxes is not None:
                    dets = boxes.get(index, np.zeros((0, 5), np.float32))
                tracks = self._boxes_for_frame(tracks, dets, initial, next_id, frame_size, frame, detector, index)
                frame_anns = []
                if tracks:
                    crops, centers, scales, matrices = zip(*(self._crop(frame, t.box) for t in tracks))
                    heatmaps = self._run_networks(tracks, crops, matrices, stats)
                    hm = np.stack(heatmaps)
                    kps, scores = self.codec.decode(hm)
                    kps = keypoints_crop_to_image(kps, np.stack(centers), np.stack(scales), self.input_size)
                    for i, t in enumerate(tracks):
                        used = t.position
                        t.heatmaps, t.center, t.scale = heatmaps[i], centers[i], scales[i]
                        t.crop_matrix = matrices[i]
                        t.keypoints, t.scores = kps[i], scores[i]
                        t.position = (t.position + 1) % self.cycle
                        frame_anns.append(_annotation(len(annotations) + len(frame_anns) + 1, index, t, used))
                else:
                    empty.append(index)
                work_seconds += time.perf_counter() - start
                annotations.extend(frame_anns)
                if writer is not None:
                    writer.write(_draw(frame, frame_anns, self.info, self.config.keypoint_threshold, index))
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        finally:
            if bar is not None:
                bar.close()
        if writer is not None:
            writer.close()
        wall = time.perf_counter() - wall_start
        for a in annotations:
            a.pop("_position", None)
        poses = sum(stats["poses"])
        gflops = sum(n * g for n, g in zip(stats["poses"], self.position_gflops))
        summary = {
            "frames": processed,
            "frames_with_people": processed - len(empty),
            "empty_frames": len(empty),
            "unreadable_frames": unreadable,
            "poses": len(annotations),
            "tracks": len({a["track_id"] for a in annotations}),
            "key_frame_poses": stats["poses"][0],
            "propagated_poses": poses - stats["poses"][0],
            "poses_per_position": stats["poses"],
            "network_calls": sum(stats["calls"]),
            "fps": round(processed / work_seconds, 2) if work_seconds > 0 else None,
            "model_fps": round(processed / stats["model_seconds"], 2) if stats["model_seconds"] > 0 else None,
            "wall_fps": round(processed / wall, 2) if wall > 0 else None,
            "seconds": round(wall, 3),
            "warmup_seconds": round(warmup, 3),
            "num_frames": self.schedule.num_frames,
            "key_frame_interval": self.cycle,
            "schedule_avg_gflops": self.schedule.avg_gflops,
            "avg_gflops_per_pose": round(gflops / poses, 4) if poses else None,
            "input_size": list(self.input_size),
            "weights": self.models.weights,
            "box_source": ("boxes_file" if boxes is not None else
                           f"detector:{detector.name}" if detector is not None else "keypoints"),
        }
        if detector is not None:
            summary.update(detector=detector.name, detector_calls=detector.calls,
                           detector_seconds=round(detector.seconds, 3),
                           detector_share=round(detector.seconds / work_seconds, 3) if work_seconds > 0 else None)
        categories = [{"id": 1, "name": "person", "supercategory": "person",
                       "keypoints": list(self.info.keypoint_names),
                       "skeleton": [[a + 1, b + 1] for a, b in self.info.skeleton]}]
        return {"images": images, "annotations": annotations, "categories": categories, "summary": summary}


def write_results(path, result):
    """Writes the PoseTrack results part of `run`'s result atomically."""
    io_utils.write_json(path, {k: result[k] for k in ("images", "annotations", "categories")}, indent=None)
    return os.fspath(path)


def _annotation(ann_id, index, track, position):
    kp = np.concatenate([track.keypoints, np.ones((len(track.keypoints), 1), np.float32)], axis=1)
    return {
        "id": int(ann_id), "image_id": int(index), "track_id": int(track.track_id), "category_id": 1,
        "bbox": [round(float(v), 2) for v in track.box],
        "keypoints": [round(float(v), 2) for v in kp.ravel()],
        "scores": [round(float(s), 4) for s in track.scores],
        "score": round(float(np.mean(track.scores)), 4),
        "_position": int(position),
    }


def _draw(frame, anns, info, threshold, index):
    img = frame.copy()
    for a in anns:
        color = _COLORS[a["track_id"] % len(_COLORS)]
        kp = np.asarray(a["keypoints"], np.float32).reshape(-1, 3)[:, :2]
        sc = np.asarray(a["scores"], np.float32)
        for i, j in info.skeleton:
            if sc[i] >= threshold and sc[j] >= threshold:
                cv2.line(img, tuple(int(v) for v in kp[i]), tuple(int(v) for v in kp[j]), color, 2, cv2.LINE_AA)
        for p, s in zip(kp, sc):
            if s >= threshold:
                cv2.circle(img, (int(p[0]), int(p[1])), 3, (255, 255, 255), -1, cv2.LINE_AA)
        x, y, w, h = (int(v) for v in a["bbox"])
        cv2.rectangle(img, (x, y), (x + w, y + h), color, 1)
        tag = "key" if a["_position"] == 0 else f"T{a['_position']}"
        cv2.putText(img, f"#{a['track_id']} {tag}", (x + 2, max(12, y + 14)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, color, 1,
                    cv2.LINE_AA)
    cv2.putText(img, f"frame {index}", (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return img


class _OverlayWriter:
    """cv2.VideoWriter into a temporary file renamed over `path` on success."""

    def __init__(self, path, fps, frame_size):
        self.path = os.fspath(path)
        root, ext = os.path.splitext(self.path)
        ext = ext.lower() or ".mp4"
        fourcc = {".avi": "MJPG", ".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v"}.get(ext)
        if fourcc is None:
            raise ValueError(f"{self.path}: overlay video must end in .mp4, .m4v, .mov or .avi")
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        self.tmp = os.path.join(directory, f".{os.path.basename(root)}.tmp{ext}")
        self.writer = cv2.VideoWriter(self.tmp, cv2.VideoWriter_fourcc(*fourcc), float(fps), tuple(frame_size))
        if not self.writer.isOpened():
            raise ValueError(f"{self.path}: OpenCV cannot write this video (codec {fourcc})")
        self.frames = 0

    def write(self, img):
        self.writer.write(img)
        self.frames += 1

    def close(self):
        self.writer.release()
        os.replace(self.tmp, self.path)

    def abort(self):
        self.writer.release()
        if os.path.exists(self.tmp):
            os.remove(self.tmp)
