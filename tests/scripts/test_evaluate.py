import json
import subprocess
import sys

import pytest


def _run(repo_root, *args):
    return subprocess.run([sys.executable, str(repo_root / "scripts" / "evaluate.py"), *args],
                          capture_output=True, text=True, cwd=repo_root, timeout=120)


def test_coco_ground_truth_as_results_is_ap_1(repo_root, shared_data):
    gt = shared_data / "mmpose_samples" / "coco" / "test_coco.json"
    r = _run(repo_root, "--metric=coco", f"--gt={gt}", f"--results={gt}", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["AP"] == 1.0


@pytest.mark.parametrize("results", ["annotations/val", "annotations/test_posetrack18_val.json"])
def test_posetrack_ground_truth_as_results_is_100(repo_root, shared_data, results):
    root = shared_data / "mmpose_samples" / "posetrack18"
    r = _run(repo_root, "--metric=posetrack", f"--gt={root / 'annotations' / 'val'}",
             f"--results={root / results}", "--json")
    assert r.returncode == 0, r.stderr
    table = json.loads(r.stdout)
    assert table["Total"] == 100.0
    assert {"Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle"} <= set(table)


def test_results_for_unknown_images_fail_naming_them(repo_root, shared_data, tmp_path):
    gt = shared_data / "mmpose_samples" / "coco" / "test_coco.json"
    res = tmp_path / "res.json"
    res.write_text(json.dumps([{"image_id": 31337, "category_id": 1, "keypoints": [0] * 51, "score": 1.0}]))
    r = _run(repo_root, "--metric=coco", f"--gt={gt}", f"--results={res}", "--json")
    assert r.returncode != 0 and "31337" in r.stderr


def test_flagfile_is_supported(repo_root, shared_data, tmp_path):
    gt = shared_data / "mmpose_samples" / "coco" / "test_coco.json"
    flags = tmp_path / "flags.txt"
    flags.write_text(f"--metric=coco\n--gt={gt}\n--results={gt}\n--json\n")
    r = _run(repo_root, f"--flagfile={flags}")
    assert r.returncode == 0 and json.loads(r.stdout)["AP"] == 1.0


def test_results_of_another_keypoint_layout_are_refused(repo_root, shared_data):
    root = shared_data / "mmpose_samples" / "posetrack18"
    gt = root / "annotations" / "val"
    r = _run(repo_root, "--metric=posetrack", f"--gt={gt}", f"--results={gt}", "--keypoint_layout=coco")
    assert r.returncode == 2
    assert "--keypoint_layout=coco" in r.stderr and str(gt) in r.stderr and "'posetrack18'" in r.stderr
    coco = shared_data / "mmpose_samples" / "coco" / "test_coco.json"  # COCO keypoint names in the file
    r = _run(repo_root, "--metric=coco", f"--gt={root / 'annotations' / 'test_posetrack18_val.json'}",
             f"--results={coco}")
    assert r.returncode == 2 and "test_coco.json (their keypoint names)" in r.stderr and "'coco'" in r.stderr
