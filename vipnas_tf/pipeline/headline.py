"""The quickstart's headline numbers and verdicts, read from the step folders.

`headline(d, settings)` returns plain values (the report puts them at its top, and
scripts/quickstart.py writes them into summary.json under "headline"):

  untrained_ap, biggest_ap, smallest_ap       super-network members, COCO AP (synthetic val)
  s_vipnet: arch, ap, gflops, budget_gflops,  the searched S-ViPNet in the band [budget_lower_gflops,
    budget_lower_gflops, budget_used,         budget_gflops]; budget_used = gflops / budget_gflops;
                                              `budget_position` is
    space_min_gflops, space_max_gflops,       where its GFLOPs lie from the space's
    budget_position                           smallest (0) to its biggest (1)
  candidates, candidates_half_best            searched candidates (all within the budget); those
                                              with AP >= half the best candidate's
  pareto_candidates, pareto_half_best         the same for the Pareto front of the candidates
  schedule_gflops_nonkey, s_vipnet_gflops     GFLOPs per non-key frame vs per S-ViPNet frame
  schedule_map_nonkey, s_vipnet_map_nonkey    PoseTrack mAP on the non-key frames (synthetic val)
  fps: {"HxW": {"s_vipnet_float32", ...}}     TFLite, 1 thread, one interleaved run; at the
                                              deployment size with random weights
  gflops: {"HxW": {"s_vipnet", "schedule_nonkey", "schedule_avg", "sbl_mbv3"}}
  verdicts: [sentences]                       where a result is weak, said plainly

Every value is None when its step has not produced it.
"""
import csv
import os

from vipnas_tf.arch import arch_cost, get_space, parse_arch, resolve_arch
from vipnas_tf.search.spatial import pareto_front
from vipnas_tf.temporal.schedule import Schedule
from vipnas_tf.utils import io as io_utils

PLATEAU_AP = 0.05  # below this the networks still mostly output the mean pose (README)


def _read(path, default=None):
    return io_utils.read_json(path) if os.path.exists(path) else default


def _f(value):
    return None if value is None else float(value)


def size_tag(size):
    return f"{int(size[0])}x{int(size[1])}"


def bench_key(name, sizes):
    """Benchmark result name -> (size tag, model key) e.g. ("256x192", "schedule_int8")."""
    base = name[:-len(".tflite")] if name.endswith(".tflite") else name
    tag = size_tag(sizes[0])
    for size in sizes[1:]:
        t = size_tag(size)
        if base.endswith("_" + t):
            base, tag = base[:-len(t) - 1], t
    if base.startswith("t_vipnas"):
        base = "schedule_" + base.rsplit("_", 1)[-1]
    return tag, base


def pareto_counts(candidates_csv):
    """Counts of candidates.csv's searched candidates (presets excluded):
    {"candidates", "candidates_half_best", "pareto_candidates", "pareto_half_best"}, where
    "half_best" counts those with AP >= half the best candidate's AP."""
    keys = ("candidates", "candidates_half_best", "pareto_candidates", "pareto_half_best")
    if not os.path.exists(candidates_csv):
        return dict.fromkeys(keys)
    with open(candidates_csv, encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r.get("ap") not in (None, "") and r.get("paper_gflops")
                and not str(r.get("source", "")).startswith("preset:")]
    if not rows:
        return dict.fromkeys(keys, 0)
    pts = [(float(r["paper_gflops"]), float(r["ap"])) for r in rows]
    front = pareto_front(pts)
    half = 0.5 * max(p[1] for p in pts)
    return dict(zip(keys, (len(pts), sum(1 for p in pts if p[1] >= half), len(front),
                           sum(1 for i in front if pts[i][1] >= half))))


def _space_range(space_name, input_size):
    space = get_space(space_name)
    return (float(arch_cost(space.min(), tuple(input_size)).paper_gflops),
            float(arch_cost(space.max(), tuple(input_size)).paper_gflops))


def _gflops_at(schedule, size):
    sched = Schedule.from_dict({k: v for k, v in schedule.items() if k not in ("model_dir",)})
    key = float(arch_cost(parse_arch(schedule["key"]["arch"]), tuple(size)).paper_gflops)
    desc = Schedule.from_archs(sched.key_arch, sched.frames, tuple(size)).describe()
    return {"s_vipnet": round(key, 4), "schedule_nonkey": desc["avg_gflops_nonkey"],
            "schedule_avg": desc["avg_gflops"],
            "sbl_mbv3": round(float(arch_cost(resolve_arch("sbl_mbv3"), tuple(size)).paper_gflops), 4)}


