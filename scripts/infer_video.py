"""`python scripts/infer_video.py`: the same as `vipnas-infer` (vipnas_tf/cli/infer.py)."""
from vipnas_tf.cli import run

if __name__ == "__main__":
    run("infer")
