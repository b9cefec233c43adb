"""Person detectors: OpenCV's HOG on the real sample videos (the box must be around the
person, checked against MoveNet's keypoints on the rendered clip), an SSD-signature
.tflite model, and the runner's detect-then-track loop."""
import json

import cv2
import numpy as np
import pytest
import tensorflow as tf

from tests.runtime import helpers
from vipnas_tf.runtime import FrameSource, RunnerConfig, VideoPoseRunner, load_schedule_models
from vipnas_tf.runtime import detector as det

needs_hog = pytest.mark.skipif(not det.hog_available(), reason="this OpenCV has no HOGDescriptor "
                               "(OpenCV 5 ships it in opencv-contrib-python-headless, which setup.py installs)")


def _first_frame(path):
    cap = cv2.VideoCapture(str(path))
    ok, frame = cap.read()
    cap.release()
    assert ok, path
    return frame


@needs_hog
def test_hog_box_is_around_the_rendered_person(shared_data):
    frame = _first_frame(shared_data / "tfjs_samples" / "rendered_person.mp4")
    boxes = det.HogDetector().detect(frame)
    assert boxes.shape[1] == 5 and len(boxes) >= 1
    x, y, w, h, score = boxes[0]
    ref = json.loads((shared_data / "tfjs_samples" / "rendered_person_movenet_reference.json").read_text())[0]
    kp = np.array([[v["x"], v["y"]] for v in ref.values()])
    inside = (kp[:, 0] >= x) & (kp[:, 0] <= x + w) & (kp[:, 1] >= y) & (kp[:, 1] <= y + h)
    assert inside.mean() >= 0.9, (boxes[0], kp.min(0), kp.max(0))
    # a person box, not the frame: at most 3x the keypoints' extent, under a third of the frame
    extent = np.prod(kp.max(0) - kp.min(0))
    assert w * h <= 3 * extent and w * h < frame.shape[0] * frame.shape[1] / 3
    assert score > 0


@needs_hog
def test_hog_finds_several_pedestrians_on_the_street(shared_data):
    frame = _first_frame(shared_data / "mmpose_samples" / "street_demo.mp4")
    boxes = det.HogDetector().detect(frame)
    assert len(boxes) >= 2
    assert np.all(boxes[:, 2] * boxes[:, 3] < frame.shape[0] * frame.shape[1] / 6)
    assert np.all(boxes[:, 3] > boxes[:, 2])  # upright people
    assert np.all(np.diff(boxes[:, 4]) <= 0)  # best first
    ious = det._nms(boxes[:, :4], boxes[:, 4], 0.4)  # pylint: disable=protected-access
    assert len(ious) == len(boxes)  # already suppressed


def _ssd_tflite(path, size=(32, 32)):
    """A .tflite with the SSD post-processing signature: three fixed detections whose
    scores are scaled by the image's mean brightness (so the model reads its input)."""
    rows = np.array([[0.1, 0.2, 0.5, 0.6], [0.0, 0.0, 1.0, 1.0], [0.3, 0.3, 0.4, 0.4], [0, 0, 0, 0]], np.float32)
    classes = np.array([0, 2, 0, 0], np.float32)
    scores = np.array([0.9, 0.95, 0.2, 0.99], np.float32)

    class Ssd(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, *size, 3], tf.float32)])
        def serve(self, image):
            gain = tf.reduce_mean(image) * 0.0 + 1.0
            return {"detection_boxes": tf.constant(rows)[None] * gain, "detection_classes": tf.constant(classes)[None],
                    "detection_scores": tf.constant(scores)[None] * gain, "num_detections": tf.constant([3.0])}

    module = Ssd()
    conv = tf.lite.TFLiteConverter.from_concrete_functions([module.serve.get_concrete_function()], module)
    path.write_bytes(conv.convert())
    return path


def test_tflite_detector_reads_ssd_outputs(tmp_path):
    path = _ssd_tflite(tmp_path / "ssd.tflite")
    d = det.make_detector(str(path))
    assert isinstance(d, det.TfliteDetector) and d.name == "ssd.tflite"
    boxes = d.detect(np.full((100, 200, 3), 128, np.uint8))
    # only the person above the threshold, within the count; (ymin, xmin, ymax, xmax) -> x, y, w, h
    np.testing.assert_allclose(boxes, [[40, 10, 80, 40, 0.9]], atol=1e-4)
    assert len(det.TfliteDetector(path, score_threshold=0.1).detect(np.zeros((100, 200, 3), np.uint8))) == 2


