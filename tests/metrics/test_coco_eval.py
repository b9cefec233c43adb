import copy
import json

import numpy as np
import pytest

from vipnas_tf.codecs import COCO_INFO
from vipnas_tf.metrics.coco_eval import (
    coco_keypoint_eval,
    load_coco_gt,
    make_keypoint_results,
    oks_iou,
    oks_nms,
    results_from_ground_truth,
    write_coco_results,
)

THRESHOLDS = np.linspace(0.5, 0.95, 10)


@pytest.fixture(scope="module")
def shared_gt(shared_data):
    path = shared_data / "mmpose_samples" / "coco" / "test_coco.json"
    return load_coco_gt(path), json.loads(path.read_text())


def test_ground_truth_as_predictions_scores_one(shared_gt):
    gt, data = shared_gt
    out = coco_keypoint_eval(gt, results_from_ground_truth(data))
    assert out["AP"] == 1.0 and out["AR"] == 1.0 and out["num_results"] == 12


def _one_person_gt(area=10000.0):
    kp = np.stack([np.linspace(100, 200, 17), np.linspace(50, 300, 17), np.full(17, 2)], 1)
    return {
        "images": [{"id": 1, "file_name": "x.jpg", "width": 640, "height": 480}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "num_keypoints": 17,
                         "keypoints": kp.ravel().tolist(), "bbox": [90, 40, 120, 270], "area": area}],
        "categories": [{"id": 1, "name": "person", "keypoints": list(COCO_INFO.keypoint_names)}],
    }


@pytest.mark.parametrize("shift", [0.0, 3.0, 6.0, 10.0, 20.0])
def test_shifted_keypoints_lower_ap_as_oks_says(shift):
    """One person, one prediction: AP over the 10 OKS thresholds is the share of
    thresholds the prediction's OKS reaches (101-point precision is 1 or 0)."""
    data = _one_person_gt()
    gt = load_coco_gt(data)
    kp = np.array(data["annotations"][0]["keypoints"], float).reshape(17, 3)
    kp[:, 0] += shift
    res = [{"image_id": 1, "category_id": 1, "keypoints": kp.ravel().tolist(), "score": 0.9}]
    # OKS by hand: exp(-d^2 / (2 s^2 k^2)) with s^2 = area, k = 2 sigma.
    k = 2 * np.array(COCO_INFO.sigmas)
    oks = np.mean(np.exp(-shift ** 2 / (2 * 10000.0 * k ** 2)))
    expected = np.mean(THRESHOLDS <= oks + 1e-12)
    assert coco_keypoint_eval(gt, res)["AP"] == pytest.approx(expected, abs=1e-6)


def test_dropped_person_halves_recall():
    data = _one_person_gt()
    second = copy.deepcopy(data["annotations"][0])
    second["id"] = 2
    kp = np.array(second["keypoints"], float).reshape(17, 3)
    kp[:, 0] += 300
    second["keypoints"] = kp.ravel().tolist()
    second["bbox"] = [390, 40, 120, 270]
    data["annotations"].append(second)
    gt = load_coco_gt(data)
    res = results_from_ground_truth({"annotations": data["annotations"][:1]})
    out = coco_keypoint_eval(gt, res)
    # recall 0.5 at precision 1: 51 of COCO's 101 recall points
    assert out["AP"] == pytest.approx(51 / 101, abs=1e-6)
    assert out["AR"] == pytest.approx(0.5)


def test_results_for_unknown_images_are_named(shared_gt):
    gt, data = shared_gt
    res = results_from_ground_truth(data)
    res.append(dict(res[0], image_id=123456))
    res.append(dict(res[0], image_id=42))
    with pytest.raises(ValueError, match=r"image ids not in the ground truth.*\[42, 123456\]"):
        coco_keypoint_eval(gt, res, name="res.json")


def test_malformed_results_named(shared_gt):
    gt, data = shared_gt
    res = results_from_ground_truth(data)
    del res[3]["score"]
    with pytest.raises(ValueError, match=r"res.json: result #3 .*'score'"):
        coco_keypoint_eval(gt, res, name="res.json")
    with pytest.raises(ValueError, match="'keypoints' must be 51"):
        coco_keypoint_eval(gt, [dict(results_from_ground_truth(data)[0], keypoints=[1, 2, 3])])


def test_gt_missing_key_is_named(tmp_path):
    data = _one_person_gt()
    del data["annotations"][0]["area"]
    p = tmp_path / "gt.json"
    p.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"gt.json: annotation id 1: key 'area'"):
        load_coco_gt(p)


def test_empty_results_score_zero(shared_gt):
    assert coco_keypoint_eval(shared_gt[0], [])["AP"] == 0.0


def test_oks_nms_suppresses_duplicates():
    base = np.random.default_rng(0).uniform(0, 100, (17, 2))
    kps = np.stack([base, base + 0.5, base + 60])
    keep = oks_nms(kps, np.array([0.5, 0.9, 0.8]), np.array([5000.0] * 3), COCO_INFO.sigmas, 0.9)
    assert keep.tolist() == [1, 2]
    assert oks_iou(base, base[None], 100.0, np.array([100.0]), COCO_INFO.sigmas)[0] == pytest.approx(1.0)


def test_make_results_rescoring_and_writer(tmp_path):
    kp = np.zeros((2, 17, 2))
    scores = np.full((2, 17), 0.1)
    scores[0, :4] = 0.8
    res = make_keypoint_results([1, 2], kp, scores, [0.5, 1.0])
    assert res[0]["score"] == pytest.approx(0.4)  # 0.5 x mean(0.8 of the 4 joints above 0.2)
    assert res[1]["score"] == 0.0  # no joint above 0.2
    assert len(res[0]["keypoints"]) == 51
    write_coco_results(tmp_path / "r.json", res)
    assert json.loads((tmp_path / "r.json").read_text()) == res
