"""Check the latency table against measured TFLite latency of random sub-networks.

Samples --num_archs random architectures of the space (seeded), predicts each one's
latency from the table, converts each (static model, random weights, same lowering
as the table) and times them interleaved with the LiteRT interpreter (1 thread,
XNNPACK). Prints per arch predicted vs measured (median over --runs) and the median
absolute relative error, also for the uncalibrated table (scale 1). The table's
calibration networks come from another seed; the report counts any overlap.

Measured time is on the table's clock (default "cpu": the thread CPU time of
`invoke()`, i.e. the latency on an idle core, see vipnas_tf/search/latency.py); the
wall-clock medians and their errors are reported beside it ("wall_*"): on the shared
machine they include time-slices given to other processes.

With --fresh (default), the units of those archs are also re-measured in the same
interleaved loop as the whole networks: "fresh" predictions share the machine's load
with the measurements, which separates the model's error from load drift between
the table build and this run. The headline figure is the stored table's.

Usage:
  python scripts/bench_latency_model.py --space=mobilenetv3 --input_size=128x96 \
      --quantization=float32 --table=runs/latency/mbv3_128x96_float32.json \
      --num_archs=20 --seed=0 --json
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from vipnas_tf.arch import cost as cost_lib  # noqa: E402
from vipnas_tf.search.latency_check import LatencyCheckConfig, check_latency_model  # noqa: E402
from vipnas_tf.utils import io as io_utils  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("space", "mobilenetv3", "Search space name.")
flags.DEFINE_string("input_size", "256x192", "Input HEIGHTxWIDTH (multiples of 32).")
flags.DEFINE_enum("quantization", "float32", ["float32", "int8"], "TFLite precision.")
flags.DEFINE_string("table", None, "Latency table JSON (scripts/build_latency_table.py).")
flags.DEFINE_integer("num_archs", 20, "Random sub-networks to check.")
flags.DEFINE_integer("seed", 0, "Sampling seed.")
flags.DEFINE_integer("runs", 50, "Timed interleaved rounds.")
flags.DEFINE_integer("warmup", 5, "Untimed rounds first.")
flags.DEFINE_bool("fresh", True, "Also re-measure the archs' units interleaved with the networks.")
flags.DEFINE_string("out", "", "Also write the JSON report here (atomically).")
flags.DEFINE_bool("json", False, "Print the JSON report.")
flags.mark_flag_as_required("table")


def main(argv):
    del argv
    logging.set_verbosity(logging.ERROR)
    try:
        config = LatencyCheckConfig(table=FLAGS.table, space=FLAGS.space,
                                    input_size=cost_lib.parse_input_size(FLAGS.input_size),
                                    quantization=FLAGS.quantization, num_archs=FLAGS.num_archs, seed=FLAGS.seed,
                                    runs=FLAGS.runs, warmup=FLAGS.warmup, fresh=FLAGS.fresh)
        report = check_latency_model(config, say=lambda msg: print(msg, file=sys.stderr, flush=True))
    except (ValueError, FileNotFoundError) as e:
        sys.exit(f"error: {e}")
    rows, n, scale, clock = report["archs"], report["num_archs"], report["scale"], report["clock"]
    if FLAGS.out:
        io_utils.write_json(FLAGS.out, report)
    if FLAGS.json:
        print(json.dumps(report, indent=2))
    else:
        for r in rows:
            print(f"{r['predicted_ms']:8.3f} ms predicted {r['measured_ms']:8.3f} ms measured "
                  f"{100 * r['rel_err']:+6.1f}%  {r['arch']}")
        print(f"uncalibrated (scale 1 instead of {scale:.3f}): {100 * report['raw_median_abs_rel_err']:.1f}%")
        print(f"median |error| {100 * report['median_abs_rel_err']:.1f}% over {n} archs "
              f"({report['within_10pct']} within 10%), clock {clock}; against wall time "
              f"{100 * report['wall_median_abs_rel_err']:.1f}% (load {report['loadavg_after'][0]})")
        if FLAGS.fresh:
            print(f"fresh (units re-measured in the same run): {100 * report['fresh_median_abs_rel_err']:.1f}%; "
                  f"units now / units in the table: {report['drift_fresh_over_table']:.3f}")


if __name__ == "__main__":
    app.run(main)
