"""Person detectors for online video inference: where the first boxes come from.

The video runner (`vipnas_tf.runtime.video`) asks a detector for person boxes on the
first frame and whenever a track is lost; in between, every person's box follows its
own keypoints. A detector is any object with

  name: str
  detect(frame_bgr uint8 [h, w, 3]) -> float32 [n, 5]   (x, y, w, h, score), best first

Two are built in:

- `HogDetector` ("hog", the default): OpenCV's HOG + linear-SVM people detector
  (Dalal and Triggs, CVPR 2005; `cv2.HOGDescriptor_getDefaultPeopleDetector`). It needs
  no model file. OpenCV 5 ships `HOGDescriptor` only in its contrib build, which is
  why the project depends on `opencv-contrib-python-headless`; with an OpenCV without
  it `HogDetector` raises `DetectorUnavailable` naming the fix. It finds upright,
  whole people of at least ~64x128 pixels; large frames are downscaled first
  (`max_side`) to keep it to a few hundred milliseconds.
- `TfliteDetector` (a path ending in .tflite): any SSD-style detection model with the
  TensorFlow Object Detection API's TFLite signature (e.g. SSD MobileNet exported with
  `TFLite_Detection_PostProcess`):
    input   [1, H, W, 3] RGB, uint8 (0..255) or float32 (scaled to [-1, 1])
    outputs boxes   [1, N, 4] float32 (ymin, xmin, ymax, xmax), normalised to 0..1
            classes [1, N]    float32 class index (`person_class`, 0 for COCO label maps)
            scores  [1, N]    float32 in 0..1
            count   [1]       float32, optional: number of valid rows
  Outputs are told apart by name (containing "box", "class", "score", "num"/"count")
  and otherwise by the Object Detection API's order (boxes, classes, scores, count).

`make_detector("hog" | "none" | "PATH.tflite")` builds one from a flag value.
"""
import os
import time

import cv2
import numpy as np

from vipnas_tf.litert.interpreter import load_interpreter
from vipnas_tf.runtime.tracking import iou


class DetectorUnavailable(ValueError):
    """The detector cannot run here (missing OpenCV module, unreadable model)."""


def _nms(boxes, scores, iou_threshold):
    """Greedy non-maximum suppression of (x, y, w, h) boxes; returns kept indices."""
    order = list(np.argsort(-np.asarray(scores)))
    keep = []
    while order:
        i = order.pop(0)
        keep.append(i)
        if order:
            overlaps = iou(boxes[i:i + 1], boxes[order])[0]
            order = [j for j, o in zip(order, overlaps) if o < iou_threshold]
    return keep


def _as_detections(boxes, scores):
    if len(boxes) == 0:
        return np.zeros((0, 5), np.float32)
    out = np.concatenate([np.asarray(boxes, np.float32).reshape(-1, 4),
                          np.asarray(scores, np.float32).reshape(-1, 1)], axis=1)
    return out[np.argsort(-out[:, 4])]


class HogDetector:
    """OpenCV's HOG people detector.

    Args:
      score_threshold: drop detections whose SVM score is below this.
      max_side: frames whose longer side exceeds this are downscaled before detection
        (boxes are scaled back).
      win_stride, scale: `detectMultiScale` window stride (pixels) and pyramid step.
      nms_iou: overlapping detections above this IoU are merged (best kept).
    """

    name = "hog"

    def __init__(self, score_threshold=0.3, max_side=640, win_stride=8, scale=1.05, nms_iou=0.4):
        cls = getattr(cv2, "HOGDescriptor", None)
        people = getattr(cv2, "HOGDescriptor_getDefaultPeopleDetector", None)
        if cls is None or people is None:
            raise DetectorUnavailable(
                f"detector 'hog': this OpenCV ({cv2.__version__}) has no HOGDescriptor (OpenCV 5 ships it in the "
                "contrib build only): pip install opencv-contrib-python-headless, or use a .tflite detector or "
                "--detector=none")
        self.hog = cls()
        self.hog.setSVMDetector(people())
        self.score_threshold = float(score_threshold)
        self.max_side = int(max_side)
        self.win_stride = (int(win_stride), int(win_stride))
        self.scale = float(scale)
        self.nms_iou = float(nms_iou)

    def detect(self, frame):
        h, w = frame.shape[:2]
        f = min(1.0, self.max_side / max(h, w))
        img = cv2.resize(frame, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA) if f < 1 else frame
        rects, weights = self.hog.detectMultiScale(img, winStride=self.win_stride, padding=(8, 8), scale=self.scale)
        rects = np.asarray(rects, np.float32).reshape(-1, 4) / f
        weights = np.asarray(weights, np.float32).reshape(-1)
        keep = weights >= self.score_threshold
        rects, weights = rects[keep], weights[keep]
        if len(rects) > 1:
            idx = _nms(rects, weights, self.nms_iou)
            rects, weights = rects[idx], weights[idx]
        return _as_detections(rects, weights)


