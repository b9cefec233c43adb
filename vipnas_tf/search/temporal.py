"""Computation allocation across video frames (paper Sec. 3.4.3, eq. 3).

Maximise the summed AP of the T non-key frames (here: PoseTrack mAP over all non-key
frames of the val clips, the same ranking) subject to their summed paper GFLOPs <= C
(`max_total_gflops`, or T x `max_avg_gflops`). Each candidate is a tuple of T frame
architectures (spatial choices + fusion op + fusion stage) sampled within the trained
T-ViPNet super-network's temporal space; it is scored by `ScheduleEvaluator` (per-frame
BN re-calibration, propagation from the key frame). T need not equal the T the model
was trained with (paper Table 4: T in {2, 3, 4} without retraining).

Outputs in `out`: schedule.json (the video schedule), candidates.csv,
candidates.jsonl (resume log), summary.json. Same seed, same result; a restarted
search reuses the scores already in candidates.jsonl.
"""
import csv
import io
import logging
import os
import time

import numpy as np

from vipnas_tf.arch import arch_cost
from vipnas_tf.search.records import ResumableCandidates
from vipnas_tf.search.spatial import SearchError
from vipnas_tf.utils import io as io_utils

log = logging.getLogger(__name__)


def min_frame_gflops(space, key_arch, input_size) -> float:
    """Paper GFLOPs of the cheapest non-key frame network (fusion included) that the
    temporal space under key-frame architecture `key_arch` admits: no per-frame budget
    below it can be met."""
    from vipnas_tf.arch import get_space  # pylint: disable=import-outside-toplevel
    from vipnas_tf.temporal.frame_arch import TemporalSpace, frame_cost  # pylint: disable=import-outside-toplevel

    space = get_space(space) if isinstance(space, str) else space
    tspace = TemporalSpace(space, max_arch=key_arch)
    return float(frame_cost(tspace.min(), tuple(input_size)).paper_gflops)


