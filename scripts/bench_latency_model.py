"""`python scripts/bench_latency_model.py`: the same as `python -m vipnas_tf bench_latency_model` (vipnas_tf/cli/bench_latency_model.py)."""
from vipnas_tf.cli import run

if __name__ == "__main__":
    run("bench_latency_model")
