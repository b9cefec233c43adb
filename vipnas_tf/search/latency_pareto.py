"""The latency-searched and the GFLOPs-searched candidates on one measured-latency axis.

Two spatial searches over the same super-network, one under a latency budget
(`--max_ms`) and one under a GFLOPs budget, each rank candidates by super-network AP
against their own cost. To compare them where a user feels the difference, the
candidates on each run's Pareto front (AP against its own budget's cost) are
converted (static model, random weights: speed does not depend on them) and timed
interleaved in one LiteRT run, on one clock, so both sets share the machine's state:

    summary = compare_runs("runs/search_ms", "runs/search_gflops", (256, 192), "int8", threads=1)

writes OUT/pareto_measured.png (AP against measured ms, both runs, both fronts) and
OUT/pareto_measured.json (every timed candidate: run, arch, AP, paper GFLOPs,
predicted and measured ms) into the latency run's folder.
"""
import io
import os
from typing import Dict, List

import matplotlib
import matplotlib.pyplot as plt

from vipnas_tf.arch.arch import parse_arch
from vipnas_tf.search.latency import measure_archs_ms
from vipnas_tf.search.spatial import SearchError, pareto_front
from vipnas_tf.utils import io as io_utils

COST_OF_BUDGET = {"latency_ms": "latency_ms", "paper_gflops": "paper_gflops", "macs": "macs"}


def _front_rows(run_dir: str) -> List[Dict]:
    """The candidates of a search's Pareto front (AP against the cost its budget bounds)."""
    summary_path = os.path.join(run_dir, "summary.json")
    jsonl = os.path.join(run_dir, "candidates.jsonl")
    for path in (summary_path, jsonl):
        if not os.path.exists(path):
            raise SearchError(f"{run_dir}: not a finished spatial search ({os.path.basename(path)} is missing)")
    summary = io_utils.read_json(summary_path)
    kind = summary.get("budget", {}).get("kind")
    if kind not in COST_OF_BUDGET:
        raise SearchError(f"{summary_path}: field 'budget.kind' = {kind!r}, expected one of {sorted(COST_OF_BUDGET)}")
    rows = {r["arch"]: r for r in io_utils.read_jsonl(jsonl) if not str(r.get("source", "")).startswith("preset:")}
    rows = list(rows.values())
    key = COST_OF_BUDGET[kind]
    usable = [r for r in rows if r.get(key) is not None]
    front = pareto_front([(r[key], r["ap"]) for r in usable])
    return [dict(usable[i], budget_kind=kind) for i in front]


def compare_runs(latency_run: str, gflops_run: str, input_size, quantization: str, threads: int = 1,
                 runs: int = 30, out_dir: str = None) -> Dict:
    """Times both runs' Pareto-front candidates interleaved; writes the plot and JSON
    (see module doc); returns {"png", "json", "points"}."""
    out_dir = out_dir or latency_run
    sets = {"latency-searched": _front_rows(latency_run), "GFLOPs-searched": _front_rows(gflops_run)}
    spaces = {parse_arch(r["arch"]).space for rows in sets.values() for r in rows}
    if len(spaces) != 1:
        raise SearchError(f"{latency_run} and {gflops_run} searched different spaces: {sorted(spaces)}")
    flat = [(name, r) for name, rows in sets.items() for r in rows]
    clock = "cpu" if threads == 1 else "wall"
    measured = measure_archs_ms([parse_arch(r["arch"]) for _, r in flat], input_size, quantization, runs=runs,
                                warmup=3, threads=threads, clock=clock)
    points = [{"run": name, "arch": r["arch"], "ap": r["ap"], "paper_gflops": r.get("paper_gflops"),
               "predicted_ms": r.get("latency_ms"), "measured_ms": round(ms, 4)} for (name, r), ms in zip(flat, measured)]
    png = os.path.join(out_dir, "pareto_measured.png")
    title = (f"{spaces.pop()} {input_size[0]}x{input_size[1]}, {quantization}, {threads} thread(s), "
             f"measured on the {clock} clock")
    _plot(points, png, title)
    path = os.path.join(out_dir, "pareto_measured.json")
    io_utils.write_json(path, {"latency_run": os.path.abspath(latency_run), "gflops_run": os.path.abspath(gflops_run),
                               "input_size": list(input_size), "quantization": quantization, "threads": threads,
                               "clock": clock, "runs": runs, "points": points})
    return {"png": png, "json": path, "points": points}


def _plot(points, path, title):
    matplotlib.use("Agg")
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for name, style in (("latency-searched", "r-o"), ("GFLOPs-searched", "b-s")):
        pts = sorted((p["measured_ms"], p["ap"]) for p in points if p["run"] == name)
        if pts:
            ax.plot([x for x, _ in pts], [y for _, y in pts], style, ms=5, label=f"{name} (Pareto front)")
    ax.set_xlabel("measured TFLite latency (ms)")
    ax.set_ylabel("validation AP (BN re-calibrated)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=110)
    plt.close(fig)
    io_utils.write_bytes(path, png.getvalue())
