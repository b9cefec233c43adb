r"""The paper's temporal claims at small scale, with seeds: Fig. 6(a)/(b) as curves,
Table 3 at equal constraints and Table 4, on the synthetic video data.

  # models off the mean-pose plateau: a quickstart run with longer training and 20 val videos
  python scripts/quickstart.py --out=runs/qs_long --clips=200 --supernet_steps=800 --finetune_steps=400 \
      --posetrack_finetune_steps=300 --stop_after=posetrack_finetune
  python research/temporal_ablations.py --key_model_dir=runs/qs_long/05_posetrack_finetune/model \
      --supernet_dir=runs/qs_long/02_supernet/model --synthetic_data=runs/qs_long/01_synthetic_data \
      --out=runs/temporal --seeds=0,1,2 --train_steps=120 --finetune_steps=400 --posetrack_finetune_steps=300 --json

Per seed (the seed sets the temporal trainings' data order and sampling, and every
search's sampling and BN-calibration clips):
- Two temporal models trained identically except for the fusion module (the quickstart's
  temporal recipe, `QuickstartSettings`: its steps, batch, learning rate and sandwich;
  the train.py equivalents are configs/quickstart_temporal.flags and
  configs/quickstart_temporal_nofusion.flags).
- Fig. 6(b), at each complexity level of `--levels`: the computation-allocation search
  (eq. 3, `--num_samples` random candidates) with per-frame architectures ("ours") and
  with one architecture shared by all frames (the baseline), on the fusion model. A
  level is a band of average paper GFLOPs per non-key frame, [`--band` x C, C], C the
  level's fraction of the key S-ViPNet's GFLOPs (see `StudySearch`). Each search's
  schedule.json is OUT/seedS/L{level}b{band}_per_frame (or _shared) / schedule.json.
- Fig. 6(a): the per-frame search's best schedule scored on the no-fusion model too (the
  same frame architectures without the fusion module).
- Table 3 at equal constraints, at `--table3_level`: an S-ViPNet searched on the
  super-network (`SpatialSearch`, the search's own COCO-AP scoring, as the quickstart's
  spatial search) under the T-ViPNAS schedule's average GFLOPs per frame (key + T frames
  over the cycle), in a band of `--table3_floor` of it, then fine-tuned as the
  quickstart fine-tunes its key (COCO, then PoseTrack18 layout; `--finetune_steps` and
  `--posetrack_finetune_steps`, the key's own) with the PoseTrack fine-tune lengthened by
  the temporal training's steps, so that it had as many steps on the clips' frames as the
  T-ViPNets; run on every frame.
- Table 4: T = `--table4_frames` searched on the fusion model (trained at T = 3) under
  the Table 3 level's budget (T = 3 is the Fig. 6(b) search of that level).
Once: the PoseTrack mAP ceiling (decoded ground-truth heatmaps) and the mean-pose
plateau level on the same val frames, for every T (`research/ap_ceiling.py`).
Every number is PoseTrack mAP (pooled over the non-key frames of the synthetic val
clips, the frames `ClipEvaluator` scores); a network counts as off the plateau when it
scores above the mean pose.

Resumable: each finished unit (a training, a search, an evaluation) is a line of
OUT/results.jsonl and is not redone; trainings and searches also resume inside (their
checkpoints, candidates.jsonl). The seeds run one after the other, so a stop leaves
complete seeds. Results (rewritten after every seed): OUT/results.json (command, date,
versions, CPU, wall time per phase, per-seed rows, mean +- std), OUT/results.md and
OUT/temporal_curves.png (Fig. 6(a) and 6(b) panels). Measured tables: research/README.md,
"Temporal ablations at small scale".
"""
import datetime
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402
import keras  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from vipnas_tf import litert  # noqa: E402
from vipnas_tf.arch import arch_cost, get_space, load_arch  # noqa: E402
from vipnas_tf.arch.arch import parse_arch  # noqa: E402
from vipnas_tf.data.synthetic import training_paths  # noqa: E402
from vipnas_tf.pipeline.quickstart import QuickstartSettings  # noqa: E402
from vipnas_tf.search.spatial import Budget, SpatialSearch  # noqa: E402
from vipnas_tf.search.temporal import TemporalSearch, cheapest_frame  # noqa: E402
from vipnas_tf.temporal.frame_arch import FrameArch, TemporalSpace, frame_cost  # noqa: E402
from vipnas_tf.training import TrainConfig, Trainer  # noqa: E402
from vipnas_tf.training import bn as bn_lib  # noqa: E402
from vipnas_tf.training.model_dir import load_model, read_run_config  # noqa: E402
from vipnas_tf.utils import io as io_utils  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

