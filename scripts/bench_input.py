"""`python scripts/bench_input.py`: the same as `python -m vipnas_tf bench_input` (vipnas_tf/cli/bench_input.py)."""
from vipnas_tf.cli import run

if __name__ == "__main__":
    run("bench_input")
