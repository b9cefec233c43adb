"""Run history (vipnas_tf/training/run_history.py): launches appended, a changed resume
refused with its differences unless allowed, another kind of run refused naming both,
flags recorded beside outputs; and the same through scripts/train.py on a trained run."""
import json
import os
import re
import shutil
import subprocess

import pytest

from vipnas_tf import __version__
from vipnas_tf.training import run_history as rh

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLAGS = {"mode": "supernet", "space": "mobilenetv3", "learning_rate": 0.001, "seed": 0, "log_every": 50,
         "train_steps": 100}


def _launch(run_dir, flags, **kw):
    kw.setdefault("may_change", rh.TRAIN_MAY_CHANGE)
    kw.setdefault("identity", rh.TRAIN_IDENTITY)
    changed = rh.check_launch(run_dir, "train", flags, **kw)
    rh.append_launch(run_dir, rh.launch_record("train", flags, ["--x"], "vipnas-train", changed))
    return changed


def test_launches_are_appended_with_time_and_version(tmp_path):
    assert _launch(tmp_path, FLAGS) == []
    assert _launch(tmp_path, dict(FLAGS, log_every=10)) == []  # may change: not a change
    history = rh.read_history(tmp_path)
    assert [h["flags"]["log_every"] for h in history] == [50, 10]
    assert all(h["kind"] == "train" and h["time"].endswith("Z") for h in history)
    assert history[0]["version"]["package"] == __version__
    assert "changed" not in history[1]


def test_changed_resume_is_refused_listing_each_difference(tmp_path):
    _launch(tmp_path, FLAGS)
    with pytest.raises(rh.RunHistoryError) as e:
        _launch(tmp_path, dict(FLAGS, learning_rate=0.01, train_steps=200))
    msg = str(e.value)
    assert str(tmp_path) in msg and "--learning_rate: 0.001 -> 0.01" in msg and "--train_steps: 100 -> 200" in msg
    assert "--allow_changed_flags" in msg
    assert len(rh.read_history(tmp_path)) == 1  # the refused launch is not recorded
    changed = _launch(tmp_path, dict(FLAGS, train_steps=200), allow_changed=True)
    assert changed == [("train_steps", 100, 200)]
    assert rh.read_history(tmp_path)[-1]["changed"] == [{"flag": "train_steps", "old": 100, "new": 200}]


def test_identity_change_is_refused_even_when_allowed(tmp_path):
    _launch(tmp_path, FLAGS)
    with pytest.raises(rh.RunHistoryError, match="holds a 'supernet' run, this is a 'temporal' run"):
        _launch(tmp_path, dict(FLAGS, mode="temporal"), allow_changed=True)
    with pytest.raises(rh.RunHistoryError, match="space='mobilenetv3', this launch has space='resnet50'"):
        _launch(tmp_path, dict(FLAGS, space="resnet50"), allow_changed=True)


def test_device_and_cluster_flags_may_change_on_resume(tmp_path):
    # what train.py defines, read from its source (importing it would define absl flags here)
    with open(os.path.join(REPO_ROOT, "vipnas_tf", "cli", "train.py")) as f:
        defined = set(re.findall(r'DEFINE_\w+\(\s*"(\w+)"', f.read()))
    assert rh.TRAIN_MAY_CHANGE <= defined, sorted(rh.TRAIN_MAY_CHANGE - defined)
    assert set(rh.TRAIN_IDENTITY) <= defined, sorted(set(rh.TRAIN_IDENTITY) - defined)
    one = dict(FLAGS, strategy="default", cpu_devices=0, tpu="", communication_timeout=0.0, jit_compile=False,
               mixed_precision="float32")
    assert _launch(tmp_path, one) == []
    # the same run resumed on a two-worker cluster with a collective timeout
    assert _launch(tmp_path, dict(one, strategy="multi_worker", communication_timeout=120.0)) == []
    assert _launch(tmp_path, dict(one, strategy="mirrored", cpu_devices=2)) == []
    with pytest.raises(rh.RunHistoryError, match="--mixed_precision: 'float32' -> 'bfloat16'"):
        _launch(tmp_path, dict(one, mixed_precision="bfloat16"))


def test_directory_of_another_kind_is_refused_naming_both(tmp_path):
    search = tmp_path / "search"
    rh.append_launch(search, rh.launch_record("search", {"out": str(search)}))
    with pytest.raises(rh.RunHistoryError, match=r"written by a 'search' run .*this is a 'train' launch"):
        _launch(search, FLAGS)
    trained = tmp_path / "trained"  # a model directory from before run histories: run_config.json only
    trained.mkdir()
    (trained / "run_config.json").write_text("{}")
    with pytest.raises(rh.RunHistoryError, match=r"written by a 'train' run \(.*run_config.json\), this is a 'search'"):
        rh.check_launch(trained, "search", {})
    assert _launch(trained, FLAGS) == []  # training resumes its own directory


def test_paths_compare_absolute_and_flags_written_beside_outputs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    flags = rh.normalize_flags({"train_ann": "a.json", "lr_decay_at": ("0.8",), "seed": 1}, rh.TRAIN_PATH_FLAGS)
    assert flags == {"train_ann": str(tmp_path / "a.json"), "lr_decay_at": ["0.8"], "seed": 1}
    model = tmp_path / "m.tflite"
    model.write_bytes(b"x")
    folder = tmp_path / "saved"
    folder.mkdir()
    record = rh.launch_record("convert", flags)
    assert rh.write_flags_beside(model, record) == str(model) + ".flags.json"
    assert rh.write_flags_beside(folder, record) == str(folder / "flags.json")
    assert json.loads((folder / "flags.json").read_text())["flags"]["seed"] == 1


@pytest.mark.slow  # needs the trained key_run fixture (tests/conftest.py)
def test_train_script_refuses_a_changed_resume_before_any_step(key_run, train_script, tmp_path):
    """The allowed path (--allow_changed_flags) is `check_launch(allow_changed=True)`,
    tested above; here only the refusal, which costs one TensorFlow start-up."""
    model_dir = tmp_path / "key"
    shutil.copytree(key_run["model_dir"], model_dir)
    history = rh.read_history(model_dir)
    assert len(history) >= 2 and history[0]["flags"] == history[-1]["flags"]  # killed launch + resume
    assert history[0]["flags"]["model_dir"] == os.path.abspath(key_run["model_dir"])
    assert history[0]["version"]["package"] == __version__
    metrics = (model_dir / "metrics.jsonl").read_text()
    args = [*key_run["args"], f"--model_dir={model_dir}", "--learning_rate=0.01", "--seed=5"]
    out = subprocess.run(args, env=train_script.env(), capture_output=True, text=True, timeout=600)
    assert out.returncode != 0
    assert "--learning_rate: 0.002 -> 0.01" in out.stderr and "--seed: 0 -> 5" in out.stderr, out.stderr[-2000:]
    assert "--allow_changed_flags" in out.stderr
    assert (model_dir / "metrics.jsonl").read_text() == metrics  # refused before any step
    assert len(rh.read_history(model_dir)) == len(history)
