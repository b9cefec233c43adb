import copy
import json

import numpy as np
import pytest

from vipnas_tf.metrics.posetrack_eval import (
    EVAL_JOINTS,
    POSETRACK18_NAMES,
    load_posetrack_gt,
    load_posetrack_predictions,
    points_in_polygon,
    posetrack_map,
    predictions_from_annotations,
    voc_ap,
    write_posetrack_results,
)

HEAD = [0, 0, 30, 40]  # diagonal 50 -> head size 0.6 x 50 = 30 -> PCKh@0.5 radius 15 px


def _person(ann_id, image_id, x0, labelled=True):
    kp = []
    for slot in range(17):
        if slot in (3, 4) or not labelled:  # PoseTrack18 ears are never labelled
            kp += [0, 0, 0]
        else:
            kp += [x0 + 7.0 * slot, 100.0 + 11.0 * slot, 1]
    return {"id": ann_id, "image_id": image_id, "track_id": ann_id % 100, "keypoints": kp,
            "bbox": [x0, 90, 120, 200], "bbox_head": [x0] + HEAD[1:], "scores": []}


def _gt(frames=1, persons=(100, 400), empty_frame=False):
    images, anns = [], []
    for t in range(frames + int(empty_frame)):
        image_id = 10000010000 + t
        images.append({"id": image_id, "file_name": f"images/val/000001_x/{t:06d}.jpg",
                       "vid_id": "000001", "frame_id": image_id, "nframes": frames,
                       "ignore_regions_x": [], "ignore_regions_y": []})
        if t < frames:
            for i, x0 in enumerate(persons):
                anns.append(_person(image_id * 100 + i, image_id, x0))
    return {"images": images, "annotations": anns,
            "categories": [{"id": 1, "name": "person", "keypoints": list(POSETRACK18_NAMES)}]}


def _write(tmp_path, data, name="gt.json"):
    p = tmp_path / name
    p.write_text(json.dumps(data))
    return p


def _score(gt_data, pred_anns, tmp_path):
    gt = load_posetrack_gt(_write(tmp_path, gt_data))
    return posetrack_map(gt, predictions_from_annotations(pred_anns, gt.keypoint_names))


def _shifted(ann, dx, slots=None, score=None):
    a = copy.deepcopy(ann)
    kp = np.array(a["keypoints"], float).reshape(17, 3)
    rows = np.arange(17) if slots is None else np.array(slots)
    kp[rows, 0] += dx
    a["keypoints"] = kp.ravel().tolist()
    if score is not None:
        a["scores"] = [score] * 17
    return a


