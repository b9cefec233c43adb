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
import time

from absl import app, flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

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


def _rel(pred, meas):
    return (pred - meas) / meas


def main(argv):
    del argv
    from absl import logging  # pylint: disable=import-outside-toplevel
    logging.set_verbosity(logging.ERROR)
    import numpy as np  # pylint: disable=import-outside-toplevel

    from vipnas_tf.arch import cost as cost_lib  # pylint: disable=import-outside-toplevel
    from vipnas_tf.arch.space import get_space  # pylint: disable=import-outside-toplevel
    from vipnas_tf.search import latency as lat  # pylint: disable=import-outside-toplevel
    from vipnas_tf.search import latency_units as units_lib  # pylint: disable=import-outside-toplevel
    from vipnas_tf.utils import io as io_utils  # pylint: disable=import-outside-toplevel

    try:
        input_size = cost_lib.parse_input_size(FLAGS.input_size)
        space = get_space(FLAGS.space)
        table = lat.LatencyModel.load(FLAGS.table, lazy=True)
    except (ValueError, FileNotFoundError) as e:
        sys.exit(f"error: {e}")
    want = (space.name, tuple(input_size), FLAGS.quantization)
    have = (table.space, tuple(table.input_size), table.quantization)
    if want != have:
        sys.exit(f"error: {FLAGS.table} is a table for {have}, not {want}")
    if FLAGS.num_archs < 1:
        sys.exit("error: --num_archs must be >= 1")

    t0 = time.time()
    archs = space.sample(np.random.default_rng(FLAGS.seed), FLAGS.num_archs)
    entries_before = len(table.entries)
    predicted = [table.predict_ms(a) for a in archs]  # lazy: measures units the table lacks
    raw_predicted = [table.raw_predict_ms(a) for a in archs]
    scale = table.scale
    calib = set(table.meta.get("calibration", {}).get("archs", []))
    overlap = sum(a.to_string() in calib for a in archs)
    lazily_measured = len(table.entries) - entries_before

    load_before = os.getloadavg()
    flatbuffers = []
    for i, a in enumerate(archs):
        print(f"converting arch {i + 1}/{len(archs)}", file=sys.stderr, flush=True)
        flatbuffers.append(lat.convert_arch(a, input_size, FLAGS.quantization))
    unit_keys = []
    if FLAGS.fresh:
        units = {}
        for a in archs:
            for u in units_lib.arch_units(a, input_size, FLAGS.quantization):
                units.setdefault(u.key, u)
        unit_keys = list(units)
        print(f"converting {len(unit_keys)} units", file=sys.stderr, flush=True)
        flatbuffers += [lat._overhead_flatbuffer(FLAGS.quantization)]  # pylint: disable=protected-access
        flatbuffers += [lat._convert_unit(units[k], FLAGS.quantization) for k in unit_keys]  # pylint: disable=protected-access
    convert_seconds = time.time() - t0
    print(f"timing {len(flatbuffers)} models interleaved, {FLAGS.runs} rounds", file=sys.stderr, flush=True)
    t1 = time.time()
    clock = table.meta.get("clock", "wall")
    stats = lat.time_flatbuffers(flatbuffers, FLAGS.runs, FLAGS.warmup, clock=clock)
    time_seconds = time.time() - t1
    load_after = os.getloadavg()
    n = len(archs)
    measured = stats[:n]
    fresh = {}
    fresh_wall = {}
    over = over_wall = 0.0
    if FLAGS.fresh:
        over, over_wall = stats[n]["p50_ms"], stats[n]["wall_p50_ms"]
        for k, s in zip(unit_keys, stats[n + 1:]):
            fresh[k] = s["p50_ms"] - over
            fresh_wall[k] = s["wall_p50_ms"] - over_wall

    rows = []
    for a, pred, raw, m in zip(archs, predicted, raw_predicted, measured):
        row = {"arch": a.to_string(), "predicted_ms": round(pred, 4), "measured_ms": round(m["p50_ms"], 4),
               "raw_predicted_ms": round(raw, 4), "raw_rel_err": round(_rel(raw, m["p50_ms"]), 4),
               "rel_err": round(_rel(pred, m["p50_ms"]), 4), "measured_wall_ms": round(m["wall_p50_ms"], 4),
               "wall_rel_err": round(_rel(pred, m["wall_p50_ms"]), 4)}
        if FLAGS.fresh:
            keys = [u.key for u in units_lib.arch_units(a, input_size, FLAGS.quantization)]
            fp = scale * (over + sum(fresh[k] for k in keys))
            fpw = scale * (over_wall + sum(fresh_wall[k] for k in keys))
            row.update({"fresh_predicted_ms": round(fp, 4), "fresh_rel_err": round(_rel(fp, m["p50_ms"]), 4),
                        "fresh_wall_predicted_ms": round(fpw, 4),
                        "fresh_wall_rel_err": round(_rel(fpw, m["wall_p50_ms"]), 4)})
        rows.append(row)

    def med_abs(field):
        return round(float(np.median(np.abs([r[field] for r in rows]))), 4)

    report = {
        "space": space.name, "input_size": list(input_size), "quantization": FLAGS.quantization,
        "table": os.path.abspath(FLAGS.table), "clock": clock, "num_archs": n, "seed": FLAGS.seed,
        "runs": FLAGS.runs,
        "median_abs_rel_err": med_abs("rel_err"),
        "median_rel_err": round(float(np.median([r["rel_err"] for r in rows])), 4),
        "max_abs_rel_err": round(float(np.max(np.abs([r["rel_err"] for r in rows]))), 4),
        "within_10pct": int(sum(abs(r["rel_err"]) <= 0.10 for r in rows)),
        "wall_median_abs_rel_err": med_abs("wall_rel_err"),
        "scale": scale, "raw_median_abs_rel_err": med_abs("raw_rel_err"),
        "archs_in_calibration_set": overlap,
    }
    if FLAGS.fresh:
        report["fresh_median_abs_rel_err"] = med_abs("fresh_rel_err")
        report["fresh_wall_median_abs_rel_err"] = med_abs("fresh_wall_rel_err")
        # How much faster (<1) or slower the same units ran now than when the table was
        # built: the machine's drift between the two sessions, part of the table's error.
        report["drift_fresh_over_table"] = round(float(np.median(
            [r["fresh_predicted_ms"] / r["predicted_ms"] for r in rows])), 4)
        report["fresh_units"] = len(unit_keys)
    report.update({
        "table_units_measured_lazily": lazily_measured,
        "convert_seconds": round(convert_seconds, 1), "timing_seconds": round(time_seconds, 1),
        "loadavg_before": [round(x, 2) for x in load_before], "loadavg_after": [round(x, 2) for x in load_after],
        "table_built": table.meta.get("machine"), "archs": rows,
    })
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
