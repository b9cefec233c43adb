import hashlib
import json
import os

import numpy as np
import pytest

from vipnas_tf.data import synthetic_person as sp
from vipnas_tf.data.posetrack import PoseTrackData
from vipnas_tf.data.synthetic import generate, synthetic_paths, training_paths, val_clips
from vipnas_tf.metrics.coco_eval import coco_keypoint_eval, load_coco_gt, results_from_ground_truth
from vipnas_tf.metrics.posetrack_eval import load_posetrack_gt, load_posetrack_predictions, posetrack_map


def _digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_deterministic_by_seed_and_independent_of_workers(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    kw = dict(images=5, clips=2, frames=3, progress=False)
    generate(a, seed=1, workers=1, **kw)
    generate(b, seed=1, workers=2, **kw)
    generate(c, seed=2, workers=1, **kw)
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)


def test_layout_and_summary(tmp_path):
    summary = generate(tmp_path, images=10, clips=3, frames=4, seed=0, workers=1, progress=False)
    assert summary["coco_train_images"] + summary["coco_val_images"] == 10
    assert summary["posetrack_train_videos"] + summary["posetrack_val_videos"] == 3
    assert summary["posetrack_val_frames"] == 4 * summary["posetrack_val_videos"]
    assert (tmp_path / "coco" / "annotations" / "person_keypoints_val.json").exists()
    assert (tmp_path / "coco" / "annotations" / "person_detections_val.json").exists()
    videos = sorted((tmp_path / "posetrack" / "annotations" / "train").glob("*.json"))
    assert len(videos) == summary["posetrack_train_videos"]
    v = json.loads(videos[0].read_text())
    img = v["images"][0]
    for key in ("vid_id", "frame_id", "nframes", "file_name", "ignore_regions_x", "ignore_regions_y", "is_labeled"):
        assert key in img
    ann = v["annotations"][0]
    for key in ("track_id", "bbox_head", "bbox", "keypoints", "occluded"):
        assert key in ann
    assert (tmp_path / "posetrack" / img["file_name"]).exists()
    assert v["categories"][0]["keypoints"][1:3] == ["head_bottom", "head_top"]


def test_ground_truth_scores_perfectly(synthetic_root):
    ann = synthetic_root / "coco" / "annotations" / "person_keypoints_val.json"
    gt = load_coco_gt(ann)
    res = results_from_ground_truth(json.loads(ann.read_text()))
    assert coco_keypoint_eval(gt, res)["AP"] == 1.0
    pt = synthetic_root / "posetrack" / "annotations" / "val"
    gt = load_posetrack_gt(pt)
    assert posetrack_map(gt, load_posetrack_predictions(pt, gt))["Total"] == 100.0


def test_videos_have_occlusion_after_visibility(tmp_path):
    """People pass behind a pillar for a few frames: a joint seen earlier is hidden later."""
    generate(tmp_path, images=0, clips=6, frames=8, seed=0, workers=1, progress=False)
    data = PoseTrackData(tmp_path / "posetrack" / "annotations" / "train", tmp_path / "posetrack")
    s = data.samples
    occluded = (s.occluded > 0).sum(axis=1)
    assert occluded.max() >= 5  # a person mostly hidden in some frame
    n_clips_hidden_after_seen = 0
    for idx in data.clips(8).indices:
        occ = occluded[idx]
        if occ[0] == 0 and occ.max() >= 3:
            n_clips_hidden_after_seen += 1
            # hidden only for a few frames, not for the whole clip
            assert (occ >= 3).sum() <= 6
    assert n_clips_hidden_after_seen >= 3
    # Joints stay labelled while hidden, so an earlier frame can tell where they are.
    assert (s.visible[s.occluded > 0] > 0).all()


def test_person_skeleton_plausible():
    rng = np.random.default_rng(0)
    for _ in range(20):
        style = sp.sample_style(rng)
        pts = sp.build_points((100, 100), 50.0, style, sp.sample_angles(rng))
        assert pts.shape == (19, 2)
        limb = lambda a, b: np.linalg.norm(pts[a] - pts[b])  # noqa: E731
        assert 0.5 * 50 <= limb(5, 7) <= 0.7 * 50 and 0.75 * 50 <= limb(11, 13) <= 1.0 * 50
        assert limb(7, 5) == limb(5, 7)
        # head_top above head_bottom for near-upright torsos
        assert pts[sp.HEAD_TOP, 1] < pts[sp.HEAD_BOTTOM, 1]
        # facing front: the person's left shoulder is on the image's right
        side = np.sign(pts[5, 0] - pts[6, 0])
        assert side == (1 if style.facing_front else -1)


def test_ensure_generates_once_and_reuses_a_finished_set(tmp_path):
    from vipnas_tf.data.synthetic import SUMMARY_FILE, ensure

    root = tmp_path / "syn"
    first = ensure(root, images=4, clips=2, frames=2, progress=False)
    marker = root / SUMMARY_FILE
    assert marker.exists() and first["coco_train_images"] + first["coco_val_images"] == 4
    ann = root / "coco" / "annotations" / "person_keypoints_train.json"
    stamp = ann.stat().st_mtime_ns
    # A second call (even asking for another size) reuses the finished set untouched.
    assert ensure(root, images=40, clips=2, frames=2, progress=False) == first
    assert ann.stat().st_mtime_ns == stamp
    # A set whose summary is missing (an interrupted generation) is generated again.
    marker.unlink()
    ensure(root, images=4, clips=2, frames=2, progress=False)
    assert marker.exists()


def test_synthetic_paths_are_where_generate_writes(synthetic_root):
    """One function knows the layout: every path it names exists after `generate`, the
    training paths load, and each val clip's frames folder holds its annotated frames."""
    paths = synthetic_paths(synthetic_root)
    for which in ("coco", "posetrack"):
        for key, path in paths[which].items():
            assert os.path.exists(path), (which, key, path)
        assert training_paths(synthetic_root, which) == {k: paths[which][k] for k in
                                                         ("train_ann", "train_images", "val_ann", "val_images")}
    clips = val_clips(synthetic_root)
    assert clips and all(os.path.isdir(frames) for _, frames in clips)
    first = json.loads(open(clips[0][0]).read())
    assert os.path.basename(os.path.dirname(first["images"][0]["file_name"])) == os.path.basename(clips[0][1])
    with pytest.raises(ValueError, match="synthetic set 'mpii'"):
        training_paths(synthetic_root, "mpii")
