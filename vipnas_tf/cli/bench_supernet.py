"""Super-network vs extracted static model: forward+backward step time and re-traces.

Usage:
  python scripts/bench_supernet.py --json
  python scripts/bench_supernet.py --spaces=mobilenetv3 --input_size=256x192 --batch=8 --json

Prints, per space: step times of the super-network under fixed architectures (the
space's published preset if any and a random one) and of each extracted static model
(graph mode, same batch), their ratio, the same against the super-network's own ops
specialised to that architecture (`fixed_graph`: a static graph with identical TF
kernels), and the number of traces of the super-network step while cycling through
random architectures after warm-up.
"""
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from vipnas_tf.arch import cost as cost_lib  # noqa: E402
from vipnas_tf.arch.presets import PRESETS  # noqa: E402
from vipnas_tf.arch.space import get_space, list_spaces  # noqa: E402
from vipnas_tf.models.benchmark import bench_space  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("spaces", None, "Spaces to measure (default: all registered).")
flags.DEFINE_string("input_size", "128x96", "Input HEIGHTxWIDTH.")
flags.DEFINE_integer("batch", 8, "Batch size.")
flags.DEFINE_integer("runs", 10, "Timed runs per model (interleaved).")
flags.DEFINE_integer("static_runs", 2, "Timed runs of each extracted static model (slow: Keras runs grouped convs via XLA on CPU).")
flags.DEFINE_list("archs", "preset,random", "Which architectures to time: preset (the space's published model), max, min, random.")
flags.DEFINE_integer("cycle", 50, "Random architectures cycled through to count re-traces.")
flags.DEFINE_integer("seed", 0, "Seed for weights, inputs and sampled architectures.")
flags.DEFINE_bool("json", False, "Print JSON.")


def main(argv):
    del argv
    input_size = cost_lib.parse_input_size(FLAGS.input_size)
    results = []
    for name in FLAGS.spaces or list_spaces():
        space = get_space(name)
        archs = {}
        for which in FLAGS.archs:
            if which == "preset":
                archs.update({p.name: p.arch for p in PRESETS.values() if p.in_space and p.arch.space == name})
            elif which in ("max", "min"):
                archs[which] = getattr(space, which)()
            elif which == "random":
                archs["random"] = space.sample(np.random.default_rng(FLAGS.seed + 1))
            else:
                raise app.UsageError(f"--archs: unknown entry {which!r} (preset, max, min, random)")
        results.append(
            bench_space(name, archs, input_size, FLAGS.batch, FLAGS.runs, FLAGS.cycle, FLAGS.seed, FLAGS.static_runs)
        )
        if not FLAGS.json:
            r = results[-1]
            for label, a in r["archs"].items():
                print(
                    f"{name:<12} {label:<16} supernet {a['supernet_step_ms']:8.1f} ms  static {a['static_step_ms']:8.1f} ms"
                    f"  ratio {a['ratio']:.2f}  fixed graph {a['fixed_graph_step_ms']:8.1f} ms  ratio {a['ratio_vs_fixed_graph']:.2f}"
                )
            print(f"{name:<12} traces after warm-up over {r['random_archs_cycled']} random archs: {r['traces_after_warmup']}")
    if FLAGS.json:
        print(json.dumps({"results": results}))


if __name__ == "__main__":
    app.run(main)
