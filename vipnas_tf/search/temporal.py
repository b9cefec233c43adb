"""Computation allocation across video frames (paper Sec. 3.4.3, eq. 3).

    max over arch^1..T of   sum_t AP(T-ViPNet(I^t, H^(t-1); arch^t))
    subject to              sum_t Flops(arch^t) <= C

Each candidate is a tuple of T frame architectures (spatial choices + fusion op +
fusion stage) sampled within the trained T-ViPNet super-network's temporal space, with
summed paper GFLOPs <= C (`max_total_gflops`, or T x `max_avg_gflops`). It is scored by
`ScheduleEvaluator` (per-frame BN re-calibration, propagation from the key frame) on
the val clips, and ranked as eq. 3 writes it: `sum_ap`, the sum over the non-key frame
positions t = 1..T of AP^t, the PoseTrack mAP of position t over the val clips
(`ClipEvaluator`'s "frame_map"). T need not equal the T the model was trained with
(paper Table 4: T in {2, 3, 4} without retraining).

How the eq. 3 sum relates to the pooled mAP (`map`: one PoseTrack mAP over the non-key
frames together, `ClipEvaluator`'s "Total", the number the README tables report):
sum_ap / T is the plain mean of the T per-position mAPs, every position weighted
equally. The pooled mAP builds one precision-recall curve per joint from the
predictions of all positions, so a position weighs by its labelled joints and the
confidence scores of different positions compete in one ranking (a late frame that is
confidently wrong lowers the precision at the early frames' recall too); it also scores
only the frames whose persons all sit on non-key clip frames, where AP^t scores every
person at position t. With equally many persons per position and comparably calibrated
scores, pooled ~ sum / T and the two rank alike (tests/training/test_temporal_units.py:
position 1 perfect and position 2 blind give AP^t = [100, 0], sum 100, pooled 50); on a
trained model they correlate but need not pick the same schedule. summary.json records
the pooled metric's pick beside the eq. 3 one (`pooled_map_pick`).

Measured example: the quickstart's T-ViPNet model (05_temporal, 60 steps at 64x64, T = 3),
12 random schedules under 0.0152 GFLOPs per non-key frame (`python scripts/search.py
--mode=temporal --model_dir=QUICKSTART/05_temporal/model --frames=3 --max_avg_gflops=0.0152
--num_samples=12 --bn_calib_batches=4 --seed=0 --out=DIR`). Spearman rank correlation of
sum_ap and pooled mAP over the 12: 0.88. Eq. 3 picks candidate 6 (AP^t = 21.04 / 22.94 /
16.98, sum 60.96, pooled 18.69; 0.01219 GFLOPs per frame); the pooled mAP picks candidate 10
(pooled 20.54, AP^t = 17.44 / 21.72 / 17.91, sum 57.07, third by eq. 3). Each is the
other's second or third: not the same schedule. (The pooled mAP scored 5 val frames
there, each AP^t 4 frames with 6 persons.)

Latency budget (`max_ms_per_frame`, beyond the paper): a schedule's latency per video
frame is (key + the T frame networks) / (T + 1), predicted from a latency table
(`vipnas_tf.search.latency_budget.schedule_ms_per_frame`); candidates are ranked by
eq. 3 as under a GFLOPs budget. Confirm the chosen schedule's latency with
`tflite/benchmark.py`.

Outputs in `out`: schedule.json (the video schedule), candidates.csv,
candidates.jsonl (resume log), summary.json. Same seed, same result; a restarted
search reuses the scores already in candidates.jsonl (lines without the per-position
scores, from a search that recorded only the pooled mAP, are evaluated again).
"""
import csv
import dataclasses
import io
import logging
import os
import time
from typing import Optional, Tuple

import numpy as np
from tqdm.auto import tqdm

