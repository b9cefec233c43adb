"""The end-to-end test protocol (run_evaluation) on the shared COCO / PoseTrack18 samples,
with numpy predict functions (no model code): each test runs in well under a second."""
import json
import os
import shutil
import types

import numpy as np
import pytest
from .oracle_helpers import OracleFn

from vipnas_tf.codecs.heatmap import HeatmapCodec, flip_back
from vipnas_tf.data.coco import load_coco
from vipnas_tf.data.samples import SampleSet
from vipnas_tf.evaluation.protocol import EvaluationConfig, Predictor, run_evaluation
from vipnas_tf.metrics.coco_eval import STAT_NAMES, coco_keypoint_eval, load_coco_gt
from vipnas_tf.metrics.posetrack_eval import load_posetrack_gt, load_posetrack_predictions, posetrack_map

SIZE = (256, 192)


@pytest.fixture(scope="module")
def coco(shared_data):
    root = shared_data / "mmpose_samples" / "coco"
    ann = root / "test_coco.json"
    data = json.loads(ann.read_text())
    return types.SimpleNamespace(ann=str(ann), root=str(root), data=data,
                                 images={i["id"]: i for i in data["images"]})


def make_detections(coco, seed=0):
    """GT boxes of the labelled persons, jittered, with distinct scores, plus a duplicate
    of the first box (to be suppressed by OKS-NMS), a low-score box (below bbox_thr 0.3)
    and a box right of image 785 (wholly outside). Returns (detections, source annotation
    of each detection or None)."""
    rng = np.random.default_rng(seed)
    dets, source = [], []
    people = [a for a in coco.data["annotations"] if a["num_keypoints"] > 0 and not a["iscrowd"]]
    for i, ann in enumerate(people):
        x, y, w, h = ann["bbox"]
        box = [x + rng.uniform(-2, 2), y + rng.uniform(-2, 2), w + rng.uniform(-3, 3), h + rng.uniform(-3, 3)]
        dets.append({"image_id": ann["image_id"], "category_id": 1, "bbox": box, "score": 0.95 - 0.02 * i})
        source.append(ann)
    dets.append({**dets[0], "score": 0.5})
    source.append(people[0])
    dets.append({"image_id": 40083, "category_id": 1, "bbox": [10.0, 10.0, 30.0, 60.0], "score": 0.1})
    source.append(None)
    dets.append({"image_id": 785, "category_id": 1, "bbox": [650.0, 10.0, 40.0, 80.0], "score": 0.9})
    source.append(None)
    return dets, source


class DetectionOracle(OracleFn):
    """OracleFn for detection rows: the ground-truth keypoints of the person each kept
    detection was made from, in the protocol's row order (image id, descending score)."""

    def __init__(self, coco, dets, source, bbox_thr, flip_test=False):
        info = load_coco(coco.ann, coco.root).info
        k = info.num_keypoints
        rows = []
        order = sorted(range(len(dets)), key=lambda i: (dets[i]["image_id"], -dets[i]["score"], i))
        for i in order:
            d, ann = dets[i], source[i]
            img = coco.images[d["image_id"]]
            if d["score"] < bbox_thr or d["bbox"][0] >= img["width"]:
                continue
            kp = np.zeros((k, 3)) if ann is None else np.asarray(ann["keypoints"], float).reshape(k, 3)
            rows.append({"image_path": os.path.join(coco.root, img["file_name"]), "image_id": d["image_id"],
                         "bbox": d["bbox"], "bbox_score": d["score"], "keypoints": kp[:, :2], "visible": kp[:, 2]})
        samples = SampleSet.from_rows(rows, info)
        centers, scales = samples.center_scale(SIZE, 1.25)
        ev = types.SimpleNamespace(samples=samples, codec=HeatmapCodec(SIZE), centers=centers, scales=scales)
        super().__init__(ev, 8, flip_test)


def content_fn(x):
    """A deterministic, not mirror-symmetric function of the crop: heatmaps [n, 64, 48, 17]."""
    n = len(x)
    pooled = x.reshape(n, 64, 4, 48, 4, 3).mean((2, 4))
    ramp = np.linspace(0.0, 1.0, 48, dtype=np.float32)[None, None, :, None]
    weights = np.random.default_rng(1).standard_normal((3, 17)).astype(np.float32)
    return np.maximum(pooled @ weights, 0.0) + ramp


def _config(coco, tmp_path, **kwargs):
    kwargs.setdefault("output", str(tmp_path / "results.json"))
    return EvaluationConfig(ann=coco.ann, images=kwargs.pop("images", coco.root), progress=False, batch_size=8,
                            **kwargs)


def _write_dets(tmp_path, dets, name="dets.json"):
    path = tmp_path / name
    path.write_text(json.dumps(dets))
    return str(path)


