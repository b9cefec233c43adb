"""scripts/train.py end to end on a tiny synthetic set: resume after SIGKILL, NaN stop,
start-up errors. Stand-alone training of the smallest MobileNetV3 sub-network at 64x64
keeps each process to about a minute."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "train.py")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    from vipnas_tf.data.synthetic import generate

    root = tmp_path_factory.mktemp("synthetic")
    generate(str(root), images=24, clips=2, frames=4, workers=1, progress=False)
    return str(root)


def _min_arch():
    from vipnas_tf.arch import get_space

    return get_space("mobilenetv3").min().to_string()


def _args(data_dir, model_dir, *extra):
    return [sys.executable, SCRIPT, "--mode=standalone", "--space=mobilenetv3", f"--arch={_min_arch()}",
            "--input_size=64x64", "--batch_size=4", "--learning_rate=1e-3", "--lr_schedule=constant",
            "--log_every=1", "--eval_every=-1", "--noprogress", f"--synthetic_data={data_dir}",
            f"--model_dir={model_dir}", *extra]


def _env():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def _steps(model_dir):
    path = os.path.join(model_dir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line)["step"] for line in f if line.strip()]


def _latest(model_dir):
    import tensorflow as tf

    return tf.train.latest_checkpoint(os.path.join(model_dir, "ckpt"))


def test_sigkill_then_restart_finishes_and_loses_at_most_one_interval(data_dir, tmp_path):
    model_dir = str(tmp_path / "run")
    args = _args(data_dir, model_dir, "--train_steps=12", "--checkpoint_every=3")
    proc = subprocess.Popen(args, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 600
    while time.time() < deadline and (max(_steps(model_dir), default=0) < 7) and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, "training ended before it could be killed: " + proc.stderr.read()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = max(_steps(model_dir))
    resume_from = int(_latest(model_dir).rsplit("-", 1)[1])
    assert killed_at - resume_from <= 3  # at most one checkpoint interval lost
    out = subprocess.run(args, env=_env(), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"resuming from" in out.stderr
    steps = _steps(model_dir)
    assert steps[-1] == 12 and _latest(model_dir).endswith("ckpt-12")
    # the restarted run logged every step after its checkpoint exactly once more
    assert steps[steps.index(resume_from) + 1:] == list(range(resume_from + 1, killed_at + 1)) + \
        list(range(resume_from + 1, 13))
    # a further run has nothing to do
    again = subprocess.run(args, env=_env(), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "already trained to step 12" in again.stderr


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(data_dir, tmp_path):
    model_dir = str(tmp_path / "nan")
    # lr x1e30 after 40% of training: the weights explode within a few steps
    args = _args(data_dir, model_dir, "--train_steps=20", "--checkpoint_every=2", "--lr_schedule=step",
                 "--lr_decay_at=0.4", "--lr_decay_factor=1e30")
    out = subprocess.run(args, env=_env(), capture_output=True, text=True, timeout=600)
    assert out.returncode != 0
    assert "non-finite loss at step" in out.stderr and "last good checkpoint" in out.stderr
    latest = _latest(model_dir)
    assert latest is not None and int(latest.rsplit("-", 1)[1]) <= 9


def test_startup_errors_name_the_problem(data_dir, tmp_path):
    bad_flag = subprocess.run(_args(data_dir, str(tmp_path / "a"), "--train_steps=1", "--bogus_flag=3"),
                              env=_env(), capture_output=True, text=True, timeout=300)
    assert bad_flag.returncode != 0 and "bogus_flag" in bad_flag.stderr
    missing = subprocess.run(
        [sys.executable, SCRIPT, f"--model_dir={tmp_path / 'b'}", "--train_steps=1",
         f"--train_ann={tmp_path / 'nope.json'}", f"--train_images={tmp_path}", "--eval_every=-1"],
        env=_env(), capture_output=True, text=True, timeout=300)
    assert missing.returncode != 0 and "train_ann" in missing.stderr and "nope.json" in missing.stderr
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    unwritable = subprocess.run(_args(data_dir, str(blocker / "run"), "--train_steps=1"),
                                env=_env(), capture_output=True, text=True, timeout=300)
    assert unwritable.returncode != 0 and "cannot be written" in unwritable.stderr
