import json
import os

import numpy as np
import pytest

from vipnas_tf.data.coco import load_coco, load_detections


def _coco(shared_data):
    root = shared_data / "mmpose_samples" / "coco"
    return root / "test_coco.json", root


def test_shared_sample_ground_truth_rows(shared_data):
    ann, root = _coco(shared_data)
    s = load_coco(ann, root)
    # 14 persons, 2 without labelled keypoints are skipped.
    assert len(s) == 12
    assert s.info.name == "coco"
    assert set(s.image_ids) == {785, 40083, 196141, 197388}
    assert all(os.path.exists(p) for p in s.image_paths)
    row = int(np.flatnonzero(s.ann_ids == 442619)[0])
    np.testing.assert_allclose(s.bboxes[row], [280.79, 44.73, 218.7, 346.68], rtol=1e-5)
    assert s.keypoints[row, 0].tolist() == [367, 81] and s.visible[row].min() == 2
    assert (s.track_ids == -1).all() and (s.bbox_scores == 1).all()
    c, sc = s.center_scale((256, 192))
    np.testing.assert_allclose(sc[:, 0] / sc[:, 1], 0.75, rtol=1e-5)


def test_shared_sample_detections(shared_data):
    ann, root = _coco(shared_data)
    s = load_coco(ann, root, detections=root / "test_coco_det_AP_H_56.json")
    assert len(s) == 118 and (s.ann_ids == -1).all()
    assert s.visible.max() == 0
    assert len(load_coco(ann, root, detections=root / "test_coco_det_AP_H_56.json", min_det_score=0.5)) < 118


def _write(tmp_path, data, name="ann.json"):
    p = tmp_path / name
    p.write_text(json.dumps(data))
    return p


def _minimal(keypoints=None, **ann_kw):
    kp = keypoints if keypoints is not None else [10, 10, 2] * 17
    ann = {"id": 7, "image_id": 1, "bbox": [0, 0, 20, 40], "keypoints": kp, "area": 800,
           "category_id": 1, "iscrowd": 0, "num_keypoints": 17}
    ann.update(ann_kw)
    return {"images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 100}],
            "annotations": [ann], "categories": [{"id": 1, "name": "person"}]}


@pytest.mark.parametrize("key", ["keypoints", "bbox", "image_id"])
def test_missing_key_names_file_annotation_and_key(tmp_path, key):
    data = _minimal()
    del data["annotations"][0][key]
    p = _write(tmp_path, data)
    with pytest.raises(ValueError) as e:
        load_coco(p, tmp_path)
    msg = str(e.value)
    assert str(p) in msg and "annotation id 7" in msg and f"'{key}'" in msg


def test_wrong_shape_names_key(tmp_path):
    p = _write(tmp_path, _minimal(keypoints=[1, 2, 2] * 16))
    with pytest.raises(ValueError, match=r"annotation id 7: key 'keypoints' must be 51"):
        load_coco(p, tmp_path)
    p = _write(tmp_path, _minimal(bbox=[1, 2, 3]))
    with pytest.raises(ValueError, match=r"key 'bbox'"):
        load_coco(p, tmp_path)


def test_zero_area_crowd_and_unlabelled_are_skipped(tmp_path):
    data = _minimal()
    base = data["annotations"][0]
    data["annotations"] = [
        dict(base, id=1),
        dict(base, id=2, bbox=[5, 5, 0, 30]),  # zero width
        dict(base, id=3, iscrowd=1),
        dict(base, id=4, keypoints=[0, 0, 0] * 17, num_keypoints=0),
        dict(base, id=5, bbox=[150, 150, 10, 10]),  # entirely outside the image: clipped to zero
    ]
    s = load_coco(_write(tmp_path, data), tmp_path)
    assert s.ann_ids.tolist() == [1]


def test_detections_for_unknown_images_are_named(tmp_path):
    p = _write(tmp_path, _minimal())
    dets = _write(tmp_path, [{"image_id": 1, "bbox": [0, 0, 5, 5], "score": 0.9, "category_id": 1},
                             {"image_id": 99, "bbox": [0, 0, 5, 5], "score": 0.9, "category_id": 1}],
                  "dets.json")
    with pytest.raises(ValueError, match=r"dets.json.*\[99\]"):
        load_coco(p, tmp_path, detections=dets)


@pytest.mark.parametrize("dets, message", [
    ({"image_id": 1}, r"dets\.json: expected a JSON list of detections .*got a JSON dict"),
    ([[0, 0, 5, 5]], r"dets\.json: detection #0: not an object"),
    ([{"image_id": 1, "bbox": [0, 0, 5, 5], "score": 0.9}, {"image_id": 2, "bbox": [0, 0, 5, 5]}],
     r"dets\.json: detection #1: key 'score' is missing"),
    ([{"image_id": 7, "bbox": [0, 0, 5], "score": 0.9}],
     r"dets\.json: detection #0 \(image_id 7\): key 'bbox' must be 4 numbers \[x, y, w, h\], got \[0, 0, 5\]"),
    ([{"image_id": 7, "bbox": [0, 0, 5, 5], "score": "high"}],
     r"dets\.json: detection #0 \(image_id 7\): key 'score' must be a number, got 'high'"),
])
def test_bad_detections_name_file_detection_and_key(tmp_path, dets, message):
    # the one reader of detection files: load_coco and the evaluation protocol both use it
    path = _write(tmp_path, dets, "dets.json")
    with pytest.raises(ValueError, match=message):
        load_detections(path)
    with pytest.raises(ValueError, match=message):
        load_coco(_write(tmp_path, _minimal()), tmp_path, detections=path)


def test_detections_are_read_from_a_file_or_a_list(tmp_path):
    dets = [{"image_id": 1, "bbox": [0, 0, 5, 5], "score": 0.9, "category_id": 1}]
    assert load_detections(_write(tmp_path, dets, "dets.json")) == (dets, str(tmp_path / "dets.json"))
    assert load_detections(dets) == (dets, "<detections>")


def test_malformed_json_names_line(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text('{"images": [\n  {"id": 1,, }]}')
    with pytest.raises(ValueError, match=r"bad.json: malformed JSON at line 2"):
        load_coco(p, tmp_path)


def test_reads_synthetic_set(synthetic_root):
    root = synthetic_root / "coco"
    s = load_coco(root / "annotations" / "person_keypoints_train.json", root / "images" / "train")
    assert len(s) > 10
    assert all(os.path.exists(p) for p in s.image_paths)
    # Synthetic COCO labels the eyes in slots 1 / 2 (front-facing people).
    assert (s.visible[:, 1] > 0).any()
    # Hidden joints are labelled 1 (COCO "labelled but not visible") and flagged.
    assert ((s.visible == 1) == (s.occluded > 0)).all()