from vipnas_tf.arch import arch_cost, get_space
from vipnas_tf.arch.arch import parse_arch
from vipnas_tf.codecs.dataset_info import LayoutMismatchError, require_same_layout
from vipnas_tf.data import PoseTrackData
from vipnas_tf.data.pipeline import make_clip_dataset
from vipnas_tf.evaluation.clips import ClipEvaluator
from vipnas_tf.search import latency_budget
from vipnas_tf.search.records import ResumableCandidates
from vipnas_tf.search.spatial import SearchError
from vipnas_tf.temporal.frame_arch import FrameArch, TemporalSpace, frame_cost
from vipnas_tf.temporal.schedule import Schedule
from vipnas_tf.training import bn as bn_lib
from vipnas_tf.training.model_dir import ModelDirError, keypoint_layout_of_run, load_model, read_run_config
from vipnas_tf.training.temporal import ScheduleEvaluator
from vipnas_tf.utils import io as io_utils

log = logging.getLogger(__name__)


def min_frame_gflops(space, key_arch, input_size) -> float:
    """Paper GFLOPs of the temporal space's `min()` frame network under key-frame
    architecture `key_arch` (smallest spatial network, add at the last stage, fusion
    included), the floor of the quickstart's budget. `cheapest_frame` can be a little
    cheaper (another fusion stage); the search's feasibility check uses that one."""
    space = get_space(space) if isinstance(space, str) else space
    tspace = TemporalSpace(space, max_arch=key_arch)
    return float(frame_cost(tspace.min(), tuple(input_size)).paper_gflops)


def cheapest_frame(tspace, input_size):
    """The cheapest frame architecture of `tspace`: its smallest spatial network with the
    cheapest fusion op and stage (the fusion cost depends on the stage's width and
    resolution, so `tspace.min()`'s last stage need not be the cheapest)."""
    spatial = tspace.spatial.min()
    frames = [FrameArch(spatial, op, stage) for op in tspace.ops for stage in tspace.stages]
    return min(frames, key=lambda f: (float(frame_cost(f, tuple(input_size)).paper_gflops), f.to_string()))


