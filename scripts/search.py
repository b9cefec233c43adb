"""`python scripts/search.py`: the same as `vipnas-search` (vipnas_tf/cli/search.py)."""
from vipnas_tf.cli import run

if __name__ == "__main__":
    run("search")
