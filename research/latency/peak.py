"""This CPU's attainable float32 and int8 conv throughput, measured with the project's harness.

A model's "fraction of peak" (2 x MACs x FPS / peak) needs a peak that the same
interpreter, delegate and thread count can reach on this CPU. The vendor's FMA peak is
not it: LiteRT + XNNPACK reach what their GEMM micro-kernels reach. This sweeps dense
convolutions (one conv per model, a chain of 4 identical convs so that the activations
stay in cache between them the way a network's do) over channel widths, kernel sizes
and spatial sizes, converts each to float32 and to int8 (int8 I/O: no
QUANTIZE/DEQUANTIZE is timed), times all of them interleaved on `--threads` threads,
and reports each configuration's GFLOP/s (2 x MACs / p50) and the best per precision:
the peak the models' fractions are taken against.

  python research/latency/peak.py --threads=1 --runs=30 --out=research/latency/results/peak_1thread.json
"""
import itertools
import json
import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from vipnas_tf import litert  # noqa: E402
from vipnas_tf.export import tflite_export  # noqa: E402
from vipnas_tf.litert.timing import interleaved_times, latency_stats  # noqa: E402
from vipnas_tf.utils import io as io_utils  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("channels", ["64", "128", "256", "512"], "Conv widths (in = out).")
flags.DEFINE_list("kernels", ["1", "3"], "Square kernel sizes.")
flags.DEFINE_list("spatial", ["16x12", "32x24", "64x48"], "Feature-map sizes HxW.")
flags.DEFINE_integer("depth", 4, "Convs chained per model.")
flags.DEFINE_list("precisions", ["float32", "int8"], "float32 and/or int8.")
flags.DEFINE_integer("runs", 30, "Timed interleaved rounds.")
flags.DEFINE_integer("warmup", 3, "Untimed rounds first.")
flags.DEFINE_integer("threads", 1, "Interpreter threads.")
flags.DEFINE_string("out", "", "Write the JSON report here too.")


def conv_chain(channels: int, kernel: int, hw, depth: int, seed: int = 0) -> keras.Model:
    """`depth` dense convs (channels -> channels, kernel x kernel, 'same', ReLU) on [1, H, W, C]."""
    keras.utils.set_random_seed(seed)
    x = inp = keras.Input((hw[0], hw[1], channels), batch_size=1)
    for _ in range(depth):
        x = keras.layers.Conv2D(channels, kernel, padding="same", activation="relu",
                                kernel_initializer=keras.initializers.HeNormal(seed))(x)
    return keras.Model(inp, x)


def conv_macs(channels: int, kernel: int, hw, depth: int) -> int:
    return depth * hw[0] * hw[1] * channels * channels * kernel * kernel


def main(argv):
    del argv
    configs = [(int(c), int(k), tuple(int(v) for v in s.split("x")))
               for c, k, s in itertools.product(FLAGS.channels, FLAGS.kernels, FLAGS.spatial)]
    runners = []
    for (c, k, hw), precision in tqdm(list(itertools.product(configs, FLAGS.precisions)), desc="convert",
                                      file=sys.stderr):
        model = conv_chain(c, k, hw, FLAGS.depth)
        io = "int8" if precision == "int8" else "float32"
        flat = tflite_export.export_quantized(model, precision, io_dtype=io)
        interpreter = litert.load_interpreter(flat, threads=FLAGS.threads)
        detail = interpreter.get_input_details()[0]
        interpreter.set_tensor(detail["index"], litert.random_input(detail, np.random.default_rng(0)))
        runners.append(dict(channels=c, kernel=k, spatial=f"{hw[0]}x{hw[1]}", precision=precision,
                            macs=conv_macs(c, k, hw, FLAGS.depth), interpreter=interpreter))
    times = interleaved_times([r["interpreter"].invoke for r in runners], FLAGS.runs, FLAGS.warmup)
    rows = []
    for r, (_, wall) in zip(runners, times):
        stats = latency_stats(wall)
        gflops = 2 * r["macs"] * stats["fps"] / 1e9
        rows.append(dict({k: v for k, v in r.items() if k != "interpreter"}, p50_ms=stats["p50_ms"],
                         min_ms=stats["min_ms"], gflops_per_s=round(gflops, 2)))
    peaks = {}
    for precision in FLAGS.precisions:
        best = max((row for row in rows if row["precision"] == precision), key=lambda row: row["gflops_per_s"])
        peaks[precision] = dict(gflops_per_s=best["gflops_per_s"],
                                at=f"{best['kernel']}x{best['kernel']} conv, {best['channels']} ch, "
                                   f"{best['spatial']}")
    report = dict(machine=litert.machine_info(), threads=FLAGS.threads, runs=FLAGS.runs, depth=FLAGS.depth,
                  command=" ".join(sys.argv), peak=peaks, sweep=rows)
    if FLAGS.out:
        io_utils.write_json(FLAGS.out, report)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    app.run(main)
