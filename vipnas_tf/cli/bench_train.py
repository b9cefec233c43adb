"""Sandwich training step vs the same sub-networks trained as static models.

Usage:
  python scripts/bench_train.py --space=mobilenetv3 --input_size=128x96 --batch=16 --json

Prints the sandwich step time (biggest, smallest and N random members, one Adam update),
the sum of the step times of the same members trained as extracted static models
(grouped convs on tf.nn.conv2d; see vipnas_tf/benchmarks/train_step.py), their ratio, the
same against the super-network specialised to each member, and the number of re-traces
while further steps sample new members. All timings come from one interleaved run.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from vipnas_tf.arch.cost import parse_input_size  # noqa: E402
from vipnas_tf.benchmarks.train_step import bench_train  # noqa: E402

F = flags.FLAGS
flags.DEFINE_string("space", "mobilenetv3", "Search space.")
flags.DEFINE_string("input_size", "128x96", "HxW input size.")
flags.DEFINE_integer("batch", 16, "Batch size.")
flags.DEFINE_integer("runs", 5, "Timed interleaved runs.")
flags.DEFINE_integer("num_random", 2, "Random sandwich members.")
flags.DEFINE_integer("cycle", 10, "Further steps with new members to count re-traces.")
flags.DEFINE_integer("seed", 0, "Seed.")
flags.DEFINE_bool("keras_static", False, "Also time the plain extracted Keras models (Keras 3 runs "
                  "grouped Conv2D through XLA on CPU: slow).")
flags.DEFINE_bool("fixed_graph", True, "Also time the super-network specialised to each member.")
flags.DEFINE_bool("json", False, "Print JSON.")


def main(argv):
    del argv

    result = bench_train(F.space, parse_input_size(F.input_size), F.batch, F.runs, F.num_random, F.seed,
                         F.cycle, F.keras_static, F.fixed_graph,
                         progress=lambda m: print(m, file=sys.stderr, flush=True))
    if F.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>24}: {v}")


if __name__ == "__main__":
    app.run(main)
