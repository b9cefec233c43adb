"""Temporal training and allocation pieces that run fast: sandwich sampling over
frames, the clip evaluator (ground-truth heatmaps score 100 on non-key frames), and the
allocation search's start-up checks."""
import json

import numpy as np
import pytest

from vipnas_tf.arch import get_space
from vipnas_tf.codecs.affine import affine_transform_points, get_affine_matrix
from vipnas_tf.search.spatial import SearchError
from vipnas_tf.search.temporal import TemporalSearch
from vipnas_tf.temporal.frame_arch import TemporalSpace
from vipnas_tf.training.temporal import TemporalSandwichSampler


def test_temporal_sandwich_members_are_seeded_by_step():
    space = get_space("mobilenetv3")
    tspace = TemporalSpace(space, max_arch=space.sample(np.random.default_rng(1)))
    s = TemporalSandwichSampler(tspace, num_frames=3, num_random=2, seed=4)
    v = s.vectors(9)
    assert v.shape == (4, 3, tspace.encoding_size) and v.dtype == np.int32
    np.testing.assert_array_equal(v, TemporalSandwichSampler(tspace, 3, 2, 4).vectors(9))
    biggest = [tspace.decode(row) for row in v[0]]
    smallest = [tspace.decode(row) for row in v[1]]
    assert all(f.spatial == tspace.max_arch for f in biggest)
    assert all(f.spatial == space.min() for f in smallest)
    assert s.member_names == ["max", "min", "rand1", "rand2"]


@pytest.fixture(scope="module")
def pt_data(tmp_path_factory):
    from vipnas_tf.data.synthetic import generate

    root = tmp_path_factory.mktemp("pt")
    generate(str(root), images=4, clips=4, frames=6, workers=1, progress=False, val_fraction=0.5)
    pt = root / "posetrack"
    return {"val_ann": str(pt / "annotations" / "val"), "val_images": str(pt),
            "train_ann": str(pt / "annotations" / "train"), "train_images": str(pt)}


def test_clip_evaluator_scores_ground_truth_perfectly(pt_data):
    from vipnas_tf.evaluation.clips import ClipEvaluator

    ev = ClipEvaluator(pt_data["val_ann"], pt_data["val_images"], (64, 64), num_frames=2)
    base = ev.base
    assert ev.num_clips >= 1 and len(ev.nonkey_rows) == 2 * ev.num_clips
    s = base.samples

    def gt_heatmaps(rows):
        out = []
        for r in rows:
            m = get_affine_matrix(base.centers[r], base.scales[r], 0.0, (64, 64))
            kp = affine_transform_points(s.keypoints[r], m)
            out.append(base.codec.encode(kp, s.visible[r])[0])
        return np.stack(out)

    state = {"start": 0}

    def clip_predict(clips, crop_matrices):
        n = len(clips)
        assert crop_matrices.shape == (n, 3, 2, 3)
        rows = ev.clip_rows[state["start"]:state["start"] + n, 1:]
        state["start"] += n
        return gt_heatmaps(rows.reshape(-1)).reshape((n, 2) + base.codec.heatmap_size + (s.info.num_keypoints,))

    result = ev.evaluate(clip_predict, batch_size=2)
    assert result["Total"] > 99.0
    assert len(result["frame_map"]) == 2 and min(result["frame_map"]) > 99.0
    assert all(n > 0 for n in result["frame_num_scored_frames"])
    # Position 2 predicted as all-zero heatmaps: its AP^2 is ~0, AP^1 stays 100. The
    # eq. 3 sum is then ~100 and the pooled mAP ~50: position 2's zero-score misses
    # rank below every position-1 hit, so the pooled curve reaches recall 0.5 at
    # precision 1 (pooled = sum / T here, with equally many persons per position).
    state["start"] = 0

    def second_frame_blind(clips, crop_matrices):
        heat = np.array(clip_predict(clips, crop_matrices))
        heat[:, 1] = 0.0
        return heat

    blind = ev.evaluate(second_frame_blind, batch_size=2)
    assert blind["frame_map"][0] > 99.0 and blind["frame_map"][1] < 1.0
    assert blind["Total"] == pytest.approx(sum(blind["frame_map"]) / 2, abs=2.0)
    with pytest.raises(ValueError, match="num_frames"):
        ClipEvaluator(pt_data["val_ann"], pt_data["val_images"], (64, 64), num_frames=0)


def _temporal_dir(tmp_path, pt_data, mode="temporal"):
    space = get_space("mobilenetv3")
    d = tmp_path / "temporal"
    d.mkdir()
    cfg = {"mode": mode, "space": "mobilenetv3", "input_size": [64, 64], "num_frames": 3,
           "key_arch": space.max().to_string(), "key_model_dir": str(tmp_path), **pt_data}
    (d / "run_config.json").write_text(json.dumps(cfg))
    return str(d)


def test_allocation_search_startup_errors(tmp_path, pt_data):
    d = _temporal_dir(tmp_path, pt_data)
    with pytest.raises(SearchError, match="smallest achievable total"):
        TemporalSearch(d, str(tmp_path / "out"), frames=3, max_avg_gflops=1e-4)
    with pytest.raises(SearchError, match="frames"):
        TemporalSearch(d, str(tmp_path / "out"), frames=0, max_avg_gflops=0.1)
    with pytest.raises(SearchError, match="exactly one"):
        TemporalSearch(d, str(tmp_path / "out"), frames=3)
    other = tmp_path / "other"
    other.mkdir()
    (other / "run_config.json").write_text(json.dumps({"mode": "supernet", "space": "mobilenetv3"}))
    with pytest.raises(SearchError, match="not a trained temporal model"):
        TemporalSearch(str(other), str(tmp_path / "out"), frames=3, max_avg_gflops=0.1)