QS = QuickstartSettings()
F = flags.FLAGS
flags.DEFINE_string("key_model_dir", None, "The key S-ViPNet fine-tuned on PoseTrack18 (a stand-alone run of "
                    "keypoint layout posetrack18, e.g. the quickstart's 05_posetrack_finetune/model).", required=True)
flags.DEFINE_string("supernet_dir", None, "The super-network the key was searched on (Table 3's spatial search; "
                    "e.g. the quickstart's 02_supernet/model). Empty: no Table 3.")
flags.DEFINE_string("synthetic_data", None, "Synthetic data folder (coco/ and posetrack/).", required=True)
flags.DEFINE_string("out", None, "Output folder.", required=True)
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds, run one after the other.")
flags.DEFINE_list("levels", ["0.55", "0.6", "0.65", "0.72", "0.8"], "Complexity levels: average paper GFLOPs per non-key "
                  "frame as fractions of the key S-ViPNet's (the upper end of each level's band).")
flags.DEFINE_float("band", 0.9, "Each level searches schedules of average GFLOPs per non-key frame in "
                   "[band x level, level] x the key's (0: the upper bound alone, as the paper states its constraint).")
flags.DEFINE_integer("frames", QS.num_frames, "T of the temporal trainings and the Fig. 6 searches.")
flags.DEFINE_integer("train_steps", QS.temporal_steps, "Temporal training steps (both models; the quickstart's).")
flags.DEFINE_integer("batch_size", QS.temporal_batch, "Clips per batch.")
flags.DEFINE_float("learning_rate", QS.supernet_lr / 4, "Learning rate (the quickstart's temporal one).")
flags.DEFINE_integer("num_samples", 20, "Candidates per allocation search.")
flags.DEFINE_float("table3_level", 0.65, "The level (one of --levels) of Table 3 and Table 4.")
flags.DEFINE_float("table3_floor", 0.9, "Table 3's S-ViPNet: the lower end of its GFLOPs band, as a fraction of "
                   "the schedule's average GFLOPs per frame.")
flags.DEFINE_integer("finetune_steps", QS.finetune_steps, "Table 3's S-ViPNet: COCO fine-tuning steps from the super-network "
                     "(give the key's own, so that both had the same recipe; the quickstart's by default).")
flags.DEFINE_integer("posetrack_finetune_steps", QS.posetrack_finetune_steps, "Table 3's S-ViPNet: PoseTrack18 "
                     "fine-tuning steps before the temporal training's --train_steps are added (the key's own).")
flags.DEFINE_integer("spatial_samples", 20, "Table 3: candidates of the S-ViPNet search (evolution, population 4).")
flags.DEFINE_list("table4_frames", ["2", "3", "4"], "Table 4: the T values searched ('' for none).")
flags.DEFINE_integer("bn_calib_batches", 4, "BN re-calibration batches per candidate.")
flags.DEFINE_bool("json", False, "Print the results as JSON.")

PHASES = ("ceiling", "train", "search_per_frame", "search_shared", "eval", "table3_search", "table3_train",
          "table4_search")


