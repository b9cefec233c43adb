"""`python scripts/export_savedmodel.py`: the same as `vipnas-export` (vipnas_tf/cli/export.py)."""
from vipnas_tf.cli import run

if __name__ == "__main__":
    run("export")