class TemporalSearch(ResumableCandidates):
    def __init__(self, model_dir, out_dir, frames=3, max_total_gflops=None, max_avg_gflops=None,
                 strategy="random", num_samples=20, population=None, seed=0, bn_calib_batches=4,
                 calib_batch_size=8, max_clips=0, progress=True, shared=False):
        from vipnas_tf.training.checkpoint import ModelDirError, read_run_config  # pylint: disable=import-outside-toplevel

        if frames < 1:
            raise SearchError(f"frames (T) must be >= 1, got {frames}")
        if (max_total_gflops is None) == (max_avg_gflops is None):
            raise SearchError("give exactly one of max_avg_gflops / max_total_gflops")
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
        self.limit = float(max_total_gflops if max_total_gflops is not None else max_avg_gflops * frames)
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
        from vipnas_tf.arch.arch import parse_arch  # pylint: disable=import-outside-toplevel
        from vipnas_tf.temporal.frame_arch import TemporalSpace, frame_cost  # pylint: disable=import-outside-toplevel
        from vipnas_tf.arch import get_space  # pylint: disable=import-outside-toplevel

        self.key_arch = parse_arch(self.run_config["key_arch"])
        self.tspace = TemporalSpace(get_space(self.run_config["space"]), max_arch=self.key_arch)
        self._frame_cost = frame_cost
        self._costs = {}
        smallest = self.frames * self.gflops(self.tspace.min())
        if smallest > self.limit:
            raise SearchError(f"no schedule of T={self.frames} frames meets total GFLOPs <= {self.limit:g} "
                              f"(average {self.limit / self.frames:g}): the smallest achievable total is "
                              f"{smallest:g} (average {smallest / self.frames:g})")
        for k in ("val_ann", "val_images", "train_ann", "train_images"):
            if not self.run_config.get(k) or not os.path.exists(self.run_config[k]):
                raise SearchError(f"{k}: {self.run_config.get(k)!r} of the temporal run does not exist")
        self.keypoint_layout = self._check_layouts()
        self._open_candidates(self.out_dir, lambda row: row["key"])
        self._evaluator = None

    def _check_layouts(self):
        """The temporal run's keypoint layout; its key S-ViPNet's must be the same."""
        from vipnas_tf.codecs.dataset_info import LayoutMismatchError, require_same_layout  # pylint: disable=import-outside-toplevel
        from vipnas_tf.training.checkpoint import ModelDirError, keypoint_layout_of_run  # pylint: disable=import-outside-toplevel

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

    def _setup(self):
        if self._evaluator is not None:
            return
        from vipnas_tf.data import PoseTrackData  # pylint: disable=import-outside-toplevel
        from vipnas_tf.data.pipeline import make_clip_dataset  # pylint: disable=import-outside-toplevel
        from vipnas_tf.evaluation.clips import ClipEvaluator  # pylint: disable=import-outside-toplevel
        from vipnas_tf.training.checkpoint import load_model  # pylint: disable=import-outside-toplevel
        from vipnas_tf.training.temporal import ScheduleEvaluator  # pylint: disable=import-outside-toplevel

        model, _ = load_model(self.model_dir, expect_mode="temporal")
        rc = self.run_config
        clips = PoseTrackData(rc["train_ann"], rc["train_images"]).clips(self.frames + 1)
        ds = make_clip_dataset(clips, self.input_size, self.calib_batch_size, training=True, seed=self.seed + 7,
                               num_frames=self.frames + 1, prefetch=False)
        calib = [b["image"] for b in ds.take(self.bn_calib_batches)]
        clip_ev = ClipEvaluator(rc["val_ann"], rc["val_images"], self.input_size, self.frames, self.max_clips,
                                keypoint_layout=self.keypoint_layout, model_source=f"the temporal run {self.model_dir}")
        self._evaluator = ScheduleEvaluator(model, clip_ev, calib, fusion=rc.get("fusion", True))

    def _score(self, frames, source, bar):
        key = " || ".join(f.to_string() for f in frames)

        def evaluate():
            self._setup()
            stats = self._evaluator.evaluate(list(frames))
            return {"key": key, "frames": [f.to_dict() for f in frames], "map": round(float(stats["Total"]), 4),
                    "total_gflops": round(self.total(frames), 5)}

        return self._record(key, evaluate, source, bar, metric="map", fmt=".1f")

    def _sample(self, rng, tries=20000):
        for _ in range(tries):
            if self.shared:
                frames = (self.tspace.sample(rng),) * self.frames
            else:
                frames = tuple(self.tspace.sample(rng, self.frames))
            if self.total(frames) <= self.limit:
                return frames
        raise SearchError(f"no schedule within total GFLOPs <= {self.limit:g} in {tries} samples; raise the budget")

    def _child(self, rng, parents):
        from vipnas_tf.temporal.frame_arch import FrameArch  # pylint: disable=import-outside-toplevel

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
            if self.total(child) <= self.limit:
                return child
        return self._sample(rng)

    def run(self):
        from vipnas_tf.temporal.frame_arch import FrameArch  # pylint: disable=import-outside-toplevel

        t0 = time.time()
        rng = np.random.default_rng([self.seed, 17])
        resumed = len(self.done)
        bar = None
        if self.progress:
            from tqdm.auto import tqdm  # pylint: disable=import-outside-toplevel

            bar = tqdm(total=self.num_samples, desc=f"temporal search T={self.frames}", unit="cand")
        seen = set()
        try:
            while len(self.rows) < self.num_samples:
                if self.strategy == "evolution" and len(self.rows) >= self.population:
                    ranked = sorted(self.rows, key=lambda r: (-r["map"], r["index"]))[:max(2, self.population // 2)]
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
        from vipnas_tf.temporal.frame_arch import FrameArch  # pylint: disable=import-outside-toplevel
        from vipnas_tf.temporal.schedule import Schedule  # pylint: disable=import-outside-toplevel

        best = max(self.rows, key=lambda r: (r["map"], -r["index"]))
        frames = tuple(FrameArch.from_dict(f) for f in best["frames"])
        if self.total(frames) > self.limit + 1e-9:
            raise AssertionError("best schedule violates the budget")
        key_cost = arch_cost(self.key_arch, self.input_size)
        keras_models = self.save_static_models(frames)
        schedule = Schedule.from_archs(
            self.key_arch, frames, self.input_size,
            key_model_dir=os.path.abspath(self.run_config["key_model_dir"]),
            model_dir=os.path.abspath(self.model_dir),
            extra={"map_nonkey": best["map"], "budget_total_gflops": self.limit, "keras_models": keras_models},
            keypoint_layout=self.keypoint_layout)
        path = os.path.join(self.out_dir, "schedule.json")
        schedule.save(path)
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["index", "total_gflops", "avg_gflops", "map"] + [f"frame{t + 1}" for t in range(self.frames)])
        for r in self.rows:
            w.writerow([r["index"], r["total_gflops"], round(r["total_gflops"] / self.frames, 5), r["map"]]
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
            "budget": {"max_total_gflops": self.limit, "max_avg_gflops": self.limit / self.frames},
            "map_nonkey": best["map"], "strategy": self.strategy, "seed": self.seed, "shared": self.shared,
            "num_candidates": len(self.rows), "new_evaluations": self.new_evaluations,
            "resumed_candidates": resumed, "seconds": round(elapsed, 1),
            "candidates_per_minute": round(60 * len(self.rows) / evaluated, 2) if evaluated else None,
            "input_size": list(self.input_size), "keypoint_layout": self.keypoint_layout,
        }
        io_utils.write_json(os.path.join(self.out_dir, "summary.json"), summary)
        return summary


def _save_static_models(search, frames):
    """Writes key.keras and frame{t}.keras (static models; each frame with its own
    re-calibrated BN statistics) next to schedule.json; returns their file names."""
    from vipnas_tf.training import bn as bn_lib  # pylint: disable=import-outside-toplevel

    search._setup()  # pylint: disable=protected-access
    ev = search._evaluator  # pylint: disable=protected-access
    tnet = ev.tnet
    saved = bn_lib.bn_state(tnet.spatial)
    names = {"key": "key.keras", "frames": []}
    try:
        states = ev.calibrate(tnet.temporal_space.encode_many(list(frames)))
        for t, (frame, state) in enumerate(zip(frames, states)):
            bn_lib.set_bn_state(tnet.spatial, state)
            name = f"frame{t + 1}.keras"
            _save_keras(tnet.extract(frame, search.input_size, name=f"tvipnet_frame{t + 1}"),
                        os.path.join(search.out_dir, name))
            names["frames"].append(name)
    finally:
        bn_lib.set_bn_state(tnet.spatial, saved)
    key = ev.model.key_model.extract(search.key_arch, search.input_size, name="s_vipnet")
    _save_keras(key, os.path.join(search.out_dir, names["key"]))
    return names


def _save_keras(model, path):
    tmp = path[:-len(".keras")] + ".tmp.keras"
    model.save(tmp)
    os.replace(tmp, path)


TemporalSearch.save_static_models = _save_static_models


def run_temporal_search(flags_obj):
    """scripts/search.py --mode=temporal."""
    F = flags_obj
    try:
        search = TemporalSearch(F.model_dir, F.out, frames=F.frames, max_total_gflops=F.max_total_gflops,
                                max_avg_gflops=F.max_avg_gflops, strategy=F.strategy, num_samples=F.num_samples,
                                population=F.population or None, seed=F.seed,
                                bn_calib_batches=F.bn_calib_batches, progress=F.progress,
                                shared=F.shared_arch)
    except SearchError as e:
        raise SystemExit(f"search.py: {e}") from None
    return search.run()
