"""`python scripts/evaluate.py`: the same as `vipnas-evaluate` (vipnas_tf/cli/evaluate.py)."""
from vipnas_tf.cli import run

if __name__ == "__main__":
    run("evaluate")
