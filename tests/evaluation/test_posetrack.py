import json

import numpy as np
import pytest
from .oracle_helpers import OracleFn

from vipnas_tf.evaluation import PoseTrackEvaluator, evaluate_posetrack, occluded_joint_pckh, occlusion_clips
from vipnas_tf.metrics.posetrack_eval import load_posetrack_predictions, posetrack_map


@pytest.fixture(scope="module")
def shared_pt(shared_data):
    root = shared_data / "mmpose_samples" / "posetrack18"
    return root / "annotations" / "val", root


@pytest.fixture(scope="module")
def synthetic_evaluator(synthetic_root):
    root = synthetic_root / "posetrack"
    return PoseTrackEvaluator(root / "annotations" / "val", root, (128, 96))


@pytest.mark.parametrize("flip_test", [False, True])
def test_oracle_scores_100_on_shared_sample(shared_pt, flip_test, tmp_path):
    ann, root = shared_pt
    ev = PoseTrackEvaluator(ann, root, (256, 192))
    out = ev.evaluate(OracleFn(ev, 4, flip_test), flip_test=flip_test, batch_size=4, results_path=tmp_path / "res")
    assert out["Total"] == pytest.approx(100.0)
    # per-video results files in the ground truth's format, scored again from disk
    files = sorted(p.name for p in (tmp_path / "res").glob("*.json"))
    assert files == sorted(p.name for p in ann.glob("*.json"))
    first = json.loads((tmp_path / "res" / files[0]).read_text())
    assert {"images", "annotations", "categories"} <= set(first)
    assert len(first["annotations"][0]["scores"]) == 17 and "track_id" in first["annotations"][0]
    assert posetrack_map(ev.gt, load_posetrack_predictions(tmp_path / "res", ev.gt))["Total"] == pytest.approx(100.0)


def test_single_file_ground_truth_writes_single_file(shared_data, tmp_path):
    root = shared_data / "mmpose_samples" / "posetrack18"
    ann = root / "annotations" / "test_posetrack18_val.json"
    ev = PoseTrackEvaluator(ann, root, (128, 96))
    out = evaluate_posetrack(OracleFn(ev, 64), ann, root, (128, 96), results_path=tmp_path / "r.json")
    assert out["Total"] == pytest.approx(100.0) and (tmp_path / "r.json").is_file()


def test_shifted_predictions_lower_the_score(synthetic_evaluator):
    ev = synthetic_evaluator
    good = ev.evaluate(OracleFn(ev, 64))
    bad = ev.evaluate(OracleFn(ev, 64, shift_px=12.0))  # 12 crop px = about a head size
    assert good["Total"] > 95.0 and bad["Total"] < good["Total"] - 20


def test_occlusion_scores_reported_on_synthetic(synthetic_evaluator):
    ev = synthetic_evaluator
    out = ev.evaluate(OracleFn(ev, 64))
    assert out["num_occluded_joints"] > 0 and out["num_visible_joints"] > 0
    assert out["occluded_PCKh"] > 95.0 and out["visible_PCKh"] > 95.0


def test_occluded_pckh_separates_hidden_joints(synthetic_evaluator):
    """A predictor that is right only on visible joints gets 100 there and ~0 on hidden ones."""
    ev = synthetic_evaluator
    s = ev.samples
    rows = np.arange(len(s))
    kp = s.keypoints.copy()
    kp[s.occluded > 0] += 500.0
    out = occluded_joint_pckh(ev.data, rows, kp)
    assert out["visible_PCKh"] == 100.0 and out["occluded_PCKh"] == 0.0
    scored = ev.score(kp, np.ones((len(s), 17)))
    assert scored["occluded_PCKh"] == 0.0 and scored["Total"] < 100.0


def test_occlusion_clips_start_visible_end_hidden(synthetic_root):
    from vipnas_tf.data.posetrack import PoseTrackData

    root = synthetic_root / "posetrack"
    data = PoseTrackData(root / "annotations" / "train", root)
    clips = occlusion_clips(data, 3, min_occluded=1)
    occ = (data.samples.occluded > 0).sum(axis=1)
    assert 0 < len(clips) < len(data.clips(3))
    for idx in clips.indices:
        assert occ[idx[0]] == 0 and occ[idx[-1]] >= 1


def test_model_of_another_layout_is_refused(shared_pt, shared_data):
    from vipnas_tf.codecs import LayoutMismatchError
    from vipnas_tf.evaluation import CocoEvaluator
    from vipnas_tf.evaluation.clips import ClipEvaluator

    ann, root = shared_pt
    with pytest.raises(LayoutMismatchError) as e:
        PoseTrackEvaluator(ann, root, (64, 64), keypoint_layout="coco", model_source="model_dir /runs/coco")
    assert all(s in str(e.value) for s in ("/runs/coco", str(ann), "'coco'", "'posetrack18'", "cannot evaluate"))
    assert PoseTrackEvaluator(ann, root, (64, 64), keypoint_layout="posetrack18").keypoint_layout == "posetrack18"
    base = PoseTrackEvaluator(ann, root, (64, 64))
    with pytest.raises(LayoutMismatchError, match="schedule.json"):
        ClipEvaluator(ann, root, (64, 64), 1, base=base, keypoint_layout="coco", model_source="schedule.json")
    coco = shared_data / "mmpose_samples" / "coco"
    with pytest.raises(LayoutMismatchError, match="test_coco.json"):
        CocoEvaluator(coco / "test_coco.json", coco, (64, 64), keypoint_layout="posetrack18")


def test_clip_evaluator_scores_fixed_heatmaps_as_it_scores_a_model(synthetic_root):
    """`ClipEvaluator.score_heatmaps` on the ground-truth heatmaps of the non-key rows
    gives the score `evaluate_framewise` gives the oracle; shifted ones score lower, and
    heatmaps that are not one per row are refused, naming the expected shape."""
    from vipnas_tf.evaluation.clips import ClipEvaluator

    root = synthetic_root / "posetrack"
    ev = ClipEvaluator(root / "annotations" / "val", root, (128, 96), num_frames=2)
    rows = ev.nonkey_rows
    oracle = OracleFn(ev.base, 64).plain
    fixed = ev.score_heatmaps(oracle[rows])
    assert fixed["Total"] > 95.0
    batches = iter(np.split(oracle[rows], range(4, len(rows), 4)))
    assert fixed["Total"] == pytest.approx(ev.evaluate_framewise(lambda x: next(batches), batch_size=4)["Total"])
    shifted = OracleFn(ev.base, 64, shift_px=12.0).plain
    assert ev.score_heatmaps(shifted[rows])["Total"] < fixed["Total"] - 20
    with pytest.raises(ValueError, match=rf"expected \[{len(rows)}, h, w, K\]"):
        ev.score_heatmaps(oracle[rows][:-1])