class StudySearch(TemporalSearch):
    """A TemporalSearch in a GFLOPs band: a schedule is admitted when its total paper
    GFLOPs lies in [floor x limit, limit] (random schedules of a temporal space cluster
    in a narrow range of GFLOPs, so under an upper bound alone every loose level samples
    the same schedules; the band makes each level a level, as the quickstart's spatial
    search band does). It shares its ScheduleEvaluator (model, BN-calibration clips, val
    clips: all fixed by the model, T and seed) with every other search of the same model,
    T and seed in this process, and saves no static models (nothing is exported)."""

    evaluators = {}

    def __init__(self, *args, floor=0.0, **kwargs):
        self.floor = float(floor)
        super().__init__(*args, **kwargs)

    def admits(self, frames):
        return super().admits(frames) and self.total(frames) >= self.floor * self.limit

    def _budget_dict(self):
        return dict(super()._budget_dict(), floor=self.floor)

    def schedule_evaluator(self):
        key = (os.path.abspath(self.model_dir), self.frames, self.seed, self.bn_calib_batches)
        if key not in self.evaluators:
            self.evaluators[key] = super().schedule_evaluator()
        self._evaluator = self.evaluators[key]
        return self._evaluator

    def save_static_models(self, frames):
        return {}


class Units:
    """OUT/results.jsonl: one line per finished unit, keyed by name."""

    def __init__(self, out):
        self.path = os.path.join(out, "results.jsonl")
        self.done, self.used = {}, set()
        if os.path.exists(self.path):
            with open(self.path, encoding="utf-8") as f:
                for line in f:
                    if line.strip():
                        row = json.loads(line)
                        self.done[row["unit"]] = row

    def run(self, name, phase, fn):
        self.used.add(name)
        if name in self.done:
            return self.done[name]
        print(f"== {name}", flush=True)
        t0 = time.time()
        row = dict(fn(), unit=name, phase=phase, seconds=round(time.time() - t0, 1),
                   finished=datetime.datetime.now(datetime.timezone.utc).strftime("%H:%M:%S"))
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        self.done[name] = row
        print(f"   {name}: {row['seconds']} s " + json.dumps({k: v for k, v in row.items() if k in (
            "map", "map_nonkey", "avg_gflops_nonkey", "ap", "paper_gflops")}), flush=True)
        return row


def _train(cfg, model_dir):
    summary = Trainer(cfg, model_dir, progress=False, log_fn=print).train()
    return {"model_dir": model_dir, "final_step": summary.get("final_step"), "total_steps": summary["total_steps"]}


def _search_row(summary):
    return {k: summary[k] for k in ("map_nonkey", "sum_ap_nonkey", "frame_map_nonkey", "avg_gflops_nonkey",
                                     "avg_gflops", "key_paper_gflops", "num_candidates", "frames", "budget")}


def _ceilings(units, pt):
    """The ceiling and mean-pose mAP per T (research/ap_ceiling.py, one subprocess)."""
    ts = sorted({F.frames, *[int(t) for t in F.table4_frames if t]})
    size = "x".join(str(v) for v in read_run_config(F.key_model_dir)["input_size"])

    def run():
        cmd = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "ap_ceiling.py"),
               f"--data={os.path.join(F.synthetic_data, 'coco')}", f"--posetrack={pt}", f"--input_size={size}",
               f"--eval_persons={QS.eval_max_persons}", f"--frames={','.join(map(str, ts))}"]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        lines = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
        return {"coco": next(x for x in lines if "AP_ceiling" in x),
                "posetrack": {str(x["T"]): x for x in lines if "T" in x}, "command": " ".join(cmd[1:])}

    return units.run("ceiling", "ceiling", run)


