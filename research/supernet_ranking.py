r"""Does the super-network rank architectures as stand-alone training does?

  python research/supernet_ranking.py --out=runs/ranking --supernet_dir=SUPERNET \
      --synthetic_data=DIR --standalone_steps=400 --json

The premise of a weight-sharing search (paper Sec. 3.4.1) is that a sub-network's AP
with inherited weights orders the architectures as training each one alone would. This
script measures that on the quickstart's space (`mobilenetv3_quick`, 64x64, synthetic
people):

1. The super-network: `--supernet_dir` (a trained `--mode=supernet` run), or trained here
   in OUT/supernet with the settings of configs/quickstart_supernet.flags for
   `--supernet_steps` steps (in-place distillation from half-way).
2. `--num_archs` architectures stratified by paper GFLOPs: the space's smallest and
   biggest, and one per equal-width GFLOPs bin between them (the pool architecture
   nearest the bin's centre, from `--pool` uniform samples of seed `--arch_seed`).
3. (a) inherited: each architecture's validation AP in the super-network after BN
   re-calibration, with the search's own scoring (`SpatialSearch.evaluate_ap`,
   `--bn_calib_batches` batches of 16).
   (b) stand-alone: each architecture trained from scratch (`--mode=standalone`, He
   kernels as the super-network, same data, batch, learning rate and cosine schedule)
   for `--standalone_steps` steps, once per seed of `--seeds`; validation AP at the end.
   Both score the whole validation set unless `--eval_max_persons` is set.
4. Kendall's tau-b and Spearman's rho between (a) and the seed mean of (b), with a
   percentile bootstrap 95% interval over architectures (`--bootstrap` resamples), the
   same statistics between the seeds of (b) (how well stand-alone training ranks
   itself at this budget), and the rank under (b) of the architecture the quickstart's
   search would choose: the best (a) within its GFLOPs band (configs/quickstart_search.flags:
   `--max_gflops`, `--budget_floor`). Every AP is also given against the mean-pose plateau
   (~0.001) and the decoded-ground-truth ceiling (0.84 at 64x64), and, over the
   architectures with 2+ stand-alone seeds, the seed-to-seed std of (b) against the std
   between architectures.

`--max_minutes` starts no stand-alone run after that many minutes. Resumable: every
finished unit of work (the super-network, one inherited score, one
stand-alone run) is appended to OUT/results.jsonl as it finishes; a restarted run skips
what is there (a stand-alone run killed half-way resumes from its checkpoint). Results:
OUT/results.json (command, date, versions, CPU, wall time per phase), OUT/results.md
and OUT/scatter.png. Measured figures: research/README.md, "Does the super-network rank
like stand-alone training?".
"""
import gc
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402

from vipnas_tf.utils import io as io_utils  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

F = flags.FLAGS
flags.DEFINE_string("out", None, "Output folder (resumes what is there).", required=True)
flags.DEFINE_string("supernet_dir", "", "A trained super-network run of --space (empty: train one in "
                    "OUT/supernet with the quickstart's settings for --supernet_steps steps).")
flags.DEFINE_string("synthetic_data", "", "Synthetic data folder (generated if missing; default OUT/data). "
                    "Stand-alone runs train and everything validates on its COCO-format set.")
flags.DEFINE_integer("synthetic_images", 2000, "Images to generate when --synthetic_data is missing (the "
                     "quickstart's 2000).")
flags.DEFINE_string("space", "mobilenetv3_quick", "Search space (of the super-network).")
flags.DEFINE_integer("supernet_steps", 460, "Super-network steps when it is trained here (the quickstart's 460).")
flags.DEFINE_integer("num_archs", 12, "Architectures (>= 3: smallest, biggest, one per GFLOPs bin between).")
flags.DEFINE_integer("pool", 2000, "Uniform samples the stratified architectures are picked from.")
flags.DEFINE_integer("arch_seed", 0, "Seed of the architecture pool.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds of the stand-alone runs (data order and initialisation).")
flags.DEFINE_integer("standalone_steps", 400, "Training steps of every stand-alone run.")
flags.DEFINE_integer("batch_size", 32, "Batch size (super-network and stand-alone).")
flags.DEFINE_float("learning_rate", 2e-3, "Adam learning rate (cosine schedule, 10 warm-up steps).")
flags.DEFINE_integer("bn_calib_batches", 4, "BN re-calibration batches for the inherited scores (the quickstart "
                     "search's 4).")
