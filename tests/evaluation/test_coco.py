import json
import time

import numpy as np
import pytest
import tensorflow as tf
from .oracle_helpers import OracleFn

from vipnas_tf.data.coco import load_coco
from vipnas_tf.evaluation import CocoEvaluator, evaluate_coco


@pytest.fixture(scope="module")
def shared_coco(shared_data):
    root = shared_data / "mmpose_samples" / "coco"
    return root / "test_coco.json", root


@pytest.fixture(scope="module")
def shared_evaluator(shared_coco):
    ann, root = shared_coco
    return CocoEvaluator(ann, root, input_size=(256, 192))


@pytest.mark.parametrize("flip_test", [False, True])
def test_oracle_heatmaps_score_one(shared_evaluator, flip_test):
    ev = shared_evaluator
    out = ev.evaluate(OracleFn(ev, 5, flip_test), flip_test=flip_test, batch_size=5)
    assert out["AP"] == pytest.approx(1.0)
    assert out["num_results"] == 12


def test_shifted_predictions_score_lower(shared_evaluator):
    ev = shared_evaluator
    out = ev.evaluate(OracleFn(ev, 64, shift_px=6.0), batch_size=64)
    assert out["AP"] < 0.95


def test_tf_predict_fn_and_results_file(shared_evaluator, tmp_path):
    ev = shared_evaluator
    oracle = OracleFn(ev, 64)

    def tf_fn(images):
        return tf.constant(oracle(images))

    path = tmp_path / "res.json"
    out = ev.evaluate(tf_fn, results_file=path)
    res = json.loads(path.read_text())
    assert out["AP"] == pytest.approx(1.0)
    assert {"image_id", "category_id", "keypoints", "score"} <= set(res[0]) and len(res) == 12


def test_zero_heatmaps_score_zero(shared_evaluator):
    def zeros(images):
        return np.zeros((len(images), 64, 48, 17), np.float32)

    assert shared_evaluator.evaluate(zeros)["AP"] == 0.0


def test_wrong_heatmap_size_is_an_error(shared_evaluator):
    with pytest.raises(ValueError, match="codec expects"):
        shared_evaluator.evaluate(lambda x: np.zeros((len(x), 32, 24, 17), np.float32))


def test_detection_boxes_with_nms(shared_coco):
    ann, root = shared_coco
    ev = CocoEvaluator(ann, root, (128, 96), detections=root / "test_coco_det_AP_H_56.json")
    assert ev.from_detections and len(ev.samples) == 118
    rng = np.random.default_rng(0)
    out = ev.evaluate(lambda x: rng.random((len(x), 32, 24, 17)).astype(np.float32))
    assert 0.0 <= out["AP"] < 0.5 and out["num_results"] <= 118


def test_missing_image_in_evaluation_names_the_file(shared_coco, tmp_path):
    ann, root = shared_coco
    samples = load_coco(ann, root)
    samples.image_paths = samples.image_paths.copy()
    samples.image_paths[3] = str(tmp_path / "gone.jpg")
    with pytest.raises(FileNotFoundError, match="gone.jpg"):
        CocoEvaluator(ann, samples=samples, input_size=(128, 96))


def test_one_shot_and_repeated_calls_are_fast(shared_coco, synthetic_root):
    ann, root = shared_coco
    samples = load_coco(ann, root)
    out = evaluate_coco(lambda x: np.zeros((len(x), 32, 24, 17), np.float32), samples, input_size=(128, 96))
    assert out["AP"] == 0.0
    val = synthetic_root / "coco"
    ev = CocoEvaluator(val / "annotations" / "person_keypoints_val.json", val / "images" / "val", (128, 96))
    start = time.perf_counter()
    for _ in range(3):
        ev.evaluate(OracleFn(ev, 64))
    assert (time.perf_counter() - start) / 3 < 1.0
    assert ev.evaluate(OracleFn(ev, 64))["AP"] == pytest.approx(1.0, abs=0.02)
