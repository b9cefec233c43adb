"""`python scripts/bench_train.py`: the same as `python -m vipnas_tf bench_train` (vipnas_tf/cli/bench_train.py)."""
from vipnas_tf.cli import run

if __name__ == "__main__":
    run("bench_train")