class TfliteDetector:
    """An SSD-style person detector in a .tflite file (signature in the module docstring).

    Args:
      path: the .tflite file.
      score_threshold: keep persons scored at least this.
      person_class: the class index of "person" in the model's label map.
      threads: interpreter threads.
    """

    def __init__(self, path, score_threshold=0.5, person_class=0, threads=1):
        self.path = os.fspath(path)
        self.name = os.path.basename(self.path)
        if not os.path.isfile(self.path):
            raise DetectorUnavailable(f"detector {self.path}: no such file")
        try:
            self.interpreter = load_interpreter(self.path, threads)
        except ValueError as e:
            raise DetectorUnavailable(f"detector {self.path}: {e}") from e
        inputs = self.interpreter.get_input_details()
        if len(inputs) != 1 or len(inputs[0]["shape"]) != 4 or inputs[0]["shape"][-1] != 3:
            raise DetectorUnavailable(f"detector {self.path}: expected one [1, H, W, 3] image input, got "
                                      f"{[list(d['shape']) for d in inputs]}")
        self.input = inputs[0]
        self.outputs = self._outputs(self._named_outputs())
        self.score_threshold = float(score_threshold)
        self.person_class = int(person_class)

    def _named_outputs(self):
        """Output details, named by the model's signature where it has one (a converted
        SavedModel's tensors are called e.g. StatefulPartitionedCall:1)."""
        details = self.interpreter.get_output_details()
        try:
            sigs = self.interpreter.get_signature_list()
            if len(sigs) == 1:
                named = self.interpreter.get_signature_runner(next(iter(sigs))).get_output_details()
                by_index = {d["index"]: d for d in details}
                renamed = [dict(by_index[v["index"]], name=k) for k, v in named.items() if v["index"] in by_index]
                if len(renamed) == len(details):
                    return renamed
        except (AttributeError, KeyError, ValueError, RuntimeError):
            pass
        return details

    def _outputs(self, details):
        found = {}
        for d in details:
            name = d["name"].lower()
            for key, words in (("boxes", ("box",)), ("classes", ("class",)), ("scores", ("score",)),
                               ("count", ("num", "count"))):
                if key not in found and any(w in name for w in words):
                    found[key] = d
                    break
        if not {"boxes", "classes", "scores"} <= set(found):
            if len(details) < 3:
                raise DetectorUnavailable(f"detector {self.path}: expected outputs boxes, classes, scores (and "
                                          f"count), got {[(d['name'], list(d['shape'])) for d in details]}")
            found = dict(zip(("boxes", "classes", "scores", "count"), details))
        boxes = found["boxes"]
        if len(boxes["shape"]) != 3 or boxes["shape"][-1] != 4:
            raise DetectorUnavailable(f"detector {self.path}: output {boxes['name']!r} has shape "
                                      f"{list(boxes['shape'])}, expected boxes [1, N, 4]")
        return found

    def detect(self, frame):
        h, w = frame.shape[:2]
        ih, iw = int(self.input["shape"][1]), int(self.input["shape"][2])
        rgb = cv2.resize(frame, (iw, ih), interpolation=cv2.INTER_LINEAR)[..., ::-1]
        if np.issubdtype(self.input["dtype"], np.floating):
            x = (rgb.astype(np.float32) - 127.5) / 127.5
        else:
            x = rgb.astype(self.input["dtype"])
        self.interpreter.set_tensor(self.input["index"], x[None])
        self.interpreter.invoke()
        get = lambda k: np.asarray(self.interpreter.get_tensor(self.outputs[k]["index"]), np.float32)  # noqa: E731
        boxes, classes, scores = get("boxes")[0], get("classes").reshape(-1), get("scores").reshape(-1)
        n = len(scores)
        if "count" in self.outputs:
            n = min(n, int(get("count").reshape(-1)[0]))
        boxes, classes, scores = boxes[:n], classes[:n], scores[:n]
        keep = (np.round(classes).astype(int) == self.person_class) & (scores >= self.score_threshold)
        boxes, scores = np.clip(boxes[keep], 0.0, 1.0), scores[keep]
        xywh = np.stack([boxes[:, 1] * w, boxes[:, 0] * h, (boxes[:, 3] - boxes[:, 1]) * w,
                         (boxes[:, 2] - boxes[:, 0]) * h], axis=1) if len(boxes) else np.zeros((0, 4))
        ok = (xywh[:, 2] > 1) & (xywh[:, 3] > 1)
        return _as_detections(xywh[ok], scores[ok])


def hog_available():
    """Whether this OpenCV has the HOG people detector."""
    return hasattr(cv2, "HOGDescriptor") and hasattr(cv2, "HOGDescriptor_getDefaultPeopleDetector")


def make_detector(spec, score_threshold=None):
    """'hog' -> HogDetector, 'none' / None / '' -> None, 'PATH.tflite' -> TfliteDetector.

    Raises:
      ValueError: an unknown value (naming it); DetectorUnavailable: see the classes.
    """
    if spec is None or str(spec).lower() in ("", "none"):
        return None
    kw = {} if score_threshold is None else {"score_threshold": score_threshold}
    if str(spec).lower() == "hog":
        return HogDetector(**kw)
    if str(spec).lower().endswith(".tflite"):
        return TfliteDetector(spec, **kw)
    raise ValueError(f"detector {spec!r}: expected 'hog', 'none' or a path to a .tflite detection model")


class TimedDetector:
    """Wraps a detector and counts its calls and seconds (the video summary's share)."""

    def __init__(self, detector):
        self.detector = detector
        self.name = detector.name
        self.calls = 0
        self.seconds = 0.0

    def detect(self, frame):
        start = time.perf_counter()
        try:
            return self.detector.detect(frame)
        finally:
            self.seconds += time.perf_counter() - start
            self.calls += 1
