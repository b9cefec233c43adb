"""Benchmarks .tflite models and video schedules side by side on the CPU.

Thin CLI over `vipnas_tf.litert` (LiteRT interpreter + XNNPACK). All
models are timed interleaved (round-robin per run), so machine noise hits all of
them alike. Prints a JSON report with --json, writes it with --out, draws a bar
chart with --plot.

Examples:
  python tflite/benchmark.py --models=a.tflite,b.tflite --threads=1 --runs=50 --json
  python tflite/benchmark.py --models=sbl_fp32.tflite --schedule_dir=runs/t_vipnas_T3 \\
      --threads=1 --runs=30 --json --plot=/tmp/bench.png
  python tflite/benchmark.py --flagfile=bench.flags

A schedule folder holds manifest.json (format: `vipnas_tf/litert/runners.py`,
`MANIFEST`): the key-frame model, T frame models (inputs: image crop, previous
heatmaps) and the key-frame interval T+1; its "fps" is the effective FPS over a
cycle of T+1 frames.
"""
import json
import os

from absl import app, flags

from vipnas_tf import litert
from vipnas_tf.utils import io as io_utils

FLAGS = flags.FLAGS
flags.DEFINE_list("models", [], "Comma-separated .tflite paths (any external file works).")
flags.DEFINE_list("schedule_dir", [], "Comma-separated schedule folders with manifest.json.")
flags.DEFINE_integer("threads", 1, "Interpreter / XNNPACK threads.", lower_bound=1)
flags.DEFINE_integer("runs", 50, "Timed runs per model (interleaved).", lower_bound=1)
flags.DEFINE_integer("warmup", 5, "Untimed warm-up runs per model.", lower_bound=0)
flags.DEFINE_bool("memory", True, "Measure peak memory per model (a subprocess each).")
flags.DEFINE_bool("xnnpack", True, "Use the XNNPACK delegate (default); false: builtin kernels.")
flags.DEFINE_list("macs", [], "Optional name=MACs pairs (file name or path) for GFLOP/s, "
                  "e.g. s_vipnas_mbv3_fp32.tflite=734184704.")
flags.DEFINE_bool("json", False, "Print the JSON report to stdout.")
flags.DEFINE_string("out", "", "Also write the JSON report to this file.")
flags.DEFINE_string("plot", "", "Write a bar chart (PNG) of FPS per model here.")


def _parse_macs(pairs):
    out = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if not value:
            raise app.UsageError(f"--macs entries must be name=MACs, got {pair!r}")
        out[name] = float(value)
    return out


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not FLAGS.models and not FLAGS.schedule_dir:
        raise app.UsageError("give --models and/or --schedule_dir")
    spec = litert.BenchmarkSpec(
        models=FLAGS.models, schedule_dirs=FLAGS.schedule_dir, threads=FLAGS.threads,
        runs=FLAGS.runs, warmup=FLAGS.warmup, measure_memory=FLAGS.memory,
        use_xnnpack=FLAGS.xnnpack, macs=_parse_macs(FLAGS.macs))
    report = litert.run_benchmark(spec)
    text = json.dumps(report, indent=1)
    if FLAGS.out:
        os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
        io_utils.write_text(FLAGS.out, text + "\n")
    if FLAGS.plot:
        litert.plot_results(report, FLAGS.plot)
    if FLAGS.json:
        print(text)
    else:
        for r in report["results"]:
            if "error" in r:
                print(f"{r['name']:40s} ERROR {r['error']}")
            else:
                mem = r.get("peak_memory_mb")
                print(f"{r['name']:40s} p50 {r['p50_ms']:8.2f} ms  p90 {r['p90_ms']:8.2f} ms  "
                      f"min {r['min_ms']:8.2f} ms  "
                      f"{r['fps']:7.1f} FPS" + (f"  peak {mem:.1f} MiB" if mem is not None else ""))
    # Failing models are reported, not fatal; exit non-zero only if nothing ran.
    return 0 if any("error" not in r for r in report["results"]) else 1


if __name__ == "__main__":
    app.run(main)