@pytest.mark.parametrize("flip_test", [False, True])
def test_detections_printed_ap_is_pycocotools_ap_of_the_written_file(coco, tmp_path, flip_test):
    dets, source = make_detections(coco)
    config = _config(coco, tmp_path, detections=_write_dets(tmp_path, dets), bbox_thr=0.3, flip_test=flip_test)
    out = run_evaluation(config, Predictor(SIZE, DetectionOracle(coco, dets, source, 0.3, flip_test)))
    written = json.loads((tmp_path / "results.json").read_text())
    again = coco_keypoint_eval(load_coco_gt(coco.ann), written)
    assert {k: out[k] for k in STAT_NAMES} == {k: again[k] for k in STAT_NAMES}
    assert out["AP"] > 0.8
    # 12 persons + the duplicate + the box outside image 785, minus the low-score box
    assert out["num_persons"] == 13 and out["skipped"]["below_bbox_thr"] == 1
    assert out["skipped"]["box_outside_image"] == 1
    assert "000000000785.jpg" in out["skipped_entries"]["box_outside_image"][0]
    assert out["num_results"] == len(written) == 12  # the duplicate suppressed by OKS-NMS
    # rescoring: box score x mean keypoint score above 0.2
    first = max(written, key=lambda r: r["score"])
    kscores = np.asarray(first["keypoints"][2::3])
    assert first["score"] == pytest.approx(0.95 * kscores[kscores > 0.2].mean(), abs=1e-3)  # written at 3 decimals


def test_nms_threshold_one_keeps_the_duplicate_and_bbox_thr_zero_the_low_box(coco, tmp_path):
    dets, source = make_detections(coco)
    config = _config(coco, tmp_path, detections=_write_dets(tmp_path, dets), nms_thr=1.0)
    out = run_evaluation(config, Predictor(SIZE, DetectionOracle(coco, dets, source, 0.0)))
    assert out["num_persons"] == 14 and "below_bbox_thr" not in out["skipped"]
    assert out["num_results"] == 14


def test_ground_truth_boxes_without_detections(coco, tmp_path):
    samples = load_coco(coco.ann, coco.root)
    centers, scales = samples.center_scale(SIZE, 1.25)
    ev = types.SimpleNamespace(samples=samples, codec=HeatmapCodec(SIZE), centers=centers, scales=scales)
    out = run_evaluation(_config(coco, tmp_path), Predictor(SIZE, OracleFn(ev, 8)))
    assert out["AP"] == pytest.approx(1.0) and out["num_results"] == 12 and out["skipped"] == {}


def test_image_without_boxes_and_partly_outside_boxes_are_counted_and_named(coco, tmp_path):
    dets, _ = make_detections(coco)
    dets = [d for d in dets if d["image_id"] != 40083]
    dets.append({"image_id": 196141, "category_id": 1, "bbox": [600.0, 50.0, 80.0, 100.0], "score": 0.8})
    config = _config(coco, tmp_path, detections=_write_dets(tmp_path, dets))
    out = run_evaluation(config, Predictor(SIZE, content_fn))
    assert out["skipped"]["image_without_boxes"] == 1
    assert "image_id 40083 (000000040083.jpg)" in out["skipped_entries"]["image_without_boxes"][0]
    # kept as they are, as mmpose does: this one and two jittered boxes at the right border of 197388
    assert out["skipped"]["box_partly_outside_image"] == 3
    named = out["skipped_entries"]["box_partly_outside_image"]
    assert any("000000196141.jpg 640x429): bbox [600.0, 50.0, 80.0, 100.0]" in e for e in named)
    assert 40083 not in {r["image_id"] for r in json.loads((tmp_path / "results.json").read_text())}


def test_image_that_fails_to_decode_is_a_counted_skip_naming_the_file(coco, tmp_path):
    images = tmp_path / "images"
    shutil.copytree(coco.root, images)
    (images / "000000196141.jpg").write_bytes(b"not a jpeg")
    out = run_evaluation(_config(coco, tmp_path, images=str(images)), Predictor(SIZE, content_fn))
    assert out["skipped"] == {"unreadable_image": 1}
    assert str(images / "000000196141.jpg") in out["skipped_entries"]["unreadable_image"][0]
    results = json.loads((tmp_path / "results.json").read_text())
    assert out["num_results"] == len(results) and out["num_persons"] == 12 - 4  # its 4 labelled persons
    assert 196141 not in {r["image_id"] for r in results}


def test_bad_input_never_leaves_a_partial_output_file(coco, tmp_path):
    dets, _ = make_detections(coco)
    bad = _write_dets(tmp_path, dets + [{"image_id": 31337, "bbox": [0, 0, 5, 5], "score": 0.9}], "bad.json")
    with pytest.raises(ValueError, match=r"bad\.json.*31337"):
        run_evaluation(_config(coco, tmp_path, detections=bad), Predictor(SIZE, content_fn))
    malformed = _write_dets(tmp_path, [{"image_id": 785, "bbox": [0, 0, 5], "score": 0.9}], "malformed.json")
    with pytest.raises(ValueError, match=r"malformed\.json: detection #0 \(image_id 785\): key 'bbox'"):
        run_evaluation(_config(coco, tmp_path, detections=malformed), Predictor(SIZE, content_fn))
    calls = []

    def failing(x):
        calls.append(len(x))
        if len(calls) > 1:
            raise RuntimeError("model failed")
        return content_fn(x)

    with pytest.raises(RuntimeError):
        run_evaluation(_config(coco, tmp_path), Predictor(SIZE, failing))
    assert sorted(os.listdir(tmp_path)) == ["bad.json", "malformed.json"]  # no results.json, no temporary file