flags.DEFINE_integer("eval_max_persons", 0, "Validate on about this many persons (0: the whole val set).")
flags.DEFINE_float("max_gflops", 0.0368, "The search's GFLOPs budget (configs/quickstart_search.flags).")
flags.DEFINE_float("budget_floor", 0.684, "The band's lower end as a fraction of --max_gflops (same file).")
flags.DEFINE_integer("bootstrap", 1000, "Bootstrap resamples over architectures.")
flags.DEFINE_bool("keep_checkpoints", False, "Keep the stand-alone runs' checkpoints (default: deleted once "
                  "the run's AP is recorded; metrics.jsonl and run_config.json stay).")
flags.DEFINE_float("max_minutes", 0.0, "Start no stand-alone run once this invocation has run this many minutes "
                   "(0: no limit); the analysis then covers what is measured, a rerun resumes.")
flags.DEFINE_bool("analyse_only", False, "Run no training or scoring: analyse the units OUT/results.jsonl holds "
                  "(architectures with a stand-alone AP at every seed of --seeds), e.g. of a study stopped early.")
flags.DEFINE_bool("json", False, "Print results.json instead of the table.")

RESULTS = "results.jsonl"
# The scale an AP is read against at 64x64 (research/README.md, "The mean-pose plateau"):
# a network on the mean-pose plateau scores about PLATEAU_AP, and decoding the ground-truth
# heatmaps scores CEILING_AP (research/ap_ceiling.py --input_size=64x64).
PLATEAU_AP = 0.001
CEILING_AP = 0.84
OFF_PLATEAU = 5.0  # an AP counts as off the plateau at this many times PLATEAU_AP or more
# Settings a results.jsonl belongs to: a resumed run with other values is refused.
SETTINGS_FLAGS = ("space", "supernet_steps", "num_archs", "pool", "arch_seed", "standalone_steps", "batch_size",
                  "learning_rate", "bn_calib_batches", "eval_max_persons", "synthetic_images")


# ---- statistics (numpy; no SciPy needed) ------------------------------------------
def _ranks(x):
    """Average ranks (1 = smallest), ties sharing their mean rank."""
    x = np.asarray(x, float)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(1, len(x) + 1)
    for v in np.unique(x):
        tie = x == v
        if tie.sum() > 1:
            ranks[tie] = ranks[tie].mean()
    return ranks


def spearman_rho(a, b):
    """Spearman's rho: Pearson correlation of the average ranks (nan when one side is constant)."""
    ra, rb = _ranks(a), _ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = np.sqrt((ra ** 2).sum() * (rb ** 2).sum())
    return float((ra * rb).sum() / den) if den > 0 else float("nan")


