"""The side-by-side table of `research/latency/README.md` from the result files.

Reads a `tflite/benchmark.py` report (the side-by-side run), optionally the peak sweep
of `peak.py` and the cross-check of `cross_check.py`, and prints a Markdown table: p50,
FPS, FPS against the reference model's (BlazePose full), GFLOP/s and the fraction of
this CPU's measured peak in the model's precision, and litert-benchmark's median.

  python research/latency/summarize.py --report=research/latency/results/side_by_side_1thread.json \\
      --peak=research/latency/results/peak_1thread.json \\
      --cross_check=research/latency/results/cross_check_1thread.json
"""
import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from vipnas_tf.litert.benchmark import describe_machine  # noqa: E402
from vipnas_tf.utils import io as io_utils  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("report", None, "tflite/benchmark.py JSON report.", required=True)
flags.DEFINE_string("peak", "", "peak.py JSON report (the fraction-of-peak column).")
flags.DEFINE_string("cross_check", "", "cross_check.py JSON report (the litert-benchmark column).")
flags.DEFINE_string("reference", "pose_landmark_full.tflite", "The model the FPS ratios are taken against.")


def precision_of(name: str) -> str:
    return "int8" if "int8" in name else "float32"


def main(argv):
    del argv
    report = io_utils.read_json(FLAGS.report)
    rows = [r for r in report["results"] if "error" not in r]
    ref = next((r for r in rows if r["name"] == FLAGS.reference), None)
    peak = io_utils.read_json(FLAGS.peak)["peak"] if FLAGS.peak else {}
    litert = ({r["name"]: r for r in io_utils.read_json(FLAGS.cross_check)["results"]}
              if FLAGS.cross_check else {})
    m = report["machine"]
    print(f"{describe_machine(m)}; {report['threads']} thread(s), {report['runs']} interleaved runs\n")
    print("| model | p50 ms | FPS | x reference | GFLOP/s | of peak | litert-benchmark median ms (diff) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        ratio = f"{r['fps'] / ref['fps']:.2f}x" if ref else ""
        gf = r.get("gflops_per_s")
        top = peak.get(precision_of(r["name"]), {}).get("gflops_per_s")
        frac = f"{gf / top:.0%}" if gf and top else ""
        lb = litert.get(r["name"])
        lb_text = f"{lb['litert_benchmark_median_ms']:.2f} ({lb['relative_difference']:+.1%})" if lb else ""
        per = " per frame" if r.get("kind") == "schedule" else ""
        print(f"| {r['name']} | {r['p50_ms']:.2f}{per} | {r['fps']:.1f} | {ratio} | {gf if gf else ''} | {frac} | "
              f"{lb_text} |")
    if peak:
        print("\npeak: " + ", ".join(f"{k} {v['gflops_per_s']} GFLOP/s ({v['at']})" for k, v in peak.items()))


if __name__ == "__main__":
    app.run(main)
