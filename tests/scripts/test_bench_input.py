import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_bench_input_reports_rate(repo_root):
    r = subprocess.run([sys.executable, str(repo_root / "scripts" / "bench_input.py"), "--json",
                        "--synthetic_images=40", "--batches=5", "--warmup_batches=1", "--batch_size=16"],
                       capture_output=True, text=True, cwd=repo_root, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["crops_per_second"] > 0 and out["crops"] == 80 and out["skipped_images"] == 0
