"""`python tflite/convert.py`: the same as `vipnas-convert` (vipnas_tf/cli/convert.py)."""
from vipnas_tf.cli import run

if __name__ == "__main__":
    run("convert")