def run_seed(seed, units, ctx):
    """Every unit of one seed; returns its rows."""
    key_cfg, data, out = ctx["key_cfg"], ctx["data"], os.path.join(F.out, f"seed{seed}")
    size = tuple(key_cfg["input_size"])
    pt = data["posetrack"]
    dirs = {}
    for name, fusion in (("fusion", True), ("nofusion", False)):
        dirs[name] = os.path.join(out, name)
        cfg = TrainConfig(mode="temporal", space=key_cfg["space"], input_size=size, key_model_dir=F.key_model_dir,
                          num_frames=F.frames, batch_size=F.batch_size, train_steps=F.train_steps,
                          learning_rate=F.learning_rate, lr_schedule="cosine", num_random=QS.num_random,
                          checkpoint_every=max(10, F.train_steps // 2), log_every=10, eval_every=-1, seed=seed,
                          fusion=fusion, augment=QS.augment, bn_calib_batches=F.bn_calib_batches, **pt)
        units.run(f"s{seed}/train_{name}", "train", lambda c=cfg, d=dirs[name]: _train(c, d))

    def search(tag, model, frames, budget, shared=False, phase="search_per_frame"):
        def run():
            s = StudySearch(dirs[model], os.path.join(out, tag), frames=frames, max_avg_gflops=budget,
                            num_samples=F.num_samples, seed=seed, shared=shared, progress=False,
                            bn_calib_batches=F.bn_calib_batches, floor=F.band)
            return _search_row(s.run())
        return units.run(f"s{seed}/{tag}", phase, run)

    def evaluator(model, frames=F.frames):
        return StudySearch(dirs[model], os.path.join(out, f"eval_{model}"), frames=frames, max_avg_gflops=1e9,
                           num_samples=1, seed=seed, progress=False,
                           bn_calib_batches=F.bn_calib_batches).schedule_evaluator()

    rows = {"seed": seed, "levels": []}
    for level, budget in zip(ctx["levels"], ctx["budgets"]):
        per_frame = search(f"L{level}b{F.band}_per_frame", "fusion", F.frames, budget)
        shared = search(f"L{level}b{F.band}_shared", "fusion", F.frames, budget, shared=True, phase="search_shared")
        best = [FrameArch.from_dict(f) for f in per_frame["frames"]]
        nofusion = units.run(f"s{seed}/L{level}b{F.band}_nofusion", "eval", lambda b=best: {
            "map": round(float(evaluator("nofusion").evaluate(b)["Total"]), 4)})
        rows["levels"].append({"level": level, "budget_avg_gflops_nonkey": budget,
                               "per_frame": per_frame, "shared": shared, "nofusion_map": nofusion["map"]})
    key_every = units.run(f"s{seed}/key_every_frame", "eval", lambda: {"map": round(float(
        evaluator("fusion").clip_evaluator.evaluate_framewise(evaluator("fusion").model.key_heatmaps)["Total"]), 4)})
    rows["key_every_frame_map"] = key_every["map"]
    i3 = ctx["levels"].index(F.table3_level)
    sched = rows["levels"][i3]["per_frame"]
    if F.supernet_dir:
        rows["table3"] = table3(seed, units, ctx, out, sched, lambda: evaluator("fusion"))
    rows["table4"] = []
    for t in (int(v) for v in F.table4_frames if v):
        row = sched if t == F.frames else search(f"table4_T{t}_L{F.table3_level}b{F.band}", "fusion", t, ctx["budgets"][i3],
                                                 phase="table4_search")
        rows["table4"].append({"T": t, **{k: row[k] for k in ("map_nonkey", "avg_gflops_nonkey", "avg_gflops")}})
    return rows


def table3(seed, units, ctx, out, sched, fusion_evaluator):
    """The S-ViPNet searched and trained at the schedule's GFLOPs per frame, on every frame."""
    key_cfg, data = ctx["key_cfg"], ctx["data"]
    size = tuple(key_cfg["input_size"])
    limit = float(sched["avg_gflops"])
    tag = f"_L{F.table3_level}b{F.band}"  # the schedule it matches
    folder = os.path.join(out, "table3_search" + tag)

    def run_search():
        s = SpatialSearch(F.supernet_dir, folder, Budget("paper_gflops", limit, F.table3_floor), strategy="evolution",
                          num_samples=F.spatial_samples, population=4, seed=seed, bn_calib_batches=F.bn_calib_batches,
                          eval_max_persons=QS.eval_max_persons, progress=False, evaluate_presets=False)
        return {k: v for k, v in s.run().items() if k in ("arch", "ap", "paper_gflops", "budget", "num_candidates")}

    found = units.run(f"s{seed}/table3_search{tag}", "table3_search", run_search)
    arch = os.path.join(folder, "best_arch.json")
    common = dict(mode="standalone", space=key_cfg["space"], input_size=size, arch=arch, seed=seed, log_every=10,
                  lr_schedule="cosine", eval_max_persons=QS.eval_max_persons, bn_calib_batches=F.bn_calib_batches,
                  augment=QS.augment, batch_size=QS.supernet_batch, learning_rate=QS.supernet_lr / 4, eval_every=-1)
    coco_dir, pt_dir = os.path.join(out, "table3_finetune" + tag), os.path.join(out, "table3_posetrack_finetune" + tag)
    pt_steps = F.posetrack_finetune_steps + F.train_steps
    units.run(f"s{seed}/table3_finetune{tag}", "table3_train", lambda: _train(TrainConfig(
        init_from=F.supernet_dir, train_steps=F.finetune_steps, checkpoint_every=F.finetune_steps,
        **common, **data["coco"]), coco_dir))
    units.run(f"s{seed}/table3_posetrack_finetune{tag}", "table3_train", lambda: _train(TrainConfig(
        init_from=coco_dir, train_steps=pt_steps, checkpoint_every=pt_steps, **common, **data["posetrack"]), pt_dir))

    def score():
        net, _ = load_model(pt_dir, expect_mode="standalone")
        ev = fusion_evaluator().clip_evaluator
        return {"map": round(float(ev.evaluate_framewise(bn_lib.predict_fn(net, load_arch(arch)))["Total"]), 4)}

    s_map = units.run(f"s{seed}/table3_every_frame{tag}", "eval", score)
    return {"schedule_map": sched["map_nonkey"], "schedule_avg_gflops": sched["avg_gflops"],
            "s_vipnet_arch": found["arch"], "s_vipnet_gflops": found["paper_gflops"], "s_vipnet_coco_ap": found["ap"],
            "s_vipnet_map": s_map["map"], "s_vipnet_steps": {"coco_finetune": F.finetune_steps,
                                                             "posetrack_finetune": pt_steps}}


def _ms(values):
    v = np.asarray(values, float)
    return {"mean": round(float(v.mean()), 5), "std": round(float(v.std(ddof=1)) if len(v) > 1 else 0.0, 5),
            "values": [round(float(x), 5) for x in v]}


def summarize(seeds, ctx, ceil):
    """Mean +- std over the finished seeds."""
    levels = []
    for i, level in enumerate(ctx["levels"]):
        rows = [s["levels"][i] for s in seeds]
        levels.append({"level": level, "budget_avg_gflops_nonkey": ctx["budgets"][i],
                       "per_frame_map": _ms([r["per_frame"]["map_nonkey"] for r in rows]),
                       "shared_map": _ms([r["shared"]["map_nonkey"] for r in rows]),
                       "nofusion_map": _ms([r["nofusion_map"] for r in rows]),
                       "per_frame_gflops": _ms([r["per_frame"]["avg_gflops_nonkey"] for r in rows]),
                       "shared_gflops": _ms([r["shared"]["avg_gflops_nonkey"] for r in rows])})
    out = {"levels": levels, "key_every_frame_map": _ms([s["key_every_frame_map"] for s in seeds])}
    t3 = [s["table3"] for s in seeds if "table3" in s]
    if t3:
        out["table3"] = {k: _ms([r[k] for r in t3]) for k in ("schedule_map", "schedule_avg_gflops", "s_vipnet_map",
                                                             "s_vipnet_gflops", "s_vipnet_coco_ap")}
    ts = [r["T"] for r in seeds[0]["table4"]]
    out["table4"] = [{"T": t, **{k: _ms([next(r[k] for r in s["table4"] if r["T"] == t) for s in seeds])
                                 for k in ("map_nonkey", "avg_gflops_nonkey", "avg_gflops")},
                      "mean_pose_map": ceil["posetrack"][str(t)]["mAP_mean_pose"],
                      "ceiling_map": ceil["posetrack"][str(t)]["mAP_ceiling"]} for t in ts]
    return out


def _pm(m, digits=1):
    return f"{m['mean']:.{digits}f} +- {m['std']:.{digits}f}"


def markdown(summary, ceil, n):
    pt = ceil["posetrack"][str(F.frames)]
    lines = [f"{n} seed(s); PoseTrack mAP on the non-key frames of the val clips (T = {F.frames}); "
             f"mean pose {pt['mAP_mean_pose']}, ceiling {pt['mAP_ceiling']}; key S-ViPNet on every frame "
             f"{_pm(summary['key_every_frame_map'])}", "",
             "| band (x key GFLOPs per non-key frame) | GFLOPs / non-key frame (per-frame) | 6(a) with fusion | 6(a) without fusion "
             "| 6(b) per-frame | 6(b) shared | GFLOPs / non-key frame (shared) |", "|---|---|---|---|---|---|---|"]
    for r in summary["levels"]:
        lines.append(f"| {F.band * r['level']:.3f}-{r['level']} | {_pm(r['per_frame_gflops'], 4)} | {_pm(r['per_frame_map'])} | "
                     f"{_pm(r['nofusion_map'])} | {_pm(r['per_frame_map'])} | {_pm(r['shared_map'])} | "
                     f"{_pm(r['shared_gflops'], 4)} |")
    if "table3" in summary:
        t = summary["table3"]
        lines += ["", "| Table 3 | GFLOPs / frame | mAP (non-key frames) |", "|---|---|---|",
                  f"| T-ViPNAS schedule | {_pm(t['schedule_avg_gflops'], 4)} | {_pm(t['schedule_map'])} |",
                  f"| S-ViPNet at equal GFLOPs, every frame | {_pm(t['s_vipnet_gflops'], 4)} | {_pm(t['s_vipnet_map'])} |"]
    lines += ["", "| Table 4: T | GFLOPs / non-key frame | GFLOPs / frame (cycle) | mAP (non-key) | mean pose | ceiling |",
              "|---|---|---|---|---|---|"]
    for r in summary["table4"]:
        lines.append(f"| {r['T']} | {_pm(r['avg_gflops_nonkey'], 4)} | {_pm(r['avg_gflops'], 4)} | "
                     f"{_pm(r['map_nonkey'])} | {r['mean_pose_map']} | {r['ceiling_map']} |")
    return "\n".join(lines) + "\n"


def plot(summary, ceil, n, path):
    pt = ceil["posetrack"][str(F.frames)]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    rows = summary["levels"]
    x = [r["per_frame_gflops"]["mean"] for r in rows]
    curves = [(axes[0], "with fusion (T-ViPNAS)", x, "per_frame_map", "C0"),
              (axes[0], "without fusion (same frame networks)", x, "nofusion_map", "C1"),
              (axes[1], "per-frame architectures (T-ViPNAS)", x, "per_frame_map", "C0"),
              (axes[1], "one shared architecture", [r["shared_gflops"]["mean"] for r in rows], "shared_map", "C2")]
    for ax, label, xs, k, c in curves:
        ax.errorbar(xs, [r[k]["mean"] for r in rows], yerr=[r[k]["std"] for r in rows], label=label, color=c,
                    marker="o", capsize=3)
    for ax, title in zip(axes, ("Fig. 6(a): fusion module", "Fig. 6(b): per-frame vs shared architecture")):
        ax.axhline(pt["mAP_mean_pose"], color="grey", ls="--", lw=1, label=f"mean pose ({pt['mAP_mean_pose']})")
        ax.axhline(summary["key_every_frame_map"]["mean"], color="k", ls=":", lw=1, label="key S-ViPNet, every frame")
        ax.set_title(title)
        ax.set_xlabel("average paper GFLOPs per non-key frame")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel(f"PoseTrack mAP, non-key frames (ceiling {pt['mAP_ceiling']:.0f})")
    fig.suptitle(f"T = {F.frames}, mean +- std over {n} seed(s), {F.num_samples} candidates per search, "
                 f"{F.train_steps} temporal training steps; levels: bands of {F.band} x to 1 x "
                 f"{', '.join(str(v) for v in F.levels)} of the key's GFLOPs", fontsize=9)
    fig.tight_layout()
    fig.savefig(path + ".tmp.png", dpi=110)
    plt.close(fig)
    os.replace(path + ".tmp.png", path)


def main(argv):
    del argv
    t0 = time.time()
    os.makedirs(F.out, exist_ok=True)
    key_cfg = read_run_config(F.key_model_dir)
    if key_cfg.get("keypoint_layout") != "posetrack18":
        raise app.UsageError(f"--key_model_dir={F.key_model_dir}: keypoint layout {key_cfg.get('keypoint_layout')!r}, "
                             "not posetrack18 (fine-tune it on the PoseTrack clips first)")
    data = {w: training_paths(F.synthetic_data, w) for w in ("coco", "posetrack")}
    size = tuple(key_cfg["input_size"])
    key_arch = parse_arch(key_cfg["arch"])
    key_gflops = float(arch_cost(key_arch, size).paper_gflops)
    levels = [float(v) for v in F.levels]
    if F.table3_level not in levels:
        raise app.UsageError(f"--table3_level={F.table3_level} is not one of --levels={F.levels}")
    tspace = TemporalSpace(get_space(key_cfg["space"]), max_arch=key_arch)
    cheapest = float(frame_cost(cheapest_frame(tspace, size), size).paper_gflops)
    ctx = {"key_cfg": key_cfg, "data": data, "levels": levels,
           "budgets": [round(f * key_gflops, 5) for f in levels]}
    units = Units(F.out)
    ceil = _ceilings(units, data["posetrack"]["val_images"])
    seeds, result = [], None
    for seed in (int(s) for s in F.seeds):
        seeds.append(run_seed(seed, units, ctx))
        StudySearch.evaluators.clear()
        keras.backend.clear_session()
        summary = summarize(seeds, ctx, ceil)
        phases = {p: round(sum(units.done[n]["seconds"] for n in units.used if units.done[n]["phase"] == p), 1)
                  for p in PHASES}
        result = {
            "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
            "versions": {"tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__},
            "machine": litert.machine_info(),
            "settings": {"key_model_dir": os.path.abspath(F.key_model_dir), "key_arch": key_arch.to_string(),
                         "key_paper_gflops": round(key_gflops, 5),
                         "cheapest_frame_gflops": round(cheapest, 5), "cheapest_frame_fraction": round(cheapest / key_gflops, 3),
                         "supernet_dir": F.supernet_dir,
                         "input_size": list(size), "frames": F.frames, "levels": levels, "budgets": ctx["budgets"],
                         "train_steps": F.train_steps, "batch_size": F.batch_size, "learning_rate": F.learning_rate,
                         "num_samples": F.num_samples, "band": F.band, "table3_level": F.table3_level, "table3_floor": F.table3_floor,
                         "spatial_samples": F.spatial_samples, "bn_calib_batches": F.bn_calib_batches},
            "seeds_done": [s["seed"] for s in seeds], "ceiling_and_mean_pose": ceil, "summary": summary,
            "per_seed": seeds, "seconds_per_phase": phases,
            "seconds_this_invocation": round(time.time() - t0, 1),
            "seconds_all_units": round(sum(phases.values()), 1),
        }
        io_utils.write_json(os.path.join(F.out, "results.json"), result)
        io_utils.write_text(os.path.join(F.out, "results.md"), markdown(summary, ceil, len(seeds)))
        plot(summary, ceil, len(seeds), os.path.join(F.out, "temporal_curves.png"))
        print(f"seed {seed} done; {round(time.time() - t0)} s so far", flush=True)
    print(json.dumps(result, indent=2) if F.json else markdown(result["summary"], ceil, len(seeds)))


if __name__ == "__main__":
    app.run(main)