def kendall_tau(a, b):
    """Kendall's tau-b (ties corrected; nan when one side is constant)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    i, j = np.triu_indices(len(a), 1)
    da, db = np.sign(a[i] - a[j]), np.sign(b[i] - b[j])
    den = np.sqrt((da != 0).sum() * (db != 0).sum())
    return float((da * db).sum() / den) if den > 0 else float("nan")


def bootstrap_interval(a, b, stat, resamples, seed=0):
    """Percentile 95% interval of stat(a, b) over architectures drawn with replacement."""
    rng = np.random.default_rng(seed)
    a, b = np.asarray(a, float), np.asarray(b, float)
    values = []
    for _ in range(resamples):
        idx = rng.integers(len(a), size=len(a))
        v = stat(a[idx], b[idx])
        if np.isfinite(v):
            values.append(v)
    if not values:
        return [float("nan"), float("nan")], 0
    return [round(float(np.percentile(values, 2.5)), 4), round(float(np.percentile(values, 97.5)), 4)], len(values)


# ---- architectures -----------------------------------------------------------------
def stratified_archs(space, oracle, num_archs, pool, seed):
    """The smallest, the biggest, and one pool architecture per equal-width GFLOPs bin
    between them (the one nearest the bin's centre), sorted by GFLOPs."""
    if num_archs < 3:
        raise ValueError(f"--num_archs must be >= 3 (smallest, biggest and one between), got {num_archs}")
    rng = np.random.default_rng(seed)
    lo_arch, hi_arch = space.min(), space.max()
    lo, hi = oracle(lo_arch)["paper_gflops"], oracle(hi_arch)["paper_gflops"]
    candidates = {}
    for arch in space.sample(rng, pool):
        candidates.setdefault(arch.to_string(), arch)
    for a in (lo_arch, hi_arch):
        candidates.pop(a.to_string(), None)
    names = sorted(candidates)
    g = np.array([oracle(candidates[n])["paper_gflops"] for n in names])
    bins = num_archs - 2
    edges = np.linspace(lo, hi, bins + 1)
    chosen, used = [lo_arch, hi_arch], set()
    for k in range(bins):
        centre = 0.5 * (edges[k] + edges[k + 1])
        order = np.argsort(np.abs(g - centre), kind="mergesort")
        pick = next(i for i in order if i not in used)  # the nearest unused (a neighbour bin's when empty)
        used.add(pick)
        chosen.append(candidates[names[pick]])
    return sorted(chosen, key=lambda a: (oracle(a)["paper_gflops"], a.to_string()))


def spread_order(n):
    """Indices 0..n-1 (architectures sorted by GFLOPs) in farthest-first order: the two
    ends, then each next the one farthest from those taken, so that a study stopped early
    still covers the whole GFLOPs range."""
    order = [0, n - 1] if n > 1 else [0]
    while len(order) < n:
        order.append(max((i for i in range(n) if i not in order), key=lambda i: min(abs(i - j) for j in order)))
    return order


# ---- the run ---------------------------------------------------------------------
def _versions():
    import keras
    import tensorflow as tf
    return {"tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def _cpu():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    info = {}
    for line in out.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("Model name", "CPU(s)", "Thread(s) per core"):
            info[key.strip()] = value.strip()
    return info


def _check_settings(out, settings):
    path = os.path.join(out, "settings.json")
    if os.path.exists(path):
        old = io_utils.read_json(path)
        changed = {k: (old.get(k), v) for k, v in settings.items() if old.get(k) != v}
        if changed:
            raise app.UsageError(f"{path}: {out!r} holds a study with other settings "
                                 + ", ".join(f"{k}={a!r} (now {b!r})" for k, (a, b) in changed.items())
                                 + "; use another --out")
    else:
        io_utils.write_json(path, settings)


def _free_memory():
    import keras
    keras.backend.clear_session()
    gc.collect()


def main(argv):
    del argv
    t_start = time.time()
    import tensorflow as tf

    from vipnas_tf.arch import get_space, parse_arch
    from vipnas_tf.data import load_coco
    from vipnas_tf.data.synthetic import ensure as ensure_synthetic
    from vipnas_tf.data.synthetic import training_paths
    from vipnas_tf.evaluation import CocoEvaluator
    from vipnas_tf.models import build_supernet
    from vipnas_tf.search.spatial import Budget, CostOracle, SpatialSearch
    from vipnas_tf.training import TrainConfig, Trainer, read_run_config
    from vipnas_tf.training import bn as bn_lib

    out = F.out
    os.makedirs(out, exist_ok=True)
    seeds = [int(s) for s in F.seeds]
    settings = {k: getattr(F, k) for k in SETTINGS_FLAGS}
    settings["supernet_dir"] = os.path.abspath(F.supernet_dir) if F.supernet_dir else ""
    _check_settings(out, settings)
    jsonl = os.path.join(out, RESULTS)
    rows = io_utils.read_jsonl(jsonl)
    done = {(r["kind"], r.get("index"), r.get("seed")): r for r in rows}

    def record(row):
        io_utils.append_jsonl(jsonl, row)
        done[(row["kind"], row.get("index"), row.get("seed"))] = row

    invocation = {"kind": "invocation", "index": sum(1 for k in done if k[0] == "invocation"),
                  "command": " ".join(["python", *sys.argv]),
                  "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if not F.analyse_only:
        record(invocation)

    # -- data
    synthetic = F.synthetic_data or os.path.join(out, "data")
    t0 = time.time()
    ensure_synthetic(synthetic, images=F.synthetic_images, clips=24, frames=8, seed=0, workers=1, progress=False)
    data = training_paths(synthetic, "coco")
    val_persons = len(load_coco(data["val_ann"], data["val_images"]))
    eval_persons = F.eval_max_persons or val_persons
    data_seconds = round(time.time() - t0, 1)
    common = dict(space=F.space, input_size=(64, 64), batch_size=F.batch_size, learning_rate=F.learning_rate,
                  lr_schedule="cosine", warmup_steps=10, kernel_init="he", augment=False, log_every=50,
                  bn_calib_batches=F.bn_calib_batches, eval_max_persons=eval_persons, **data)

    # -- 1. the super-network
    supernet_dir = F.supernet_dir or os.path.join(out, "supernet")
    if ("supernet", None, None) not in done and F.analyse_only:
        raise app.UsageError(f"--analyse_only: {jsonl} holds no super-network record; run the study first")
    if ("supernet", None, None) not in done:
        t0 = time.time()
        if not F.supernet_dir:
            print(f"[supernet] training {supernet_dir} for {F.supernet_steps} steps", flush=True)
            cfg = TrainConfig(mode="supernet", train_steps=F.supernet_steps, num_random=1,
                              distill_start=F.supernet_steps // 2, checkpoint_every=50, eval_every=0, seed=0,
                              **common)
            summary = Trainer(cfg, supernet_dir, progress=False, log_fn=print).train()
            _free_memory()
        else:
            summary = {"reused": True}
        rc = read_run_config(supernet_dir)
        if rc.get("mode") != "supernet" or rc.get("space") != F.space:
            raise app.UsageError(f"--supernet_dir {supernet_dir!r}: a {rc.get('mode')!r} run of space "
                                 f"{rc.get('space')!r}, not a {F.space!r} super-network")
        latest = tf.train.latest_checkpoint(os.path.join(supernet_dir, "ckpt"))
        if latest is None:
            raise app.UsageError(f"--supernet_dir {supernet_dir!r} holds no checkpoint (ckpt/)")
        step = int(latest.rsplit("-", 1)[1])
        metrics = [m for m in io_utils.read_jsonl(os.path.join(supernet_dir, "metrics.jsonl")) if m["step"] <= step]
        record({"kind": "supernet", "model_dir": os.path.abspath(supernet_dir), "run_config": rc,
                "trained_here": not F.supernet_dir, "checkpoint": os.path.basename(latest), "final_step": step,
                "train_seconds": metrics[-1].get("elapsed_s") if metrics else None,
                "val_ap_during_training": [{k: v for k, v in m.items() if k == "step" or k.startswith("val_")}
                                           for m in metrics if any(k.startswith("val_") for k in m)],
                "seconds": round(time.time() - t0, 1), "summary": summary})
    rc = done[("supernet", None, None)]["run_config"]
    if tuple(rc["input_size"]) != (64, 64):
        raise app.UsageError(f"--supernet_dir {supernet_dir!r}: input_size {rc['input_size']}, this study is at 64x64")

    # -- 2. the architectures
    space = get_space(F.space)
    oracle = CostOracle((64, 64))
    arch_path = os.path.join(out, "archs.json")
    if os.path.exists(arch_path):
        archs = [parse_arch(a["arch"]) for a in io_utils.read_json(arch_path)]
    else:
        archs = stratified_archs(space, oracle, F.num_archs, F.pool, F.arch_seed)
        io_utils.write_json(arch_path, [dict(index=i, arch=a.to_string(), **oracle(a)) for i, a in enumerate(archs)])
    gflops = [oracle(a)["paper_gflops"] for a in archs]
    print(f"[archs] {len(archs)} architectures, {min(gflops):.4f} .. {max(gflops):.4f} GFLOPs", flush=True)

    # -- 3a. inherited scores (the search's scoring)
    budget = Budget("paper_gflops", F.max_gflops, F.budget_floor)
    if not F.analyse_only and any(("inherited", i, None) not in done for i in range(len(archs))):
        search = SpatialSearch(supernet_dir, os.path.join(out, "inherited_search"), budget,
                               bn_calib_batches=F.bn_calib_batches, eval_max_persons=eval_persons,
                               expect_space=F.space, data=data, progress=False)
        for i, arch in enumerate(archs):
            if ("inherited", i, None) in done:
                continue
            t0 = time.time()
            ap = search.evaluate_ap(arch)
            record({"kind": "inherited", "index": i, "arch": arch.to_string(), "paper_gflops": gflops[i],
                    "ap": round(ap, 6), "seconds": round(time.time() - t0, 1)})
            print(f"[inherited {i + 1}/{len(archs)}] {gflops[i]:.4f} GFLOPs  AP {ap:.4f}", flush=True)
        del search
        _free_memory()

    # -- 3b. stand-alone runs, seed-major and spread over GFLOPs (what an interrupted study has done is
    # every architecture at the early seeds, and at the last seed a spread of them)
    total_runs = len(archs) * len(seeds)
    evaluation, stopped = None, False
    for seed in seeds:
        for i in spread_order(len(archs)):
            arch = archs[i]
            if ("standalone", i, seed) in done or F.analyse_only:
                continue
            if F.max_minutes and time.time() - t_start > 60 * F.max_minutes:
                if not stopped:
                    print(f"[standalone] --max_minutes={F.max_minutes:g} reached: no further run started", flush=True)
                stopped = True
                continue
            t0 = time.time()
            run_dir = os.path.join(out, "standalone", f"arch{i:02d}_seed{seed}")
            cfg = TrainConfig(mode="standalone", arch=arch.to_string(), train_steps=F.standalone_steps, seed=seed,
                              checkpoint_every=max(50, F.standalone_steps // 2), keep_checkpoints=1, eval_every=-1,
                              **common)
            trainer = Trainer(cfg, run_dir, progress=False, log_fn=lambda m: None)
            summary = trainer.train()
            # The Trainer's own end-of-run validation (predict_fn of the run's model, its BN
            # statistics as trained), on one long-lived copy: its inference function is traced
            # once for all runs instead of once per run.
            if evaluation is None:
                evaluation = (build_supernet(space, input_size=(64, 64)),
                              CocoEvaluator.subset(data["val_ann"], data["val_images"], eval_persons, (64, 64)))
            eval_model, evaluator = evaluation
            if [w.shape for w in eval_model.weights] != [w.shape for w in trainer.model.weights]:
                raise RuntimeError(f"{run_dir}: the trained model's weights do not match the evaluation copy's")
            for dst, src in zip(eval_model.weights, trainer.model.weights):
                dst.assign(src)
            ap = float(evaluator.evaluate(bn_lib.predict_fn(eval_model, arch))["AP"])
            io_utils.append_jsonl(os.path.join(run_dir, "metrics.jsonl"), {"step": F.standalone_steps,
                                                                            "val_ap_arch": ap})
            record({"kind": "standalone", "index": i, "seed": seed, "arch": arch.to_string(),
                    "paper_gflops": gflops[i], "steps": F.standalone_steps, "ap": round(float(ap), 6),
                    "final_loss": summary.get("last", {}).get("loss"), "step_seconds": summary.get("step_seconds"),
                    "seconds": round(time.time() - t0, 1)})
            n = sum(1 for k in done if k[0] == "standalone")
            print(f"[standalone {n}/{total_runs}] arch {i} ({gflops[i]:.4f} GFLOPs) seed {seed}: AP {ap:.4f} "
                  f"in {time.time() - t0:.0f} s", flush=True)
            del trainer
            gc.collect()  # not keras.backend.clear_session(): the evaluation copy lives on
            if not F.keep_checkpoints:
                shutil.rmtree(os.path.join(run_dir, "ckpt"), ignore_errors=True)

    # -- 4. analysis
    result = analyse(archs, gflops, done, seeds, budget)
    def units(kind, carried=False):
        """The finished units of `kind`: measured by this study, or carried over from another."""
        return [r for k, r in done.items() if k[0] == kind and bool(r.get("carried_over_from")) == carried]

    def phase(kind, carried=False):
        return round(sum(r.get("seconds", 0) for r in units(kind, carried)), 1)

    sn = done[("supernet", None, None)]
    result.update({
        "command": invocation["command"],
        "invocations": sorted((r for k, r in done.items() if k[0] == "invocation"), key=lambda r: r["index"]),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "versions": _versions(), "cpu": _cpu(),
        "space": F.space, "input_size": [64, 64], "val_persons": eval_persons,
        "supernet": {"model_dir": sn["model_dir"], "trained_here": sn["trained_here"], "final_step": sn["final_step"],
                     "settings": {k: sn["run_config"].get(k) for k in
                                  ("train_steps", "batch_size", "learning_rate", "lr_schedule", "num_random",
                                   "distill_start", "kernel_init", "augment", "seed")},
                     "val_ap_during_training": sn["val_ap_during_training"]},
        "standalone_settings": {"steps": F.standalone_steps, "batch_size": F.batch_size,
                                "learning_rate": F.learning_rate, "lr_schedule": "cosine", "warmup_steps": 10,
                                "kernel_init": "he", "augment": False, "seeds": seeds},
        "inherited_settings": {"bn_calib_batches": F.bn_calib_batches, "calib_batch_size": 16},
        "wall_seconds": {"data": data_seconds,
                         "supernet_training": sn.get("train_seconds") if sn["trained_here"] else
                         f"reused ({sn.get('train_seconds')} s when trained)",
                         "inherited": phase("inherited"), "standalone": phase("standalone"),
                         "standalone_runs": len(units("standalone")),
                         "standalone_carried_over": phase("standalone", carried=True),
                         "standalone_carried_over_runs": len(units("standalone", carried=True)),
                         "this_invocation": round(time.time() - t_start, 1)},
    })
    result["wall_seconds"]["total_units"] = round(
        (sn.get("train_seconds") or 0) + result["wall_seconds"]["inherited"] + result["wall_seconds"]["standalone"], 1)
    io_utils.write_json(os.path.join(out, "results.json"), result)
    table = results_table(result)
    io_utils.write_text(os.path.join(out, "results.md"), table)
    plot(result, os.path.join(out, "scatter.png"))
    print(json.dumps(result, indent=2) if F.json else table)


def analyse(archs, gflops, done, seeds, budget):
    """Per-architecture rows and the rank statistics (over architectures with every seed)."""
    rows = []
    for i, arch in enumerate(archs):
        inh = done.get(("inherited", i, None))
        sa = [done[("standalone", i, s)]["ap"] for s in seeds if ("standalone", i, s) in done]
        rows.append({"index": i, "arch": arch.to_string(), "paper_gflops": gflops[i],
                     "inherited_ap": inh["ap"] if inh else None, "standalone_ap": sa,
                     "standalone_mean": round(float(np.mean(sa)), 6) if sa else None,
                     "standalone_std": round(float(np.std(sa, ddof=1)), 6) if len(sa) > 1 else None,
                     "in_search_band": bool(budget.admits(gflops[i]))})
        for key, value in (("inherited", rows[-1]["inherited_ap"]), ("standalone", rows[-1]["standalone_mean"])):
            if value is not None:
                rows[-1][f"{key}_x_plateau"] = round(value / PLATEAU_AP, 1)
                rows[-1][f"{key}_of_ceiling"] = round(value / CEILING_AP, 4)
    complete = [r for r in rows if r["inherited_ap"] is not None and len(r["standalone_ap"]) == len(seeds)]
    stats = {"archs_complete": len(complete), "seeds": len(seeds),
             "scale": {"plateau_ap": PLATEAU_AP, "ceiling_ap": CEILING_AP, "off_plateau_at": OFF_PLATEAU * PLATEAU_AP}}
    measured = [v for r in rows for v in [r["inherited_ap"], *r["standalone_ap"]] if v is not None]
    if measured:
        stats["scale"].update(min_ap=min(measured), max_ap=max(measured),
                              all_off_plateau=bool(min(measured) >= OFF_PLATEAU * PLATEAU_AP))
    noise = seed_noise(archs, done)
    if noise:
        stats["seed_noise"] = noise
    scored = [r for r in rows if r["inherited_ap"] is not None]
    if len(scored) >= 3:  # the super-network's side alone, over every scored architecture
        stats["kendall_tau_gflops_vs_inherited_all"] = round(
            kendall_tau([r["paper_gflops"] for r in scored], [r["inherited_ap"] for r in scored]), 4)
        band = [r for r in scored if r["in_search_band"]]
        if band:
            best = max(band, key=lambda r: r["inherited_ap"])
            stats["search_choice_of_all_scored"] = {"index": best["index"], "paper_gflops": best["paper_gflops"],
                                                    "inherited_ap": best["inherited_ap"], "archs_in_band": len(band)}
    if len(complete) >= 3:
        a = np.array([r["inherited_ap"] for r in complete])
        b = np.array([r["standalone_mean"] for r in complete])
        ci_tau, n_tau = bootstrap_interval(a, b, kendall_tau, F.bootstrap)
        ci_rho, n_rho = bootstrap_interval(a, b, spearman_rho, F.bootstrap)
        stats.update(kendall_tau=round(kendall_tau(a, b), 4), kendall_tau_ci95=ci_tau,
                     spearman_rho=round(spearman_rho(a, b), 4), spearman_rho_ci95=ci_rho,
                     bootstrap_resamples=F.bootstrap, bootstrap_valid=min(n_tau, n_rho))
        g = np.array([r["paper_gflops"] for r in complete])
        stats["kendall_tau_gflops_vs_standalone"] = round(kendall_tau(g, b), 4)
        stats["kendall_tau_gflops_vs_inherited"] = round(kendall_tau(g, a), 4)
        # stand-alone against itself: every pair of seeds
        per_seed = np.array([r["standalone_ap"] for r in complete])  # [archs, seeds]
        pairs = [(s, t) for s in range(len(seeds)) for t in range(s + 1, len(seeds))]
        if pairs:
            stats["kendall_tau_between_seeds"] = [round(kendall_tau(per_seed[:, s], per_seed[:, t]), 4)
                                                  for s, t in pairs]
        # the inherited score against each single seed (what one stand-alone run would show)
        stats["kendall_tau_inherited_vs_each_seed"] = [round(kendall_tau(a, per_seed[:, s]), 4)
                                                       for s in range(len(seeds))]
        order = np.argsort(-b, kind="mergesort")
        sa_rank = {complete[k]["index"]: int(r + 1) for r, k in enumerate(order)}
        inh_order = np.argsort(-a, kind="mergesort")
        inh_rank = {complete[k]["index"]: int(r + 1) for r, k in enumerate(inh_order)}
        for r in complete:
            r["standalone_rank"], r["inherited_rank"] = sa_rank[r["index"]], inh_rank[r["index"]]
        band = [r for r in complete if r["in_search_band"]]
        if band:
            best = max(band, key=lambda r: r["inherited_ap"])
            best_sa = max(band, key=lambda r: r["standalone_mean"])
            stats["search_choice"] = {
                "budget": budget.to_dict(), "archs_in_band": len(band), "index": best["index"],
                "arch": best["arch"], "paper_gflops": best["paper_gflops"], "inherited_ap": best["inherited_ap"],
                "standalone_mean": best["standalone_mean"], "standalone_rank_overall": best["standalone_rank"],
                "standalone_rank_in_band": 1 + sum(r["standalone_mean"] > best["standalone_mean"] for r in band),
                "best_in_band_standalone": {"index": best_sa["index"], "standalone_mean": best_sa["standalone_mean"]}}
    return {"rows": rows, "stats": stats}


def seed_noise(archs, done):
    """Seed-to-seed spread of the stand-alone AP against the spread between architectures,
    over every architecture with 2+ stand-alone seeds in `done` (whatever --seeds says):
    the mean within-architecture std (ddof 1) and the std of those architectures' seed
    means, and Kendall's tau between every pair of seeds on the architectures both hold."""
    by_arch = {}
    for (kind, i, seed), r in done.items():
        if kind == "standalone" and i is not None and i < len(archs):
            by_arch.setdefault(i, {})[seed] = r["ap"]
    multi = {i: v for i, v in by_arch.items() if len(v) > 1}
    if len(multi) < 2:
        return None
    within = [float(np.std(list(v.values()), ddof=1)) for v in multi.values()]
    means = [float(np.mean(list(v.values()))) for v in multi.values()]
    seeds = sorted({s for v in by_arch.values() for s in v})
    pairs = []
    for k, s in enumerate(seeds):
        for t in seeds[k + 1:]:
            both = sorted(i for i, v in by_arch.items() if s in v and t in v)
            if len(both) >= 3:
                pairs.append({"seeds": [s, t], "archs": len(both),
                              "kendall_tau": round(kendall_tau([by_arch[i][s] for i in both],
                                                               [by_arch[i][t] for i in both]), 4)})
    return {"archs_with_2plus_seeds": len(multi), "seeds_per_arch": {str(i): len(v) for i, v in sorted(multi.items())},
            "mean_within_arch_std": round(float(np.mean(within)), 6), "max_within_arch_std": round(max(within), 6),
            "between_arch_std_of_means": round(float(np.std(means, ddof=1)), 6),
            "range_of_means": [round(min(means), 6), round(max(means), 6)],
            "noise_to_spread": round(float(np.mean(within)) / float(np.std(means, ddof=1)), 3)
            if np.std(means) > 0 else None,
            "kendall_tau_seed_pairs": pairs}


def results_table(result):
    st = result["stats"]
    lines = ["| # | GFLOPs | inherited AP (a) | rank (a) | stand-alone AP (b), mean +- std | rank (b) | in band "
             "| (a), (b) x plateau | (a), (b) of ceiling |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in result["rows"]:
        sa = (f"{r['standalone_mean']:.4f} +- {r['standalone_std']:.4f}" if r["standalone_std"] is not None
              else (f"{r['standalone_mean']:.4f}" if r["standalone_mean"] is not None else "-"))
        inh = f"{r['inherited_ap']:.4f}" if r["inherited_ap"] is not None else "-"
        lines.append(f"| {r['index']} | {r['paper_gflops']:.4f} | {inh} | {r.get('inherited_rank', '-')} | {sa} "
                     f"(n={len(r['standalone_ap'])}) | {r.get('standalone_rank', '-')} | "
                     f"{'yes' if r['in_search_band'] else ''} | {r.get('inherited_x_plateau', '-')}, "
                     f"{r.get('standalone_x_plateau', '-')} | {r.get('inherited_of_ceiling', '-')}, "
                     f"{r.get('standalone_of_ceiling', '-')} |")
    lines.append("")
    if "kendall_tau" in st:
        lines.append(f"Kendall tau-b (a vs mean b) {st['kendall_tau']:+.3f} [95% {st['kendall_tau_ci95'][0]:+.3f}, "
                     f"{st['kendall_tau_ci95'][1]:+.3f}], Spearman rho {st['spearman_rho']:+.3f} "
                     f"[{st['spearman_rho_ci95'][0]:+.3f}, {st['spearman_rho_ci95'][1]:+.3f}] over "
                     f"{st['archs_complete']} architectures x {st['seeds']} seeds")
        if "kendall_tau_between_seeds" in st:
            lines.append(f"Kendall tau between stand-alone seeds: {st['kendall_tau_between_seeds']}; "
                         f"inherited vs each seed: {st['kendall_tau_inherited_vs_each_seed']}")
        lines.append(f"Kendall tau GFLOPs vs (b) {st['kendall_tau_gflops_vs_standalone']:+.3f}, "
                     f"GFLOPs vs (a) {st['kendall_tau_gflops_vs_inherited']:+.3f}")
        sc = st.get("search_choice")
        if sc:
            lines.append(f"search choice (best (a) in {sc['budget']['lower']:.4f}..{sc['budget']['limit']:.4f} "
                         f"GFLOPs, {sc['archs_in_band']} archs): #{sc['index']}, stand-alone rank "
                         f"{sc['standalone_rank_overall']} of {st['archs_complete']} "
                         f"({sc['standalone_rank_in_band']} of {sc['archs_in_band']} in the band)")
    else:
        lines.append(f"only {st['archs_complete']} architectures complete: no rank statistics")
    sc = st["scale"]
    if "min_ap" in sc:
        lines.append(f"every AP {sc['min_ap']:.4f} .. {sc['max_ap']:.4f} (plateau ~{sc['plateau_ap']}, ceiling "
                     f"{sc['ceiling_ap']}): {'all' if sc['all_off_plateau'] else 'NOT all'} off the plateau "
                     f"(>= {sc['off_plateau_at']})")
    nz = st.get("seed_noise")
    if nz:
        lines.append(f"seed noise of (b) over {nz['archs_with_2plus_seeds']} architectures with 2+ seeds: mean std "
                     f"{nz['mean_within_arch_std']:.4f} (max {nz['max_within_arch_std']:.4f}) against a std of "
                     f"{nz['between_arch_std_of_means']:.4f} between their means (ratio {nz['noise_to_spread']}); "
                     "Kendall tau between seeds: " + ", ".join(
                         f"{p['seeds'][0]}-{p['seeds'][1]} {p['kendall_tau']:+.3f} ({p['archs']} archs)"
                         for p in nz["kendall_tau_seed_pairs"]))
    if "kendall_tau_gflops_vs_inherited_all" in st:
        line = (f"all {sum(r['inherited_ap'] is not None for r in result['rows'])} scored architectures: Kendall tau "
                f"GFLOPs vs (a) {st['kendall_tau_gflops_vs_inherited_all']:+.3f}")
        if "search_choice_of_all_scored" in st:
            line += f"; the search's choice among them: #{st['search_choice_of_all_scored']['index']}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def plot(result, path):
    """(a) against mean (b) with seed std bars, coloured by GFLOPs; the search's choice ringed."""
    rows = [r for r in result["rows"] if r["inherited_ap"] is not None and r["standalone_mean"] is not None]
    if not rows:
        return
    st = result["stats"]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    x = [r["inherited_ap"] for r in rows]
    y = [r["standalone_mean"] for r in rows]
    e = [r["standalone_std"] or 0 for r in rows]
    g = [r["paper_gflops"] for r in rows]
    ax.errorbar(x, y, yerr=e, fmt="none", ecolor="0.6", capsize=2, zorder=1)
    sc = ax.scatter(x, y, c=g, cmap="viridis", zorder=2)
    fig.colorbar(sc, ax=ax, label="paper GFLOPs (64x64)")
    for r in rows:
        ax.annotate(str(r["index"]), (r["inherited_ap"], r["standalone_mean"]), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
    choice = st.get("search_choice")
    if choice:
        ax.scatter([choice["inherited_ap"]], [choice["standalone_mean"]], s=160, facecolors="none",
                   edgecolors="red", zorder=3, label="search's choice")
        ax.legend(loc="lower right", fontsize=8)
    title = "super-network vs stand-alone AP"
    if "kendall_tau" in st:
        title += (f"\nKendall tau {st['kendall_tau']:+.2f} [{st['kendall_tau_ci95'][0]:+.2f}, "
                  f"{st['kendall_tau_ci95'][1]:+.2f}], Spearman rho {st['spearman_rho']:+.2f}")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("(a) inherited AP, BN re-calibrated")
    n_seeds = len(result["standalone_settings"]["seeds"])
    ax.set_ylabel(f"(b) stand-alone AP, {result['standalone_settings']['steps']} steps, "
                  + (f"mean +- std of {n_seeds} seeds" if n_seeds > 1 else "1 seed"))
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    io_utils.write_bytes(path, buf.getvalue())


if __name__ == "__main__":
    app.run(main)
