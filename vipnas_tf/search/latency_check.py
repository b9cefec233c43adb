"""Checks a latency table against measured TFLite latency of random sub-networks.

The library behind `scripts/bench_latency_model.py`: samples `num_archs` random
architectures of the space (seeded), predicts each one's latency from the table,
converts each (static model, random weights, same lowering as the table) and times
them interleaved with the LiteRT interpreter (1 thread, XNNPACK). The report holds,
per arch, predicted vs measured (median over `runs`) and the median absolute relative
error, also for the uncalibrated table (scale 1), and counts the archs that are in the
table's calibration set.

Measured time is on the table's clock (default "cpu": the thread CPU time of
`invoke()`, see `vipnas_tf.search.latency`); wall-clock medians and their errors are
reported beside it ("wall_*"). With `fresh`, the archs' units are re-measured in the
same interleaved loop as the whole networks ("fresh_*" predictions share the
machine's load with the measurements), which separates the model's error from load
drift between the table build and this run.
"""
import dataclasses
import os
import time
from typing import Callable, Tuple

import numpy as np

from vipnas_tf.arch.space import get_space
from vipnas_tf.search import latency_budget
from vipnas_tf.search import latency_units as units_lib
from vipnas_tf.search.latency import LatencyModel, convert_arch, convert_unit, overhead_flatbuffer, time_flatbuffers


@dataclasses.dataclass
class LatencyCheckConfig:
    """What `check_latency_model` checks: the table, its space / input size /
    quantization (which must be the table's), and the measurement."""

    table: str
    space: str = "mobilenetv3"
    input_size: Tuple[int, int] = (256, 192)
    quantization: str = "float32"
    num_archs: int = 20
    seed: int = 0
    runs: int = 50
    warmup: int = 5
    fresh: bool = True


def _rel(pred, meas):
    return (pred - meas) / meas


def check_latency_model(config: LatencyCheckConfig, say: Callable[[str], None] = lambda msg: None):
    """The report of the check (see module doc); ValueError naming the table on a table
    of another space, size or precision, CPU model, CPU flags or LiteRT version, and on
    a bad `num_archs`. `say` gets progress
    lines."""
    input_size = tuple(config.input_size)
    space = get_space(config.space)
    table = LatencyModel.load(config.table, lazy=True)
    want = (space.name, input_size, config.quantization)
    have = (table.space, tuple(table.input_size), table.quantization)
    if want != have:
        raise ValueError(f"{config.table} is a table for {have}, not {want}")
    mismatches = latency_budget.provenance_mismatches(table, input_size, config.quantization,
                                                      int(table.meta.get("threads", 1)))
    if mismatches:  # another CPU or LiteRT version: the check would measure the machine, not the table
        raise ValueError(latency_budget.describe_mismatches(
            config.table, mismatches, "build the table on this machine (scripts/build_latency_table.py)"))
    if config.num_archs < 1:
        raise ValueError(f"num_archs must be >= 1, got {config.num_archs}")

    t0 = time.time()
    archs = space.sample(np.random.default_rng(config.seed), config.num_archs)
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
        say(f"converting arch {i + 1}/{len(archs)}")
        flatbuffers.append(convert_arch(a, input_size, config.quantization))
    unit_keys = []
    if config.fresh:
        units = {}
        for a in archs:
            for u in units_lib.arch_units(a, input_size, config.quantization):
                units.setdefault(u.key, u)
        unit_keys = list(units)
        say(f"converting {len(unit_keys)} units")
        flatbuffers += [overhead_flatbuffer(config.quantization)]
        flatbuffers += [convert_unit(units[k], config.quantization) for k in unit_keys]
    convert_seconds = time.time() - t0
    say(f"timing {len(flatbuffers)} models interleaved, {config.runs} rounds")
    t1 = time.time()
    clock = table.meta.get("clock", "wall")
    stats = time_flatbuffers(flatbuffers, config.runs, config.warmup, threads=int(table.meta.get("threads", 1)),
                             clock=clock)
    time_seconds = time.time() - t1
    load_after = os.getloadavg()
    n = len(archs)
    measured = stats[:n]
    fresh = {}
    fresh_wall = {}
    over = over_wall = 0.0
    if config.fresh:
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
        if config.fresh:
            keys = [u.key for u in units_lib.arch_units(a, input_size, config.quantization)]
            fp = scale * (over + sum(fresh[k] for k in keys))
            fpw = scale * (over_wall + sum(fresh_wall[k] for k in keys))
            row.update({"fresh_predicted_ms": round(fp, 4), "fresh_rel_err": round(_rel(fp, m["p50_ms"]), 4),
                        "fresh_wall_predicted_ms": round(fpw, 4),
                        "fresh_wall_rel_err": round(_rel(fpw, m["wall_p50_ms"]), 4)})
        rows.append(row)

    def med_abs(field):
        return round(float(np.median(np.abs([r[field] for r in rows]))), 4)

    report = {
        "space": space.name, "input_size": list(input_size), "quantization": config.quantization,
        "table": os.path.abspath(config.table), "clock": clock, "num_archs": n, "seed": config.seed,
        "runs": config.runs,
        "median_abs_rel_err": med_abs("rel_err"),
        "median_rel_err": round(float(np.median([r["rel_err"] for r in rows])), 4),
        "max_abs_rel_err": round(float(np.max(np.abs([r["rel_err"] for r in rows]))), 4),
        "within_10pct": int(sum(abs(r["rel_err"]) <= 0.10 for r in rows)),
        "wall_median_abs_rel_err": med_abs("wall_rel_err"),
        "scale": scale, "raw_median_abs_rel_err": med_abs("raw_rel_err"),
        "archs_in_calibration_set": overlap,
    }
    if config.fresh:
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
    return report
