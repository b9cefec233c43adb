"""`python scripts/train.py`: the same as `vipnas-train` (vipnas_tf/cli/train.py)."""
from vipnas_tf.cli import run

if __name__ == "__main__":
    run("train")
