"""`python tflite/benchmark.py`: the same as `vipnas-benchmark` (vipnas_tf/cli/benchmark.py)."""
from vipnas_tf.cli import run

if __name__ == "__main__":
    run("benchmark")
