"""Shared pytest fixtures. Tests run Keras 3 on the TensorFlow backend, on the CPU."""
import os
import pathlib
import sys
import types

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

import pytest  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
# ../shared/data beside the checkout; VIPNAS_SHARED_DATA names it for a checkout elsewhere.
SHARED_DATA = pathlib.Path(os.environ.get("VIPNAS_SHARED_DATA") or REPO_ROOT.parent / "shared" / "data")


# ---- parallel runs (pytest-xdist, `-n 2`) --------------------------------------------
# Each test file runs whole on one worker, so its module fixtures are built once. The
# files that share the trained runs below (key_run, temporal_run) run on one worker
# together, so those runs are trained once per test run.
SHARED_RUNS = {"key_run", "temporal_run"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    if not config.pluginmanager.hasplugin("xdist"):
        return
    shared = {str(item.fspath) for item in items if SHARED_RUNS & set(getattr(item, "fixturenames", ()))}
    for item in items:
        group = "trained_runs" if str(item.fspath) in shared else item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def shared_data():
    """Path to ../shared/data (real COCO / PoseTrack samples); skips if absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared sample data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def repo_root():
    return REPO_ROOT


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory):
    """A small synthetic COCO + PoseTrack set (16 images, 4 videos of 5 frames), read by
    the data and evaluation tests; generated once per test run."""
    from vipnas_tf.data.synthetic import generate  # pylint: disable=import-outside-toplevel

    root = tmp_path_factory.mktemp("synthetic")
    generate(root, images=16, clips=4, frames=5, seed=3, workers=1, progress=False)
    return root


# ---- scripts/train.py runs shared by tests/training and tests/search -------------------
# One tiny synthetic set and three short runs of the real script (64x64, MobileNetV3
# space), each SIGKILLed mid-run and resumed to the end: a stand-alone S-ViPNet (the
# key model), a super-network (sandwich rule) and a temporal model on that key model.
# Tests read what the runs logged and wrote; the temporal search tests use the
# temporal model. Each run costs one to two minutes, so they are built once.
TRAIN_SCRIPT = REPO_ROOT / "scripts" / "train.py"


def train_env():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def logged_steps(model_dir):
    """The steps of MODEL_DIR/metrics.jsonl, in order."""
    import json  # pylint: disable=import-outside-toplevel

    path = os.path.join(model_dir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line)["step"] for line in f if line.strip()]


def latest_checkpoint_step(model_dir):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    latest = tf.train.latest_checkpoint(os.path.join(model_dir, "ckpt"))
    return int(latest.rsplit("-", 1)[1]) if latest else None


def kill_and_resume(args, model_dir, kill_after, timeout=900):
    """Runs `args` (a scripts/train.py command), SIGKILLs it once `kill_after` steps are
    logged, then runs it again to the end. Returns what a test needs to check."""
    import signal  # pylint: disable=import-outside-toplevel
    import subprocess  # pylint: disable=import-outside-toplevel
    import time  # pylint: disable=import-outside-toplevel

    os.makedirs(model_dir, exist_ok=True)
    first_log = os.path.join(os.path.dirname(model_dir), os.path.basename(model_dir) + ".first.log")
    with open(first_log, "w") as err:
        proc = subprocess.Popen(args, env=train_env(), stdout=subprocess.DEVNULL, stderr=err, text=True)
        deadline = time.time() + timeout
        while time.time() < deadline and max(logged_steps(model_dir), default=0) < kill_after \
                and proc.poll() is None:
            time.sleep(0.2)
        alive = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with open(first_log) as f:
        first = f.read()
    if not alive:
        raise RuntimeError(f"training ended before it could be killed: {first[-3000:]}")
    killed_at = max(logged_steps(model_dir))
    resume_from = latest_checkpoint_step(model_dir)
    out = subprocess.run(args, env=train_env(), capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"resumed training failed: {out.stderr[-3000:]}")
    return {"model_dir": model_dir, "args": args, "killed_at": killed_at, "resume_from": resume_from,
            "first_log": first, "resume_log": out.stderr, "steps": logged_steps(model_dir)}


def train_args(data_dir, model_dir, *extra):
    return [sys.executable, str(TRAIN_SCRIPT), "--space=mobilenetv3", "--input_size=64x64", "--batch_size=4",
            "--learning_rate=2e-3", "--lr_schedule=constant", "--log_every=1", "--eval_every=-1",
            "--noprogress", f"--synthetic_data={data_dir}", f"--model_dir={model_dir}", *extra]


@pytest.fixture(scope="session")
def train_script():
    """The helpers above, for tests: args(data_dir, model_dir, *flags), kill_and_resume,
    logged_steps, latest_checkpoint_step, env."""
    return types.SimpleNamespace(args=train_args, kill_and_resume=kill_and_resume, logged_steps=logged_steps,
                                 latest_checkpoint_step=latest_checkpoint_step, env=train_env, script=str(TRAIN_SCRIPT))


@pytest.fixture(scope="session")
def train_data(tmp_path_factory):
    """Tiny synthetic set: 16 + 8 COCO images, 4 + 2 PoseTrack videos of 6 frames."""
    from vipnas_tf.data.synthetic import generate  # pylint: disable=import-outside-toplevel

    root = tmp_path_factory.mktemp("train_data")
    generate(str(root), images=24, clips=6, frames=6, workers=1, progress=False, val_fraction=0.34)
    return str(root)


@pytest.fixture(scope="session")
def key_run(train_data, tmp_path_factory):
    """The smallest MobileNetV3 S-ViPNet trained stand-alone (He kernels) for 12 steps on
    the synthetic PoseTrack18 frames (the layout of the temporal run built on it),
    checkpoint every 3, killed after step 7 and resumed."""
    from vipnas_tf.arch import get_space  # pylint: disable=import-outside-toplevel

    model_dir = str(tmp_path_factory.mktemp("runs") / "key")
    args = train_args(train_data, model_dir, "--mode=standalone", f"--arch={get_space('mobilenetv3').min().to_string()}",
                      "--synthetic_set=posetrack", "--kernel_init=he", "--train_steps=12", "--checkpoint_every=3", "--keep_checkpoints=10")
    return kill_and_resume(args, model_dir, kill_after=7)


@pytest.fixture(scope="session")
def temporal_run(train_data, key_run, tmp_path_factory):
    """A T = 2 temporal model on `key_run` (He kernels requested), 9 steps, checkpoint
    every 3, killed after step 4 and resumed."""
    model_dir = str(tmp_path_factory.mktemp("runs") / "temporal")
    args = train_args(train_data, model_dir, "--mode=temporal", f"--key_model_dir={key_run['model_dir']}",
                      "--num_frames=2", "--num_random=0", "--kernel_init=he", "--train_steps=9",
                      "--checkpoint_every=3", "--keep_checkpoints=10")
    return kill_and_resume(args, model_dir, kill_after=4)
