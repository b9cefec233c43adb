"""`python scripts/make_synthetic.py`: the same as `python -m vipnas_tf make_synthetic` (vipnas_tf/cli/make_synthetic.py)."""
from vipnas_tf.cli import run

if __name__ == "__main__":
    run("make_synthetic")
