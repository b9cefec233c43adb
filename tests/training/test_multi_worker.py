"""scripts/train.py --strategy=multi_worker for real: two worker processes on 127.0.0.1
(TF_CONFIG, free ports) against one process with MirroredStrategy over two logical CPUs,
which splits each global batch into the same two halves (batch-norm statistics are per
replica in both), so the losses must agree to float rounding. Super-network mode, on a
handful of large people that are both its training and its validation set (so that the
run overfits them and the AP compared is far from 0): both finish, only the chief writes
the run's files, the other worker's temporary directory is gone, the chief's validation
(AP and every person's predicted keypoints) equals a one-process validation of its final
checkpoint; then a worker is SIGKILLed mid-run, the chief stops by itself, and
restarting both resumes from the chief's latest checkpoint. Temporal mode: the same
equality on a T-ViPNet run. Each launch traces the real networks in every process, so
there are as few launches as possible."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.testcase import free_ports
from vipnas_tf.arch import get_space
from vipnas_tf.data.synthetic import generate, synthetic_paths, training_paths
from vipnas_tf.testing.model_dirs import make_supernet_dir
from vipnas_tf.training.trainer import VAL_RESULTS_SUBDIR, validate_run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIMEOUT = 1500  # seconds per launch; the processes stop by themselves long before
# Two processes vs one on the same global batch: the same arithmetic up to the order of
# a two-term sum, measured below 1e-6 relative; 1e-4 leaves room for other CPUs.
LOSS_RTOL = 1e-4

# The chief's validation vs one process validating its checkpoint: the same weights, BN
# re-calibration batches and crops, so the predictions differ at most by float rounding
# (measured: identical); in image pixels and keypoint-score units.
KEYPOINT_ATOL, SCORE_ATOL = 1e-3, 1e-5
# Steps of the super-network run: enough to overfit the four people from He kernels at
# lr 5e-3 (one process: biggest / smallest AP 0.07 / 0.01 at step 30, 0.40 / 0.26 at 40).
SUPERNET_STEPS = 40
MIN_AP = 0.05  # below this the networks still output the mean pose (AP ~0)

# The distributed tier: several processes tracing the real networks each take minutes
# (11 and 18 min for the two launches on a 2-core AMD EPYC under load), more than the
# whole suite may grow; BUILD.md, "Distributed tier".
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not os.environ.get("VIPNAS_DISTRIBUTED_TESTS"),
    reason="distributed tier: set VIPNAS_DISTRIBUTED_TESTS=1 (BUILD.md, 'Distributed tier')")]


def logged_steps(model_dir):
    if not os.path.exists(os.path.join(model_dir, "metrics.jsonl")):
        return []
    return [r["step"] for r in _records(model_dir)]


def _records(model_dir):
    with open(os.path.join(model_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


class Pair:
    """Two scripts/train.py workers of one cluster; worker i's TMPDIR is tmp_root/tmp{i}."""

    def __init__(self, args, tmp_root, tag, extra=((), ())):
        ports = free_ports(2)
        cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
        self.logs, self.procs, self.tmpdirs = [], [], []
        for i in range(2):
            tmpdir = os.path.join(tmp_root, f"tmp{i}")
            os.makedirs(tmpdir, exist_ok=True)
            env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TMPDIR=tmpdir,
                       TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}))
            log = os.path.join(tmp_root, f"{tag}.w{i}.log")
            with open(log, "w") as err:
                self.procs.append(subprocess.Popen([*args, "--strategy=multi_worker", *extra[i]], cwd=ROOT,
                                                   env=env, stdout=subprocess.DEVNULL, stderr=err))
            self.logs.append(log)
            self.tmpdirs.append(tmpdir)

    def wait(self, timeout=TIMEOUT):
        deadline = time.time() + timeout
        try:
            for p in self.procs:
                p.wait(timeout=max(1.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"multi-worker run did not stop within {timeout} s: {self.stderr(0)[-2000:]}")
        return [p.returncode for p in self.procs]

    def kill(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    def stderr(self, i):
        with open(self.logs[i]) as f:
            return f.read()


def _reference(args, tmp_root, tag):
    """The same run in one process: MirroredStrategy over two logical CPU devices."""
    log = open(os.path.join(tmp_root, f"{tag}.ref.log"), "w")
    return subprocess.Popen([*args, "--strategy=mirrored", "--cpu_devices=2"], cwd=ROOT,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), stdout=subprocess.DEVNULL,
                            stderr=log), log.name


def _wait_ref(proc, log):
    try:
        proc.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("one-process reference run did not finish")
    with open(log) as f:
        assert proc.returncode == 0, f.read()[-3000:]


def _people_set(root, num_people=4):
    """The `num_people` largest fully labelled people of a few synthetic COCO images, as one
    annotation file (root/people.json, images in root/images): the training and the
    validation set of the super-network run."""
    generate(os.path.join(root, "gen"), images=12, clips=0, frames=2, seed=5, val_fraction=0.1, workers=1,
             progress=False)
    coco = synthetic_paths(os.path.join(root, "gen"))["coco"]
    with open(coco["train_ann"]) as f:
        data = json.load(f)
    images = {im["id"]: im for im in data["images"]}
    people = [a for a in data["annotations"] if a["num_keypoints"] == 17
              and a["bbox"][3] > 0.6 * images[a["image_id"]]["height"]][:num_people]
    assert len(people) == num_people, "the synthetic images hold fewer large, fully labelled people"
    os.makedirs(os.path.join(root, "images"))
    ids = sorted({a["image_id"] for a in people})
    for i in ids:
        shutil.copy(os.path.join(coco["train_images"], images[i]["file_name"]), os.path.join(root, "images"))
    with open(os.path.join(root, "people.json"), "w") as f:
        json.dump(dict(data, images=[images[i] for i in ids], annotations=people), f)
    return os.path.join(root, "people.json"), os.path.join(root, "images")


def _people_args(train_script, people, model_dir, *extra):
    ann, images = people
    return [sys.executable, train_script.script, "--space=mobilenetv3", "--input_size=64x64", "--batch_size=4",
            "--learning_rate=5e-3", "--lr_schedule=constant", "--log_every=1", "--noprogress", "--noaugment",
            f"--train_ann={ann}", f"--train_images={images}", f"--val_ann={ann}", f"--val_images={images}",
            f"--model_dir={model_dir}", *extra]


def _results(folder, member):
    with open(os.path.join(folder, f"{member}.json")) as f:
        return json.load(f)


def _assert_same_results(chief, one, member):
    """Two COCO results lists of the same persons, in the same order."""
    assert len(chief) == len(one) > 0, (member, len(chief), len(one))
    assert [r["image_id"] for r in chief] == [r["image_id"] for r in one], member
    a, b = (np.array([r["keypoints"] for r in rs]).reshape(len(rs), -1, 3) for rs in (chief, one))
    np.testing.assert_allclose(a[..., :2], b[..., :2], atol=KEYPOINT_ATOL, rtol=0, err_msg=f"{member} keypoints")
    np.testing.assert_allclose(a[..., 2], b[..., 2], atol=SCORE_ATOL, rtol=0, err_msg=f"{member} keypoint scores")
    np.testing.assert_allclose([r["score"] for r in chief], [r["score"] for r in one], atol=SCORE_ATOL, rtol=0,
                               err_msg=f"{member} person scores")
    return float(np.max(np.abs(a - b)))


def _check_chief_only(run_dir, pair):
    names = sorted(os.listdir(run_dir))
    assert {"ckpt", "metrics.jsonl", "run_config.json", "tb", "flags.txt"} <= set(names), names
    for tmpdir in pair.tmpdirs:  # the non-chief's checkpoints went to its temp dir, now removed
        assert [n for n in os.listdir(tmpdir) if n.startswith("vipnas_worker_")] == []
    assert os.path.getsize(os.path.join(run_dir, "metrics.jsonl")) > 0


def _assert_same_losses(mw, ref, keys):
    assert [r["step"] for r in mw] == [r["step"] for r in ref]
    for a, b in zip(mw, ref):
        for key in keys:
            np.testing.assert_allclose(a[key], b[key], rtol=LOSS_RTOL, err_msg=f"{key} at step {a['step']}")


@pytest.mark.slow
def test_two_workers_supernet_match_one_process_and_survive_a_killed_worker(train_script, tmp_path):
    people = _people_set(str(tmp_path / "people"))
    run_dir, ref_dir = str(tmp_path / "mw"), str(tmp_path / "ref")
    common = ["--mode=supernet", "--num_random=0", "--kernel_init=he", "--checkpoint_every=2",
              "--keep_checkpoints=10", "--eval_every=0", "--bn_calib_batches=2"]
    args = _people_args(train_script, people, run_dir, *common, f"--train_steps={SUPERNET_STEPS}")
    # The reference stops at step 2 and resumes from its checkpoint there, as the
    # two-worker run does after the kill below: the same data stream, seeded by (seed, step).
    ref, ref_log = _reference(_people_args(train_script, people, ref_dir, *common, "--train_steps=2"),
                              str(tmp_path), "ref1")
    try:
        pair = Pair(args, str(tmp_path), "first")
        deadline = time.time() + TIMEOUT
        while time.time() < deadline and max(logged_steps(run_dir), default=0) < 3 \
                and all(p.poll() is None for p in pair.procs):
            time.sleep(0.1)
        assert all(p.poll() is None for p in pair.procs), pair.stderr(0)[-3000:]
        killed_at = max(logged_steps(run_dir))
        pair.procs[1].send_signal(signal.SIGKILL)  # worker 1 dies mid-run
        t_kill = time.time()
        codes = pair.wait(timeout=600)
        chief_stop_s = time.time() - t_kill
        # the chief notices the lost peer and stops by itself, naming the way back
        assert codes[0] not in (0, None) and "a worker of the cluster stopped" in pair.stderr(0), \
            pair.stderr(0)[-3000:]
        assert "restart every worker with the same flags" in pair.stderr(0)
        resume_from = train_script.latest_checkpoint_step(run_dir)
        assert resume_from == 2 and 0 < killed_at - resume_from <= 2, (killed_at, resume_from)
        _wait_ref(ref, ref_log)
        # every worker restarted with the same command: the run resumes from the chief's
        # checkpoint. It saves only at the end now (--checkpoint_every may change on resume;
        # a multi-worker save costs 10-40 s on a busy 2-core box). The reference's total
        # steps change: allowed, the learning rate is constant.
        ref, ref_log = _reference(_people_args(train_script, people, ref_dir, *common, "--allow_changed_flags",
                                               f"--train_steps={SUPERNET_STEPS}", "--checkpoint_every=1000"),
                                  str(tmp_path), "ref2")
        t0 = time.time()
        pair = Pair([*args, "--checkpoint_every=1000"], str(tmp_path), "restart")
        assert pair.wait() == [0, 0], pair.stderr(0)[-3000:] + pair.stderr(1)[-3000:]
        restart_s = time.time() - t0
        _wait_ref(ref, ref_log)
    finally:
        ref.kill()
    assert f"(step {resume_from})" in pair.stderr(0) and f"(step {resume_from})" in pair.stderr(1)
    steps = logged_steps(run_dir)
    assert steps == list(range(1, killed_at + 1)) + list(range(resume_from + 1, SUPERNET_STEPS + 1)), steps
    _check_chief_only(run_dir, pair)
    # the same losses as one process on the same global batches, before and after the restart
    mw = {r["step"]: r for r in _records(run_dir)}  # after the restart, the last record of a step
    one = {r["step"]: r for r in _records(ref_dir)}
    _assert_same_losses([mw[s] for s in sorted(mw)], [one[s] for s in sorted(one)],
                        ("loss_max", "loss_min", "distill_min"))
    # validation on the chief only, on the whole val set: a one-process validation of the
    # chief's final checkpoint gives the same APs, far from the plateau's 0, and the same
    # predictions for every person
    last = mw[SUPERNET_STEPS]
    t0 = time.time()
    single = validate_run(run_dir, results_dir=str(tmp_path / "one_process"))
    single_s = time.time() - t0
    diffs = {}
    for member in ("max", "min"):
        chief_ap, one_ap = last[f"val_ap_{member}"], single[f"val_ap_{member}"]
        assert chief_ap > MIN_AP and one_ap > MIN_AP, (member, chief_ap, one_ap)
        assert chief_ap == pytest.approx(one_ap, abs=1e-6), member
        diffs[member] = _assert_same_results(_results(os.path.join(run_dir, VAL_RESULTS_SUBDIR), member),
                                             _results(str(tmp_path / "one_process"), member), member)
    print(f"\nworker 1 killed after step {killed_at}; the chief stopped {chief_stop_s:.0f} s later; resumed "
          f"from step {resume_from} ({killed_at - resume_from} steps lost); restart to the end {restart_s:.0f} s; "
          f"final loss {last['loss']:.6f} (two workers) vs {one[SUPERNET_STEPS]['loss']:.6f} (one process); "
          f"step seconds {4 / last['images_per_sec']:.2f} vs {4 / one[SUPERNET_STEPS]['images_per_sec']:.2f}\n"
          f"validation AP biggest / smallest: chief {last['val_ap_max']:.4f} / {last['val_ap_min']:.4f}, one "
          f"process on the chief's checkpoint {single['val_ap_max']:.4f} / {single['val_ap_min']:.4f} "
          f"({single_s:.0f} s), largest keypoint difference {max(diffs.values()):.2g}; the one-process "
          f"(mirrored) run's own {one[SUPERNET_STEPS]['val_ap_max']:.4f} / {one[SUPERNET_STEPS]['val_ap_min']:.4f}")


@pytest.mark.slow
def test_two_workers_temporal_match_one_process(train_data, train_script, tmp_path):
    # An untrained stand-alone S-ViPNet as the key model (the arithmetic is what is compared).
    key = str(tmp_path / "key")
    data = training_paths(train_data, "posetrack")
    make_supernet_dir(key, "mobilenetv3", (64, 64), data, mode="standalone", arch=get_space("mobilenetv3").min(),
                      randomize=True, keypoint_layout="posetrack18")
    common = ["--mode=temporal", f"--key_model_dir={key}", "--num_frames=2", "--num_random=0",
              "--train_steps=3", "--checkpoint_every=3"]
    ref, ref_log = _reference(train_script.args(train_data, str(tmp_path / "ref"), *common), str(tmp_path), "temporal")
    try:
        pair = Pair(train_script.args(train_data, str(tmp_path / "mw"), *common), str(tmp_path), "temporal")
        assert pair.wait() == [0, 0], pair.stderr(0)[-3000:] + pair.stderr(1)[-3000:]
        _wait_ref(ref, ref_log)
    finally:
        ref.kill()
    _check_chief_only(str(tmp_path / "mw"), pair)
    mw, one = _records(str(tmp_path / "mw")), _records(str(tmp_path / "ref"))
    _assert_same_losses(mw, one, ("loss_max", "loss_min", "distill_min"))
    print(f"\ntemporal: final loss {mw[-1]['loss']:.6f} (two workers) vs {one[-1]['loss']:.6f} (one process)")


@pytest.mark.slow
def test_workers_with_different_flags_stop_before_training(train_data, train_script, tmp_path):
    args = train_script.args(train_data, str(tmp_path / "run"), "--mode=supernet", "--train_steps=2")
    pair = Pair(args, str(tmp_path), "mismatch", extra=(("--batch_size=4",), ("--batch_size=8",)))
    codes = pair.wait(timeout=600)
    assert codes[0] != 0 and codes[1] != 0
    for i, (mine, other) in enumerate(((4, 8), (8, 4))):
        err = pair.stderr(i)
        assert f"field 'batch_size' is {mine} on this worker (worker {i}) and {other}" in err, err[-2000:]
    assert not os.path.exists(tmp_path / "run" / "metrics.jsonl")
    assert not os.path.exists(tmp_path / "run" / "ckpt")
