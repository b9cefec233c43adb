"""`python scripts/bench_supernet.py`: the same as `python -m vipnas_tf bench_supernet` (vipnas_tf/cli/bench_supernet.py)."""
from vipnas_tf.cli import run

if __name__ == "__main__":
    run("bench_supernet")
