"""`python scripts/import_mmpose.py`: the same as `python -m vipnas_tf import_mmpose` (vipnas_tf/cli/import_mmpose.py)."""
from vipnas_tf.cli import run

if __name__ == "__main__":
    run("import_mmpose")
