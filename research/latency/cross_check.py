"""Cross-checks the project's benchmark harness against LiteRT's own `litert-benchmark`.

Reads a report of `tflite/benchmark.py --json --out=REPORT` and runs `litert-benchmark`
(installed with ai-edge-litert) on every model of it, with the report's thread count:
for a single model its median against the harness's p50; for a video schedule every
file of the schedule (key model and frame models) and the sum of their medians over
the cycle, divided by T + 1, against the harness's p50 per frame (the harness also
moves the heatmaps between frame models, which `litert-benchmark` does not). The
models run one after another here, not interleaved, so run it right after the harness
on the same quiet machine.

  python research/latency/cross_check.py --report=research/latency/results/side_by_side_1thread.json \\
      --runs=100 --out=research/latency/results/cross_check_1thread.json
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from vipnas_tf import litert  # noqa: E402
from vipnas_tf.utils import io as io_utils  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("report", None, "tflite/benchmark.py JSON report.", required=True)
flags.DEFINE_integer("runs", 100, "litert-benchmark --num_runs.")
flags.DEFINE_integer("warmup", 5, "litert-benchmark --warmup_runs.")
flags.DEFINE_float("tolerance", 0.10, "Relative difference of the medians that counts as agreement.")
flags.DEFINE_string("out", "", "Write the JSON comparison here.")


def litert_median_ms(path: str, threads: int, runs: int, warmup: int) -> float:
    """`litert-benchmark`'s median latency of `path`, in ms."""
    exe = shutil.which("litert-benchmark")
    if exe is None:
        raise SystemExit("litert-benchmark is not on PATH (it comes with `pip install ai-edge-litert`)")
    with tempfile.TemporaryDirectory() as tmp:
        result = os.path.join(tmp, "result.json")
        proc = subprocess.run([exe, f"--model={path}", f"--num_threads={threads}", f"--num_runs={runs}",
                               f"--warmup_runs={warmup}", f"--result_json={result}"],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not os.path.isfile(result):
            raise RuntimeError(f"litert-benchmark failed on {path} (exit {proc.returncode}): {proc.stderr[-800:]}")
        with open(result, encoding="utf-8") as f:
            return float(json.load(f)["latency"]["median_ms"])


def main(argv):
    del argv
    report = io_utils.read_json(FLAGS.report)
    threads = int(report["threads"])
    rows = []
    for res in report["results"]:
        if "error" in res:
            continue
        if res["kind"] == "model":
            theirs = litert_median_ms(res["path"], threads, FLAGS.runs, FLAGS.warmup)
            parts = {os.path.basename(res["path"]): theirs}
        else:
            files = [res["key_model"], *res["frame_models"]]
            parts = {os.path.basename(f): litert_median_ms(f, threads, FLAGS.runs, FLAGS.warmup) for f in files}
            theirs = sum(parts.values()) / int(res["key_frame_interval"])
        ours = float(res["p50_ms"])
        diff = (ours - theirs) / theirs
        rows.append({"name": res["name"], "kind": res["kind"], "harness_p50_ms": round(ours, 3),
                     "litert_benchmark_median_ms": round(theirs, 3), "relative_difference": round(diff, 4),
                     "within_tolerance": abs(diff) <= FLAGS.tolerance,
                     "litert_benchmark_parts_ms": {k: round(v, 3) for k, v in parts.items()}})
        print(f"{res['name']:40s} harness {ours:8.2f} ms   litert-benchmark {theirs:8.2f} ms   {diff:+.1%}",
              file=sys.stderr)
    out = {"command": " ".join(sys.argv), "report": FLAGS.report, "threads": threads, "runs": FLAGS.runs,
           "tolerance": FLAGS.tolerance, "machine": litert.machine_info(), "harness_machine": report.get("machine"),
           "all_within_tolerance": all(r["within_tolerance"] for r in rows), "results": rows}
    if FLAGS.out:
        io_utils.write_json(FLAGS.out, out)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    app.run(main)