def test_flip_test_changes_the_results_and_flipping_twice_is_identity(coco, tmp_path):
    plain = run_evaluation(_config(coco, tmp_path, output=str(tmp_path / "a.json")), Predictor(SIZE, content_fn))
    flipped = run_evaluation(_config(coco, tmp_path, output=str(tmp_path / "b.json"), flip_test=True),
                             Predictor(SIZE, content_fn))
    a, b = (json.loads((tmp_path / f).read_text()) for f in ("a.json", "b.json"))
    assert plain["num_persons"] == flipped["num_persons"] == 12
    assert [r["keypoints"] for r in a] != [r["keypoints"] for r in b]
    pairs = load_coco(coco.ann, coco.root).info.flip_pairs
    heat = content_fn(np.random.default_rng(0).standard_normal((2,) + SIZE + (3,)).astype(np.float32))
    np.testing.assert_array_equal(flip_back(flip_back(heat, pairs), pairs), heat)
    assert not np.array_equal(flip_back(heat, pairs), heat)


def test_config_and_predictor_errors_name_the_value(coco, tmp_path, shared_data):
    with pytest.raises(ValueError, match="metric"):
        _config(coco, tmp_path, metric="mpii")
    with pytest.raises(FileNotFoundError, match="nowhere.json"):
        _config(coco, tmp_path, detections=str(tmp_path / "nowhere.json"))
    with pytest.raises(ValueError, match="nms_thr"):
        _config(coco, tmp_path, nms_thr=0.0)
    with pytest.raises(ValueError, match="exactly one"):
        Predictor(SIZE)
    track = Predictor(SIZE, track_fn=lambda x, m: content_fn(x), source="the schedule s.json")
    with pytest.raises(ValueError, match="the schedule s.json is a video schedule"):
        run_evaluation(_config(coco, tmp_path), track)


# ------------------------------------------------------------------------ PoseTrack18


@pytest.fixture(scope="module")
def posetrack(shared_data):
    root = shared_data / "mmpose_samples" / "posetrack18"
    return types.SimpleNamespace(ann=str(root / "annotations" / "val"), root=str(root))


def _posetrack_oracle(pt):
    from vipnas_tf.data.posetrack import PoseTrackData  # pylint: disable=import-outside-toplevel

    samples = PoseTrackData(pt.ann, pt.root).samples
    centers, scales = samples.center_scale(SIZE, 1.25)
    return OracleFn(types.SimpleNamespace(samples=samples, codec=HeatmapCodec(SIZE), centers=centers,
                                          scales=scales), 8)


@pytest.mark.parametrize("kind", ["frame", "track"])
def test_posetrack_per_video_results_are_the_official_ids_and_score_100(posetrack, tmp_path, kind):
    oracle = _posetrack_oracle(posetrack)
    seen = []

    def track_fn(images, matrices):
        seen.append(matrices.shape)
        return oracle(images)

    predictor = (Predictor(SIZE, oracle, keypoint_layout="posetrack18") if kind == "frame"
                 else Predictor(SIZE, track_fn=track_fn, keypoint_layout="posetrack18"))
    out_dir = tmp_path / "results"
    config = EvaluationConfig(posetrack.ann, posetrack.root, str(out_dir), metric="posetrack", progress=False)
    out = run_evaluation(config, predictor)
    assert out["Total"] == pytest.approx(100.0) and out["num_persons"] == 14
    assert sorted(os.listdir(out_dir)) == sorted(os.listdir(posetrack.ann))
    assert kind == "frame" or (seen and all(s[1:] == (2, 3) for s in seen))
    gt = load_posetrack_gt(posetrack.ann)
    assert posetrack_map(gt, load_posetrack_predictions(str(out_dir), gt))["Total"] == out["Total"]
    for name in os.listdir(out_dir):
        mine = json.loads((out_dir / name).read_text())
        theirs = json.loads(open(os.path.join(posetrack.ann, name)).read())
        assert [i["file_name"] for i in mine["images"]] == [i["file_name"] for i in theirs["images"]]
        key = lambda a: (a["image_id"], a["track_id"])  # noqa: E731
        assert sorted(map(key, mine["annotations"])) == sorted(
            key(a) for a in theirs["annotations"] if any(a["keypoints"][2::3]))


def test_posetrack_refuses_detections_and_another_layout(posetrack, tmp_path, coco):
    with pytest.raises(ValueError, match="ground-truth boxes"):
        EvaluationConfig(posetrack.ann, posetrack.root, str(tmp_path / "r"), metric="posetrack",
                         detections=coco.ann)
    config = EvaluationConfig(posetrack.ann, posetrack.root, str(tmp_path / "r"), metric="posetrack", progress=False)
    with pytest.raises(ValueError, match="model_dir M.*'coco'.*'posetrack18'"):
        run_evaluation(config, Predictor(SIZE, content_fn, keypoint_layout="coco", source="model_dir M"))
    assert not (tmp_path / "r").exists()
