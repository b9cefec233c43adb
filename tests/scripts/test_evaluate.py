import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from vipnas_tf.arch import get_space
from vipnas_tf.metrics.coco_eval import STAT_NAMES, coco_keypoint_eval, load_coco_gt
from vipnas_tf.models import build_static
from vipnas_tf.models.random_init import randomize_weights
from vipnas_tf.temporal import Schedule, TemporalSpace
from vipnas_tf.training.model_dir import model_checkpoint


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


# ---- running a model: the test protocol end to end ---------------------------------------


def _static_model_dir(path, layout, input_size=(64, 64)):
    """A "static" model directory of the smallest MobileNetV3 S-ViPNet, random weights."""
    arch = get_space("mobilenetv3").min()
    model = randomize_weights(build_static(arch, input_size), seed=3)
    path.mkdir(parents=True)
    (path / "run_config.json").write_text(json.dumps({
        "mode": "static", "space": "mobilenetv3", "arch": arch.to_string(), "input_size": list(input_size),
        "keypoint_layout": layout}))
    tf.train.CheckpointManager(model_checkpoint(model), str(path / "ckpt"), 1).save(checkpoint_number=1)
    return arch


def test_running_needs_a_model_and_refuses_detections_on_posetrack(repo_root, shared_data, tmp_path):
    coco = shared_data / "mmpose_samples" / "coco"
    r = _run(repo_root, f"--ann={coco / 'test_coco.json'}", f"--images={coco}", f"--output={tmp_path / 'r.json'}")
    assert r.returncode == 2 and "exactly one of --model_dir and --schedule" in r.stderr
    r = _run(repo_root, f"--ann={coco / 'test_coco.json'}", f"--model_dir={tmp_path}", f"--images={coco}")
    assert r.returncode == 2 and "--output is required" in r.stderr
    pt = shared_data / "mmpose_samples" / "posetrack18"
    r = _run(repo_root, "--metric=posetrack", f"--ann={pt / 'annotations' / 'val'}", f"--images={pt}",
             f"--model_dir={tmp_path}", f"--detections={coco / 'test_coco_det_AP_H_56.json'}",
             f"--output={tmp_path / 'out'}")
    assert r.returncode == 2 and "ground-truth boxes" in r.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "r.json").exists()


@pytest.mark.slow
def test_model_dir_on_coco_detections_with_flip_test(repo_root, shared_data, tmp_path):

    _static_model_dir(tmp_path / "model", "coco")
    coco = shared_data / "mmpose_samples" / "coco"
    out = tmp_path / "results.json"
    r = _run(repo_root, f"--model_dir={tmp_path / 'model'}", f"--ann={coco / 'test_coco.json'}", f"--images={coco}",
             f"--detections={coco / 'test_coco_det_AP_H_56.json'}", "--flip_test", f"--output={out}", "--json",
             "--noprogress")
    assert r.returncode == 0, r.stderr[-3000:]
    table = json.loads(r.stdout)
    again = coco_keypoint_eval(load_coco_gt(str(coco / "test_coco.json")), json.loads(out.read_text()))
    assert {k: table[k] for k in STAT_NAMES} == {k: again[k] for k in STAT_NAMES}
    assert table["num_persons"] == 118 and table["num_results"] == len(json.loads(out.read_text())) > 0
    assert table["skipped"] == {"box_partly_outside_image": 2}
    assert "detection #28 (image_id 197388" in r.stderr  # named in the log too


@pytest.mark.slow
def test_schedule_along_posetrack_tracks(repo_root, synthetic_root, tmp_path):

    arch = _static_model_dir(tmp_path / "key", "posetrack18")
    frames = [TemporalSpace(get_space("mobilenetv3"), max_arch=arch).min(np.random.default_rng(0))]
    Schedule.from_archs(arch, frames, (64, 64), key_model_dir=str(tmp_path / "key"),
                        keypoint_layout="posetrack18").save(tmp_path / "schedule.json")
    pt = synthetic_root / "posetrack"
    ann, out = pt / "annotations" / "val", tmp_path / "results"
    r = _run(repo_root, "--metric=posetrack", f"--schedule={tmp_path / 'schedule.json'}", f"--ann={ann}",
             f"--images={pt}", f"--output={out}", "--json", "--noprogress")
    assert r.returncode == 0, r.stderr[-3000:]
    table = json.loads(r.stdout)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in ann.iterdir())
    assert table["num_persons"] > table["num_frames"] > 0 and table["skipped"] == {}
    again = _run(repo_root, "--metric=posetrack", f"--gt={ann}", f"--results={out}", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["Total"] == table["Total"]

