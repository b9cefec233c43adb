"""python -m vipnas_tf COMMAND [flags]: the package's commands (see vipnas_tf/cli/__init__.py)."""
import sys

from vipnas_tf.cli import main

if __name__ == "__main__":
    sys.exit(main())
