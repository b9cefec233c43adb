"""`python scripts/describe.py`: the same as `vipnas-describe` (vipnas_tf/cli/describe.py)."""
from vipnas_tf.cli import run

if __name__ == "__main__":
    run("describe")
