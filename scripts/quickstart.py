"""`python scripts/quickstart.py`: the same as `vipnas-quickstart` (vipnas_tf/cli/quickstart.py)."""
from vipnas_tf.cli import run

if __name__ == "__main__":
    run("quickstart")