def headline(d, settings):
    """The headline numbers (module docstring) of the run whose step folders are `d`."""
    done = {n: _read(os.path.join(p, "DONE.json"), {}) for n, p in d.items()}
    sn = done.get("supernet", {})
    last = (sn.get("train") or {}).get("last", {})
    out = {"untrained_ap": _f(sn.get("untrained_ap")), "biggest_ap": _f(last.get("val_ap_max")),
           "smallest_ap": _f(last.get("val_ap_min"))}
    search = done.get("spatial_search", {})
    lo, hi = _space_range(settings.space, settings.input_size)
    budget = _f((search.get("budget") or {}).get("limit"))
    g = _f(search.get("paper_gflops"))
    out["s_vipnet"] = {"arch": search.get("arch"), "ap": _f(search.get("ap")), "gflops": g,
                       "budget_gflops": budget, "budget_lower_gflops": _f((search.get("budget") or {}).get("lower")),
                       "budget_used": None if g is None or not budget else round(g / budget, 3), "space_min_gflops": round(lo, 4), "space_max_gflops": round(hi, 4),
                       "budget_position": None if g is None or hi <= lo else round((g - lo) / (hi - lo), 3)}
    out.update(pareto_counts(os.path.join(d["spatial_search"], "candidates.csv")))
    evaluation = _read(os.path.join(d["evaluate"], "evaluation.json"), {})
    schedule = _read(os.path.join(d["temporal_search"], "schedule.json"), {})
    out["schedule_gflops_nonkey"] = _f(schedule.get("avg_gflops_nonkey"))
    out["s_vipnet_gflops"] = _f(schedule.get("key", {}).get("paper_gflops"))
    out["schedule_map_nonkey"] = _f(evaluation.get("schedule_map_nonkey"))
    out["s_vipnet_map_nonkey"] = _f(evaluation.get("s_vipnet_per_frame_map_nonkey"))
    sizes = [tuple(settings.input_size)] + ([tuple(settings.deploy_input_size)]
                                            if getattr(settings, "deploy_input_size", None) else [])
    bench = _read(os.path.join(d["benchmark"], "benchmark.json"), {})
    fps = {size_tag(s): {} for s in sizes}
    for r in bench.get("results", []):
        if "fps" in r:
            tag, key = bench_key(r["name"], sizes)
            fps.setdefault(tag, {})[key] = round(float(r["fps"]), 1)
    out["fps"] = fps
    out["gflops"] = {size_tag(s): _gflops_at(schedule, s) for s in sizes} if schedule else {}
    out["verdicts"] = verdicts(out)
    return out


def _ratio(a, b):
    return None if not a or not b else a / b


def verdicts(h):
    """Plain sentences on the weak results (empty when nothing is weak or measured)."""
    lines = []
    big = h.get("biggest_ap")
    if big is not None and max(big, h.get("smallest_ap") or 0) < PLATEAU_AP:
        lines.append(f"The super-network is still near the mean-pose plateau (biggest AP {big:.4f} < {PLATEAU_AP}): "
                     "its accuracy differences are close to noise.")
    if big is not None and h.get("smallest_ap") is not None and h["smallest_ap"] > big:
        lines.append("The smallest member scores above the biggest: the super-network is under-trained.")
    n, half = h.get("candidates"), h.get("candidates_half_best")
    if n and half is not None and half < min(5, n):
        lines.append(f"Only {half} of {n} candidates reach half the best candidate's AP: the super-network's "
                     "sub-networks carry little signal, so the search's ranking is close to noise.")
    used = (h.get("s_vipnet") or {}).get("budget_used")
    if used is not None and used < 0.5:
        lines.append(f"The S-ViPNet uses {100 * used:.0f}% of its GFLOPs budget.")
    pos = (h.get("s_vipnet") or {}).get("budget_position")
    if pos is not None and pos <= 0.05:
        lines.append("The search chose (nearly) the smallest network of the space as the S-ViPNet: the T-ViPNets, "
                     "bounded by it and carrying the fusion module, cannot be much lighter.")
    sched, svip = h.get("schedule_gflops_nonkey"), h.get("s_vipnet_gflops")
    if sched is not None and svip is not None and sched >= svip:
        lines.append(f"The schedule is not cheaper: {sched:.4f} GFLOPs per non-key frame vs {svip:.4f} for the "
                     "S-ViPNet.")
    elif sched is not None and svip and sched > 0.6 * svip:
        lines.append(f"The T-ViPNets cost {sched / svip:.2f}x the S-ViPNet's GFLOPs per non-key frame "
                     "(the paper allocates about half).")
    sm, vm = h.get("schedule_map_nonkey"), h.get("s_vipnet_map_nonkey")
    if sm is not None and vm is not None and sm < vm:
        lines.append(f"The schedule is less accurate than the S-ViPNet on every frame ({sm:.1f} vs {vm:.1f} mAP).")
    for tag, row in (h.get("fps") or {}).items():
        for q in ("float32", "int8"):
            r = _ratio(row.get(f"schedule_{q}"), row.get(f"s_vipnet_{q}"))
            if r is not None and r <= 1.0:
                lines.append(f"At {tag} ({q}) the schedule is not faster than the S-ViPNet: "
                             f"{row[f'schedule_{q}']:.1f} vs {row[f's_vipnet_{q}']:.1f} FPS.")
    return lines