def test_shared_sample_ground_truth_is_100(shared_data):
    root = shared_data / "mmpose_samples" / "posetrack18" / "annotations"
    for gt_path in (root / "test_posetrack18_val.json", root / "val"):
        gt = load_posetrack_gt(gt_path)
        for res in (root / "test_posetrack18_val.json", root / "val"):
            out = posetrack_map(gt, load_posetrack_predictions(res, gt))
            assert out["Total"] == 100.0
            assert all(out[g] == 100.0 for g in ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle"))


@pytest.mark.parametrize("dx,expected", [(0.0, 100.0), (14.9, 100.0), (15.1, 0.0), (40.0, 0.0)])
def test_pckh_threshold_is_half_of_06_head_diagonal(tmp_path, dx, expected):
    data = _gt()
    preds = [_shifted(a, dx) for a in data["annotations"]]
    assert _score(data, preds, tmp_path)["Total"] == pytest.approx(expected)


def test_shifted_wrists_only_hit_wrist_group(tmp_path):
    data = _gt()
    preds = [_shifted(a, 20.0, slots=[9, 10]) for a in data["annotations"]]
    out = _score(data, preds, tmp_path)
    assert out["Wrist"] == 0.0 and out["Elbow"] == 100.0 and out["Head"] == 100.0
    assert out["Total"] == pytest.approx(100.0 * 13 / 15)


def test_dropped_person_gives_half_ap(tmp_path):
    data = _gt()
    out = _score(data, data["annotations"][:1], tmp_path)
    # recall reaches 0.5 at precision 1 for every joint: VOC AP 0.5
    assert out["Total"] == pytest.approx(50.0)


def test_false_positive_ranked_first_costs_more(tmp_path):
    data = _gt()
    good = _shifted(data["annotations"][0], 0.0, score=0.9)
    spurious = _shifted(data["annotations"][0], 200.0, score=0.95)  # far from any person
    spurious["image_id"] = good["image_id"]
    # ranks FP(0.95), TP(0.9) with 2 GT: precision 0, 0.5 at recall 0, 0.5 -> AP 0.25
    assert _score(data, [good, spurious], tmp_path)["Total"] == pytest.approx(25.0)
    spurious["scores"] = [0.5] * 17
    # ranks TP(0.9), FP(0.5): precision 1 up to recall 0.5 -> AP 0.5
    assert _score(data, [good, spurious], tmp_path)["Total"] == pytest.approx(50.0)


def test_greedy_assignment_keeps_best_pckh_not_best_score(tmp_path):
    """Both predictions pick the single GT person; it keeps the one with the higher
    PCKh (exact, low score); all joints of the other count as false positives even
    where they are close."""
    data = _gt(persons=(100,))
    gt_ann = data["annotations"][0]
    exact = _shifted(gt_ann, 0.0, score=0.5)
    half_off = _shifted(gt_ann, 30.0, slots=range(0, 17, 2), score=0.9)
    out = _score(data, [exact, half_off], tmp_path)
    # every joint: FP at 0.9 then TP at 0.5, 1 GT -> precision 0.5 at recall 1 -> AP 0.5
    assert out["Total"] == pytest.approx(50.0)


def test_missing_scores_use_fallback(tmp_path):
    data = _gt()
    preds = [dict(a, scores=[]) for a in data["annotations"]]
    assert _score(data, preds, tmp_path)["Total"] == 100.0
    bad = [dict(data["annotations"][0], scores=[0.1] * 5)]
    with pytest.raises(ValueError, match="'scores' must have 17"):
        _score(data, bad, tmp_path)


def test_ignore_regions_drop_predictions_inside(tmp_path):
    data = _gt()
    spurious = _shifted(data["annotations"][0], 600.0, score=1.0)  # x in 700..812
    preds = [_shifted(a, 0.0, score=0.5) for a in data["annotations"]] + [spurious]
    assert _score(data, preds, tmp_path)["Total"] < 100.0
    data["images"][0]["ignore_regions_x"] = [[650, 900, 900, 650]]
    data["images"][0]["ignore_regions_y"] = [[0, 0, 600, 600]]
    assert _score(data, preds, tmp_path)["Total"] == 100.0


def test_unlabelled_frames_are_not_evaluated(tmp_path):
    data = _gt(empty_frame=True)
    preds = copy.deepcopy(data["annotations"])
    extra = _shifted(data["annotations"][0], 0.0, score=1.0)
    extra["image_id"] = data["images"][-1]["id"]  # the frame without annotations
    out = _score(data, preds + [extra], tmp_path)
    assert out["Total"] == 100.0 and out["num_frames"] == 1


def test_unknown_images_and_missing_head_box_named(tmp_path):
    data = _gt()
    gt_path = _write(tmp_path, data)
    gt = load_posetrack_gt(gt_path)
    bad = copy.deepcopy(data)
    bad["annotations"][0]["image_id"] = 777
    res = _write(tmp_path, {"annotations": bad["annotations"]}, "res.json")
    with pytest.raises(ValueError, match=r"res.json: results for 1 image ids not in the ground truth: \[777\]"):
        load_posetrack_predictions(res, gt)
    del data["annotations"][1]["bbox_head"]
    with pytest.raises(ValueError, match=r"gt.json: annotation id 1000001000001: key 'bbox_head'"):
        load_posetrack_gt(_write(tmp_path, data))
    data = _gt()
    data["annotations"][0]["keypoints"] = [1, 2, 3]
    with pytest.raises(ValueError, match=r"annotation id 1000001000000: key 'keypoints' must be 51"):
        load_posetrack_gt(_write(tmp_path, data))


def test_results_writer_round_trip_folder_and_file(tmp_path, shared_data):
    root = shared_data / "mmpose_samples" / "posetrack18" / "annotations"
    for gt_path in (root / "val", root / "test_posetrack18_val.json"):
        gt = load_posetrack_gt(gt_path)
        anns = json.loads((root / "test_posetrack18_val.json").read_text())["annotations"]
        out = tmp_path / ("folder" if gt.is_folder else "single.json")
        written = write_posetrack_results(out, gt, anns)
        assert len(written) == (3 if gt.is_folder else 1)
        assert posetrack_map(gt, load_posetrack_predictions(out, gt))["Total"] == 100.0


def test_voc_ap_and_polygon_helpers():
    assert voc_ap([0.9, 0.8], [1, 1], 2) == pytest.approx(1.0)
    assert voc_ap([0.9, 0.8], [0, 1], 1) == pytest.approx(0.5)
    assert voc_ap([], [], 3) == 0.0 and np.isnan(voc_ap([0.1], [0], 0))
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]])
    inside = points_in_polygon([[5, 5], [15, 5], [-1, 3], [9.9, 0.1]], square)
    assert inside.tolist() == [True, False, False, True]
    assert len(EVAL_JOINTS) == 15 and "left_ear" not in EVAL_JOINTS
