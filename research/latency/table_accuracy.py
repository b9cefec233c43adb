"""The latency tables' accuracy table of `research/latency/README.md`, from the files.

Reads every `check_*.json` (`scripts/bench_latency_model.py --out=...`) in a folder of
tables of one CPU, and the table it checked (same folder), and prints a Markdown
table: space, input size, precision, threads and clock, how units were timed, units,
build time, calibration scale, and the check's median / max absolute error of predicted
vs measured whole-network latency with the number of networks within 10%, and how the
check's re-timing of those networks' units compares with the table (the machine's
drift between the build and the check).

With `--other_cpu=FOLDER` (the tables of another CPU), one more column: the median
absolute error of that CPU's table of the same space, size, precision and threads in
predicting the networks this CPU measured in its check (what a search would get if it
used the other CPU's table instead of refusing it).

  python research/latency/table_accuracy.py --tables=research/latency/results/tables/ba491fbfd865
  python research/latency/table_accuracy.py --tables=research/latency/results/tables/311d8161239e \
      --other_cpu=research/latency/results/tables/ba491fbfd865
"""
import glob
import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import numpy as np  # noqa: E402

from vipnas_tf.arch import parse_arch  # noqa: E402
from vipnas_tf.utils import io as io_utils  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("tables", None, "Folder of latency tables and their check_*.json.", required=True)
flags.DEFINE_string("other_cpu", "", "Folder of another CPU's tables: how well they predict this CPU's checks.")


def other_cpu_error(check, other_folder):
    """Median |error| of the other CPU's same-named table on this check's networks."""
    path = os.path.join(other_folder, os.path.basename(check["table"]))
    if not os.path.exists(path):
        return ""
    from vipnas_tf.search.latency import LatencyModel  # TensorFlow: only with --other_cpu
    other = LatencyModel.load(path)
    try:
        errs = [abs(other.predict_ms(parse_arch(a["arch"])) / a["measured_ms"] - 1) for a in check["archs"]]
    except KeyError:  # a partial table (hrnet_w32) lacks units this check's networks use
        return "(partial)"
    return f"{float(np.median(errs)):.1%}"


def row(check_path):
    check = io_utils.read_json(check_path)
    table = io_utils.read_json(os.path.join(os.path.dirname(check_path), os.path.basename(check["table"])))
    threads = table.get("threads", 1)
    timing = table.get("unit_timing", "single")
    size = "x".join(str(v) for v in table["input_size"])
    return (table["space"], size, table["quantization"], threads, [
        table["space"], size, table["quantization"], f"{threads} ({table.get('clock', 'cpu')})", timing,
        str(table.get("num_entries", len(table.get("entries", {})))) + ("" if table.get("complete") else " (partial)"),
        f"{table.get('build_seconds', 0) / 60:.1f} min", f"{table.get('calibration', {}).get('scale', 1.0):.3f}",
        f"**{check['median_abs_rel_err']:.1%}**" + ("" if check["median_abs_rel_err"] <= 0.10 else ": missed"),
        f"{check['max_abs_rel_err']:.1%}", f"{check['within_10pct']} of {check['num_archs']}",
        f"{check['drift_fresh_over_table']:.2f}" if "drift_fresh_over_table" in check else "",
        table.get("machine", {}).get("date", "")] + (
            [other_cpu_error(check, FLAGS.other_cpu)] if FLAGS.other_cpu else []))


def main(argv):
    del argv
    rows = sorted(row(p) for p in glob.glob(os.path.join(FLAGS.tables, "check_*.json")))
    if not rows:
        raise SystemExit(f"no check_*.json in {FLAGS.tables}")
    head = ["space", "input", "precision", "threads (clock)", "unit timing", "units", "build", "scale",
            "median abs error", "max", "within 10%", "units re-timed / table", "built"] + (
        [f"error with {os.path.basename(os.path.normpath(FLAGS.other_cpu))}'s table"] if FLAGS.other_cpu else [])
    print("| " + " | ".join(head) + " |")
    print("| " + " | ".join("---" for _ in head) + " |")
    for *_, cells in rows:
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    app.run(main)