class TemporalSearch(ResumableCandidates):
    """Eq. 3's allocation search (module doc) under one budget: `max_total_gflops`,
    `max_avg_gflops` (per non-key frame), or `max_ms_per_frame`: the latency per video
    frame of one cycle, (key + T frame networks) / (T + 1), predicted from the latency
    table `latency_table` (which must fit this machine, the run's input size,
    `latency_quantization` and `latency_threads`, or is re-measured with
    `remeasure_latency`; `vipnas_tf.search.latency_budget`)."""

    def __init__(self, model_dir, out_dir, frames=3, max_total_gflops=None, max_avg_gflops=None,
                 strategy="random", num_samples=20, population=None, seed=0, bn_calib_batches=4,
                 calib_batch_size=8, max_clips=0, progress=True, shared=False, max_ms_per_frame=None,
                 latency_table="", latency_quantization="float32", latency_threads=1, remeasure_latency=False,
                 latency_input_size=None):
        if frames < 1:
            raise SearchError(f"frames (T) must be >= 1, got {frames}")
        given = [b for b in (max_total_gflops, max_avg_gflops, max_ms_per_frame) if b is not None]
        if len(given) != 1:
            raise SearchError("give exactly one of max_avg_gflops / max_total_gflops / max_ms_per_frame")
        if max_ms_per_frame is not None and not latency_table:
            raise SearchError("max_ms_per_frame needs latency_table (an existing table, or a path to build one)")
        try:
            self.run_config = read_run_config(model_dir)
        except ModelDirError as e:
            raise SearchError(str(e)) from None
        if self.run_config.get("mode") != "temporal":
            raise SearchError(f"{model_dir!r} holds a {self.run_config.get('mode')!r} run, not a trained "
                              f"temporal model (scripts/train.py --mode=temporal)")
        self.model_dir = os.fspath(model_dir)
        self.out_dir = os.fspath(out_dir)
        self.frames = int(frames)
        self.max_ms_per_frame = None if max_ms_per_frame is None else float(max_ms_per_frame)
        self.limit = (float("inf") if max_ms_per_frame is not None else
                      float(max_total_gflops if max_total_gflops is not None else max_avg_gflops * frames))
        self.strategy = strategy
        self.num_samples = int(num_samples)
        self.population = int(population or max(4, self.num_samples // 4))
        self.seed = int(seed)
        self.bn_calib_batches = int(bn_calib_batches)
        self.calib_batch_size = int(calib_batch_size)
        self.max_clips = int(max_clips)
        self.progress = progress
        self.shared = bool(shared)  # one architecture for every frame (paper Fig. 6(b) baseline)
        self.input_size = tuple(self.run_config["input_size"])
        # the size the latency table (and budget) is at: the deployment size
        self.latency_input_size = tuple(latency_input_size or self.input_size)
        self.key_arch = parse_arch(self.run_config["key_arch"])
        self.tspace = TemporalSpace(get_space(self.run_config["space"]), max_arch=self.key_arch)
        self._frame_cost = frame_cost
        self._costs = {}
        self.latency_model = None
        if self.max_ms_per_frame is not None:
            self._open_latency(latency_table, latency_quantization, latency_threads, remeasure_latency)
        smallest = self.frames * self.gflops(cheapest_frame(self.tspace, self.input_size))
        if smallest > self.limit:
            raise SearchError(f"no schedule of T={self.frames} frames meets total GFLOPs <= {self.limit:g} "
                              f"(average {self.limit / self.frames:g}): the smallest achievable total is "
                              f"{smallest:g} (average {smallest / self.frames:g})")
        for k in ("val_ann", "val_images", "train_ann", "train_images"):
            if not self.run_config.get(k) or not os.path.exists(self.run_config[k]):
                raise SearchError(f"{k}: {self.run_config.get(k)!r} of the temporal run does not exist")
        self.keypoint_layout = self._check_layouts()
        self._open_candidates(self.out_dir, lambda row: row["key"], accept=self._complete_row)
        if self.stale:
            log.info("%s: %d candidates lack the per-frame-position mAPs of eq. 3 and are evaluated again",
                     self.jsonl, self.stale)
        self._evaluator = None

    def _open_latency(self, table, quantization, threads, remeasure):
        """Opens the latency table and refuses a budget below the cheapest schedule."""
        try:
            self.latency_model = latency_budget.open_table(table, self.tspace.spatial, self.latency_input_size,
                                                           quantization, threads, remeasure=remeasure)
            spatial = self.tspace.spatial.min()
            frame = min((FrameArch(spatial, op, stage) for op in self.tspace.ops for stage in self.tspace.stages),
                        key=lambda f: latency_budget.frame_ms(self.latency_model, f))
            cheapest = self.ms_per_frame((frame,) * self.frames)
        except latency_budget.LatencyBudgetError as e:
            raise SearchError(str(e)) from None
        if cheapest > self.max_ms_per_frame:
            raise SearchError(
                f"no schedule of T={self.frames} frames keyed by {self.key_arch.to_string()} meets "
                f"max_ms_per_frame={self.max_ms_per_frame:g}: the cheapest predicted latency is {cheapest:.3f} ms "
                f"per frame (every frame {frame.to_string()}; table {self.latency_model.path})")

    def ms_per_frame(self, frames) -> float:
        """Predicted latency per video frame of one cycle (key + `frames`)."""
        return latency_budget.schedule_ms_per_frame(self.latency_model, self.key_arch, frames)

    def admits(self, frames) -> bool:
        """The schedule meets the budget (GFLOPs total, or ms per frame)."""
        if self.max_ms_per_frame is not None:
            return self.ms_per_frame(frames) <= self.max_ms_per_frame
        return self.total(frames) <= self.limit

    def _complete_row(self, row):
        """A candidates.jsonl row that holds T per-position mAPs and their sum."""
        fm = row.get("frame_map")
        return (isinstance(fm, list) and len(fm) == self.frames and "sum_ap" in row
                and len(row.get("frames", ())) == self.frames)

    def _check_layouts(self):
        """The temporal run's keypoint layout; its key S-ViPNet's must be the same."""
        try:
            layout = keypoint_layout_of_run(self.model_dir, self.run_config)
            key_dir = self.run_config.get("key_model_dir")
            if key_dir and os.path.isfile(os.path.join(key_dir, "run_config.json")):
                require_same_layout(keypoint_layout_of_run(key_dir), f"the key S-ViPNet {key_dir}", layout,
                                    f"the temporal run {self.model_dir}", what="search a schedule over")
        except (ModelDirError, LayoutMismatchError) as e:
            raise SearchError(str(e)) from None
        return layout

    def gflops(self, frame_arch):
        key = frame_arch.to_string()
        if key not in self._costs:
            c = self._frame_cost(frame_arch, self.input_size)
            self._costs[key] = (float(c.paper_gflops), int(c.macs))
        return self._costs[key][0]

    def total(self, frames):
        return sum(self.gflops(f) for f in frames)

    def schedule_evaluator(self):
        """The ScheduleEvaluator of the temporal run (built on first use): its model,
        BN calibration clips and val clips."""
        if self._evaluator is not None:
            return self._evaluator
        model, _ = load_model(self.model_dir, expect_mode="temporal")
        rc = self.run_config
        clips = PoseTrackData(rc["train_ann"], rc["train_images"]).clips(self.frames + 1)
        ds = make_clip_dataset(clips, self.input_size, self.calib_batch_size, training=True, seed=self.seed + 7,
                               num_frames=self.frames + 1, prefetch=False)
        calib = [{k: b[k] for k in ("image", "crop_matrix")} for b in ds.take(self.bn_calib_batches)]
        clip_ev = ClipEvaluator(rc["val_ann"], rc["val_images"], self.input_size, self.frames, self.max_clips,
                                keypoint_layout=self.keypoint_layout, model_source=f"the temporal run {self.model_dir}")
        empty = [t + 1 for t, gt in enumerate(clip_ev.position_gt) if not gt.frames]
        if empty:
            raise SearchError(f"val_ann {rc['val_ann']!r}: no labelled person at non-key frame position(s) "
                              f"{empty} of T={self.frames}, so the eq. 3 sum of per-position APs is undefined")
        self._evaluator = ScheduleEvaluator(model, clip_ev, calib, fusion=rc.get("fusion", True))
        return self._evaluator

    def _score(self, frames, source, bar):
        key = " || ".join(f.to_string() for f in frames)

        def evaluate():
            stats = self.schedule_evaluator().evaluate(list(frames))
            frame_map = [round(float(v), 4) for v in stats["frame_map"]]
            return {"key": key, "frames": [f.to_dict() for f in frames],
                    "sum_ap": round(float(np.sum(stats["frame_map"])), 4), "frame_map": frame_map,
                    "map": round(float(stats["Total"]), 4), "total_gflops": round(self.total(frames), 5),
                    **({"ms_per_frame": round(self.ms_per_frame(frames), 4)} if self.latency_model else {})}

        return self._record(key, evaluate, source, bar, metric="sum_ap", fmt=".1f")

    def _sample(self, rng, tries=20000):
        for _ in range(tries):
            if self.shared:
                frames = (self.tspace.sample(rng),) * self.frames
            else:
                frames = tuple(self.tspace.sample(rng, self.frames))
            if self.admits(frames):
                return frames
        raise SearchError(f"no schedule within {self._budget_text()} in {tries} samples; raise the budget")

    def _child(self, rng, parents):
        for _ in range(1000):
            a = parents[int(rng.integers(len(parents)))]
            if rng.random() < 0.5 and len(parents) > 1:
                b = parents[int(rng.integers(len(parents)))]
                child = [x if rng.random() < 0.5 else y for x, y in zip(a, b)]
            else:
                child = list(a)
            t = int(rng.integers(self.frames))
            child[t] = self.tspace.mutate(child[t], rng, 0.3)
            if self.shared:
                child = [child[t]] * self.frames
            child = tuple(FrameArch.from_dict(c.to_dict()) for c in child)
            if self.admits(child):
                return child
        return self._sample(rng)

    def _budget_text(self):
        if self.max_ms_per_frame is not None:
            return f"predicted ms per frame <= {self.max_ms_per_frame:g}"
        return f"total GFLOPs <= {self.limit:g}"

    def run(self):
        t0 = time.time()
        rng = np.random.default_rng([self.seed, 17])
        resumed = len(self.done)
        bar = None
        if self.progress:
            bar = tqdm(total=self.num_samples, desc=f"temporal search T={self.frames}", unit="cand")
        seen = set()
        try:
            while len(self.rows) < self.num_samples:
                if self.strategy == "evolution" and len(self.rows) >= self.population:
                    ranked = sorted(self.rows, key=lambda r: (-r["sum_ap"], r["index"]))[:max(2, self.population // 2)]
                    parents = [tuple(FrameArch.from_dict(f) for f in r["frames"]) for r in ranked]
                    frames = self._child(rng, parents)
                else:
                    frames = self._sample(rng)
                key = " || ".join(f.to_string() for f in frames)
                if key in seen:
                    continue
                seen.add(key)
                self._score(frames, self.strategy, bar)
        finally:
            if bar is not None:
                bar.close()
        return self._write(time.time() - t0, resumed)

    def _write(self, elapsed, resumed):
        best = max(self.rows, key=lambda r: (r["sum_ap"], -r["index"]))  # eq. 3
        pooled = max(self.rows, key=lambda r: (r["map"], -r["index"]))
        frames = tuple(FrameArch.from_dict(f) for f in best["frames"])
        within = self.admits(frames) if self.max_ms_per_frame is not None else self.total(frames) <= self.limit + 1e-9
        if not within:
            raise AssertionError("best schedule violates the budget")
        key_cost = arch_cost(self.key_arch, self.input_size)
        keras_models = self.save_static_models(frames)
        schedule = Schedule.from_archs(
            self.key_arch, frames, self.input_size,
            key_model_dir=os.path.abspath(self.run_config["key_model_dir"]),
            model_dir=os.path.abspath(self.model_dir),
            extra={"map_nonkey": best["map"], "sum_ap_nonkey": best["sum_ap"], "frame_map_nonkey": best["frame_map"],
                   **({"budget_total_gflops": self.limit} if self.max_ms_per_frame is None else
                      {"budget_ms_per_frame": self.max_ms_per_frame}),
                   "keras_models": keras_models, **self._latency_extra(frames)},
            keypoint_layout=self.keypoint_layout)
        path = os.path.join(self.out_dir, "schedule.json")
        schedule.save(path)
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["index", "total_gflops", "avg_gflops", "sum_ap", "map"]
                   + [f"map_frame{t + 1}" for t in range(self.frames)] + [f"frame{t + 1}" for t in range(self.frames)])
        for r in self.rows:
            w.writerow([r["index"], r["total_gflops"], round(r["total_gflops"] / self.frames, 5), r["sum_ap"], r["map"]]
                       + list(r["frame_map"])
                       + [f"{f['arch']}|fuse_{f['fusion_op']}_s{f['fusion_stage']}" for f in r["frames"]])
        io_utils.write_text(os.path.join(self.out_dir, "candidates.csv"), buf.getvalue())
        desc = schedule.describe()
        evaluated = sum(r["seconds"] for r in self.rows if r.get("seconds"))
        summary = {
            "schedule": path, "frames": desc["frames"], "key": desc.get("key"),
            "num_frames": self.frames, "key_frame_interval": self.frames + 1,
            "avg_gflops_nonkey": round(self.total(frames) / self.frames, 5),
            "avg_gflops": round((self.total(frames) + float(key_cost.paper_gflops)) / (self.frames + 1), 5),
            "key_paper_gflops": round(float(key_cost.paper_gflops), 5),
            "budget": self._budget_dict(),
            **self._latency_extra(frames),
            "ranked_by": "sum_ap (paper eq. 3: the sum over non-key frame positions of their mAP)",
            "sum_ap_nonkey": best["sum_ap"], "frame_map_nonkey": best["frame_map"], "map_nonkey": best["map"],
            "pooled_map_pick": {"index": pooled["index"], "map": pooled["map"], "sum_ap": pooled["sum_ap"],
                                "same_schedule": pooled["key"] == best["key"]},
            "best_index": best["index"], "strategy": self.strategy, "seed": self.seed, "shared": self.shared,
            "num_candidates": len(self.rows), "new_evaluations": self.new_evaluations,
            "resumed_candidates": resumed, "rescored_stale_candidates": self.stale, "seconds": round(elapsed, 1),
            "candidates_per_minute": round(60 * len(self.rows) / evaluated, 2) if evaluated else None,
            "input_size": list(self.input_size), "keypoint_layout": self.keypoint_layout,
        }
        io_utils.write_json(os.path.join(self.out_dir, "summary.json"), summary)
        return summary

    def _budget_dict(self):
        if self.max_ms_per_frame is not None:
            return {"max_ms_per_frame": self.max_ms_per_frame}
        return {"max_total_gflops": self.limit, "max_avg_gflops": self.limit / self.frames}

    def _latency_extra(self, frames):
        """Predicted latency of the schedule (with a latency table): per frame, per cycle,
        the table's provenance."""
        if self.latency_model is None:
            return {}
        per_frame = self.ms_per_frame(frames)
        return {"latency_input_size": list(self.latency_input_size),
                "predicted_ms_per_frame": round(per_frame, 4),
                "predicted_ms_per_cycle": round(per_frame * (self.frames + 1), 4),
                "latency_table": {"path": os.path.abspath(self.latency_model.path),
                                  **latency_budget.table_provenance(self.latency_model)}}

    def save_static_models(self, frames):
        """Writes key.keras and frame{t}.keras (static models; each frame with its own
        re-calibrated BN statistics) next to schedule.json; returns their file names."""
        ev = self.schedule_evaluator()
        tnet = ev.tnet
        saved = bn_lib.bn_state(tnet.spatial)
        names = {"key": "key.keras", "frames": []}
        try:
            states = ev.calibrate(tnet.temporal_space.encode_many(list(frames)))
            for t, (frame, state) in enumerate(zip(frames, states)):
                bn_lib.set_bn_state(tnet.spatial, state)
                name = f"frame{t + 1}.keras"
                _save_keras(tnet.extract(frame, self.input_size, name=f"tvipnet_frame{t + 1}"),
                            os.path.join(self.out_dir, name))
                names["frames"].append(name)
        finally:
            bn_lib.set_bn_state(tnet.spatial, saved)
        key = ev.model.key_model.extract(self.key_arch, self.input_size, name="s_vipnet")
        _save_keras(key, os.path.join(self.out_dir, names["key"]))
        return names


def _save_keras(model, path):
    tmp = path[:-len(".keras")] + ".tmp.keras"
    model.save(tmp)
    os.replace(tmp, path)


@dataclasses.dataclass
class TemporalSearchConfig:
    """What `scripts/search.py --mode=temporal` searches (see `TemporalSearch`)."""

    model_dir: str
    out_dir: str
    frames: int = 3
    max_total_gflops: Optional[float] = None
    max_avg_gflops: Optional[float] = None
    strategy: str = "random"
    num_samples: int = 20
    population: Optional[int] = None
    seed: int = 0
    bn_calib_batches: int = 4
    progress: bool = True
    shared: bool = False
    max_ms_per_frame: Optional[float] = None
    latency_table: str = ""
    latency_quantization: str = "float32"
    latency_threads: int = 1
    remeasure_latency: bool = False
    latency_input_size: Optional[Tuple[int, int]] = None


def run_temporal_search(config: TemporalSearchConfig):
    """Runs the temporal search of `config`; its summary (SearchError on bad input)."""
    return TemporalSearch(**dataclasses.asdict(config)).run()
