"""tf.distribute for real: MirroredStrategy over two logical CPUs equals one device on
the same global batch; two MultiWorkerMirroredStrategy workers on 127.0.0.1 train
together. Both run in subprocesses (device set-up is per process)."""
import json
import os
import subprocess
import sys

import pytest

from tests.testcase import free_ports

pytestmark = pytest.mark.slow  # traces super-networks / runs the real commands

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _env(**extra):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               TF_CPP_MIN_LOG_LEVEL="2")
    env.update(extra)
    return env


def test_mirrored_two_cpus_equals_one_device():
    out = subprocess.run([sys.executable, "-m", "tests.training.mirrored_check"], cwd=ROOT, env=_env(),
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["replicas"] == [1, 2]
    assert result["max_update"] > 1e-3  # the step did move the weights
    assert result["max_weight_diff"] < 1e-5 * max(1.0, result["max_update"] * 100)


def test_multi_worker_mirrored_two_processes_train_together():
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for i in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
        procs.append(subprocess.Popen([sys.executable, "-m", "tests.training.mwms_worker"], cwd=ROOT,
                                      env=_env(TF_CONFIG=tf_config), stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    results = []
    for p in procs:
        try:
            stdout, stderr = p.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail("multi-worker training did not finish in 600 s")
        assert p.returncode == 0, stderr[-3000:]
        line = [l for l in stdout.splitlines() if l.startswith("RESULT ")][-1]
        results.append(json.loads(line[len("RESULT "):]))
    assert [r["replicas"] for r in results] == [2, 2]
    assert [r["chief"] for r in results] == [True, False]
    assert results[0]["moved"] > 1e-3
    # One model trained together: identical global losses and weights on both workers.
    import numpy as np  # pylint: disable=import-outside-toplevel

    np.testing.assert_allclose(results[0]["losses"], results[1]["losses"], rtol=1e-6)
    assert results[0]["checksum"] == pytest.approx(results[1]["checksum"], rel=1e-6)