def test_make_detector_values_and_errors(tmp_path):
    assert det.make_detector("none") is None and det.make_detector(None) is None
    with pytest.raises(ValueError, match="'yolo'.*'hog', 'none'"):
        det.make_detector("yolo")
    with pytest.raises(det.DetectorUnavailable, match="nope.tflite: no such file"):
        det.make_detector(str(tmp_path / "nope.tflite"))
    (tmp_path / "bad.tflite").write_bytes(b"\x00" * 64)
    with pytest.raises(det.DetectorUnavailable, match="bad.tflite"):
        det.make_detector(str(tmp_path / "bad.tflite"))


class _BlobDetector:
    """Finds the bright blob of the helpers' clips (thresholded bounding box); None
    frames listed in `blind` return nothing."""

    name = "blob"

    def __init__(self, blind=()):
        self.blind = set(blind)
        self.frame = -1

    def detect(self, frame):
        self.frame += 1
        ys, xs = np.nonzero(frame[..., 0] > 40)
        if self.frame in self.blind or not len(xs):
            return np.zeros((0, 5), np.float32)
        return np.array([[xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1, 1.0]], np.float32)


@pytest.fixture(scope="module")
def oracle():
    sched = helpers.schedule(num_frames=3)
    key, frames = helpers.oracle_models(sched)
    return sched, load_schedule_models(sched, builder=lambda s: (key, frames))


def test_runner_detects_first_then_tracks(oracle, tmp_path):
    """The detector runs on frame 0 (and again on frames 1-2 while it sees nobody);
    afterwards the track follows its keypoints without calling it."""
    sched, models = oracle
    centres = helpers.write_clip(tmp_path / "clip.mp4", num_frames=10)
    blob = _BlobDetector(blind=(0, 1))
    result = VideoPoseRunner(sched, models).run(FrameSource(video=tmp_path / "clip.mp4"), detector=blob)
    s, anns = result["summary"], result["annotations"]
    assert blob.frame == 2  # called on frames 0, 1 (nothing found) and 2
    assert s["detector"] == "blob" and s["detector_calls"] == 3 and s["box_source"] == "detector:blob"
    assert 0 < s["detector_share"] < 1
    assert s["empty_frames"] == 2 and [a["image_id"] for a in anns] == list(range(2, 10)) and s["tracks"] == 1
    first = anns[0]["bbox"]
    assert abs(first[0] + first[2] / 2 - centres[2, 0, 0]) < 2 and first[3] < 60  # the blob, not the frame
    for a in anns:
        kp = np.asarray(a["keypoints"]).reshape(-1, 3)
        assert np.abs(kp[:, :2] - centres[a["image_id"], 0]).max() <= 70 / 16 + 1


def test_runner_rejects_detector_with_boxes(oracle, tmp_path):
    sched, models = oracle
    helpers.write_clip(tmp_path / "clip.mp4", num_frames=3)
    with pytest.raises(ValueError, match="detector"):
        VideoPoseRunner(sched, models).run(FrameSource(video=tmp_path / "clip.mp4"), first_boxes=[(0, 0, 9, 9)],
                                           detector=_BlobDetector())


def test_runner_redetects_every_n_frames(oracle, tmp_path):
    """With redetect_every=3 the detector also runs on frames 3, 6, 9 and the track
    moves onto its box there (the oracle's keypoints all sit on the blob's centre, too
    few distinct points for a keypoint box, so in between the box stays put)."""
    sched, models = oracle
    helpers.write_clip(tmp_path / "clip.mp4", num_frames=10, rects=((20, 30, 30, 40),), step=3)
    blob = _BlobDetector()
    runner = VideoPoseRunner(sched, models, RunnerConfig(redetect_every=3))
    result = runner.run(FrameSource(video=tmp_path / "clip.mp4"), detector=blob)
    s, anns = result["summary"], result["annotations"]
    assert s["detector_calls"] == 4 and s["tracks"] == 1 and len(anns) == 10
    xs = [a["bbox"][0] for a in anns]
    for start in (0, 3, 6):
        assert xs[start] == xs[start + 1] == xs[start + 2], xs
        assert xs[start + 3] - xs[start] == pytest.approx(9, abs=1), xs
