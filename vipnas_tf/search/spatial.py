# Over 450 lines for one idea: the spatial search (budget, costs, strategies, resumable records, Pareto plot) shares the candidate state.
"""Constrained spatial search for an S-ViPNet over a trained super-network.

    search = SpatialSearch(model_dir, out_dir, Budget("paper_gflops", 0.3), strategy="evolution",
                           num_samples=50, seed=0)
    summary = search.run()          # best_arch.json, candidates.csv, pareto.png, summary.json

Each candidate satisfies the budget (paper GFLOPs, MACs, or predicted TFLite latency
from the per-layer lookup table), gets its BN statistics re-calibrated on the same K
training batches, and is scored by COCO AP on the validation set (paper Sec. 3.4.1:
500 sampled models, the highest validation AP wins).

Strategies: "random" (the paper's) and "evolution" (mutation + crossover of the best
candidates so far, as in once-for-all / AttentiveNAS). Both are deterministic for a
seed, and resumable: every evaluation is appended to `candidates.jsonl` as it finishes;
a restarted search replays the same sequence of proposals and takes the scores of
already-evaluated architectures from that file instead of re-evaluating them. Every
row carries the fingerprint of what its AP depended on (the super-network's latest
checkpoint, by name and content, and the evaluation settings: calibration batches and
seed, validation subset and data, input size); rows of another fingerprint are
evaluated again, so a retrained super-network never reuses stale APs.

Sharding (`shard=(i, n)`, random strategy): n processes, e.g. on n machines sharing
the output folder, replay the same seeded proposals and each evaluates the proposals
(and presets) whose index is i modulo n, all appending to one `candidates.jsonl`
(see `vipnas_tf.search.records`). A shard that finds every candidate scored when it
is done writes the outputs; otherwise it reports what is pending, and running the
search again without a shard (once the others are done) writes them from the file.
"""
import csv
import dataclasses
import hashlib
import io
import logging
import os
import time
from typing import Dict, Optional, Tuple

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from vipnas_tf.arch import arch_cost, get_preset, get_space, list_presets
from vipnas_tf.arch.arch import parse_arch, save_arch
from vipnas_tf.data import load_coco
from vipnas_tf.data.pipeline import make_topdown_dataset
from vipnas_tf.evaluation import CocoEvaluator
from vipnas_tf.search import latency_budget
from vipnas_tf.search.records import ResumableCandidates, fingerprint, parse_shard
from vipnas_tf.training import bn as bn_lib
from vipnas_tf.training.model_dir import CKPT_SUBDIR, ModelDirError, load_model, read_run_config
from vipnas_tf.utils import io as io_utils

log = logging.getLogger(__name__)

BUDGET_KINDS = ("paper_gflops", "macs", "latency_ms")
CSV_FIELDS = ("index", "arch", "macs", "paper_gflops", "params", "latency_ms", "ap", "seconds", "source")


class SearchError(ValueError):
    """A search that cannot run as asked (budget, model_dir, data)."""


@dataclasses.dataclass(frozen=True)
class Budget:
    """A constraint on a sub-network: `floor` x `limit` <= `kind` <= `limit`.

    kind: "paper_gflops" (the paper's GFLOPs: MACs / 2^30), "macs", or "latency_ms"
    (TFLite latency predicted by a LatencyModel on this machine).
    floor: the lower end of the band as a fraction of `limit` (0: no lower end, the
    paper's constraint). A band keeps a search from settling on networks far below
    the budget, e.g. `floor=0.5` searches among networks that use at least half of it.
    """

    kind: str
    limit: float
    floor: float = 0.0

    def __post_init__(self):
        if self.kind not in BUDGET_KINDS:
            raise SearchError(f"budget kind must be one of {BUDGET_KINDS}, got {self.kind!r}")
        if not self.limit > 0:
            raise SearchError(f"budget {self.kind} must be positive, got {self.limit}")
        if not 0.0 <= self.floor < 1.0:
            raise SearchError(f"budget floor is a fraction of the limit in [0, 1), got {self.floor}")

    @property
    def lower(self) -> float:
        return self.floor * self.limit

    def admits(self, value) -> bool:
        return self.lower <= value <= self.limit

    def describe(self) -> str:
        band = f"{self.lower:g} <= " if self.floor else ""
        return f"{band}{self.kind} <= {self.limit:g}"

    def to_dict(self) -> Dict:
        return {"kind": self.kind, "limit": self.limit, "floor": self.floor, "lower": round(self.lower, 6)}


class CostOracle:
    """Costs of architectures at one input size (cached): macs, paper GFLOPs, params,
    predicted latency (when a latency model is given)."""

    def __init__(self, input_size, latency_model=None):
        self.input_size = tuple(input_size)
        self.latency_model = latency_model
        self._cache = {}

    def __call__(self, arch) -> Dict:
        key = arch.to_string()
        if key not in self._cache:
            c = arch_cost(arch, self.input_size)
            row = {"macs": int(c.macs), "paper_gflops": round(float(c.paper_gflops), 5), "params": int(c.params)}
            row["latency_ms"] = (round(float(self.latency_model.predict_ms(arch)), 4)
                                 if self.latency_model is not None else None)
            self._cache[key] = row
        return self._cache[key]

    def value(self, arch, kind):
        v = self(arch)[kind]
        if v is None:
            raise SearchError(f"budget {kind} needs a latency model (--latency_table)")
        return v


def sample_within(space, rng, oracle, budget, max_tries=20000):
    """A uniformly sampled architecture that satisfies `budget` (rejection sampling)."""
    for _ in range(max_tries):
        arch = space.sample(rng)
        if budget.admits(oracle.value(arch, budget.kind)):
            return arch
    raise SearchError(f"no architecture within {budget.describe()} found in {max_tries} samples; "
                      f"widen the budget")


def check_feasible(space, oracle, budget):
    """Fails at once when even the space's smallest network exceeds the budget, or the
    biggest stays below the band's lower end; returns the smallest's cost."""
    smallest = space.min()
    value = oracle.value(smallest, budget.kind)
    where = f"space {space.name!r} at {oracle.input_size[0]}x{oracle.input_size[1]}"
    if value > budget.limit:
        raise SearchError(
            f"no architecture of {where} meets {budget.kind} <= {budget.limit}: the smallest achievable is "
            f"{value:g} ({smallest.to_string()})")
    biggest = oracle.value(space.max(), budget.kind)
    if biggest < budget.lower:
        raise SearchError(f"no architecture of {where} reaches the band's lower end {budget.kind} >= "
                          f"{budget.lower:g}: the biggest is {biggest:g}")
    return value


def pareto_front(points):
    """Indices of the points (cost, ap) not dominated by another (lower cost, higher AP)."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -np.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def _candidate_key(row):
    source = str(row.get("source", ""))
    return source if source.startswith("preset:") else row["arch"]


class SpatialSearch(ResumableCandidates):
    """Random or evolutionary search over a trained super-network.

    Args:
      model_dir: a super-network run (`scripts/train.py --mode=supernet`).
      out_dir: where results go (resumes what is there).
      budget: a Budget.
      strategy: "random" or "evolution".
      num_samples: candidates evaluated in total.
      population: evolution: candidates per generation (default num_samples // 5, >= 4).
      parents: evolution: how many best candidates breed (default population // 2).
      mutation_prob: per-choice resampling probability of a mutation.
      crossover_prob: share of children made by crossover (rest by mutation).
      seed_smallest: evolution: put the space's smallest architecture in the first
        generation (it meets any feasible budget). Sandwich training updates the
        smallest sub-network at every step, so it is the best-trained point of the cheap
        end of the space and a good parent; random sampling (the paper's search) almost
        never draws it. False: a purely random first generation.
      seed: seeds proposals (same seed, same result).
      bn_calib_batches, calib_batch_size: BN re-calibration data (training batches).
      eval_max_persons: validation subset (0: the whole val set of the run).
      latency_model: optional LatencyModel (needed for a latency budget).
      latency_input_size: (H, W) the latency model is measured at, the deployment size
        (default: the super-network's input size). A super-network trained at a small
        size ranks architectures by AP there while their latency is that of the size
        they will run at.
      expect_space: optional space name the super-network must have.
      data: optional dict overriding train_ann/train_images/val_ann/val_images.
      progress: tqdm bar.
      shard: (i, n): evaluate only the proposals of index i modulo n (random strategy).
    """

    def __init__(self, model_dir, out_dir, budget: Budget, strategy="random", num_samples=50, population=None,
                 parents=None, mutation_prob=0.2, crossover_prob=0.5, seed_smallest=True, seed=0, bn_calib_batches=8,
                 calib_batch_size=16, eval_max_persons=0, latency_model=None, expect_space=None, data=None,
                 progress=True, evaluate_presets=True, shard=(0, 1), latency_input_size=None):
        if strategy not in ("random", "evolution"):
            raise SearchError(f"strategy must be 'random' or 'evolution', got {strategy!r}")
        if num_samples < 1:
            raise SearchError(f"num_samples must be >= 1, got {num_samples}")
        try:
            self.run_config = read_run_config(model_dir)
        except ModelDirError as e:
            raise SearchError(str(e)) from None
        if self.run_config.get("mode") != "supernet":
            raise SearchError(f"{model_dir!r} holds a {self.run_config.get('mode')!r} run, not a trained "
                              f"super-network (train one with scripts/train.py --mode=supernet)")
        self.space = get_space(self.run_config["space"])
        if expect_space and expect_space != self.space.name:
            raise SearchError(f"{model_dir!r} holds a {self.space.name!r} super-network, not {expect_space!r}")
        self.model_dir = os.fspath(model_dir)
        self.out_dir = os.fspath(out_dir)
        self.budget = budget
        self.strategy = strategy
        self.num_samples = int(num_samples)
        self.population = int(population or max(4, self.num_samples // 5))
        self.parents = int(parents or max(2, self.population // 2))
        self.mutation_prob = mutation_prob
        self.crossover_prob = crossover_prob
        self.seed_smallest = bool(seed_smallest)
        self.seed = int(seed)
        self.bn_calib_batches = int(bn_calib_batches)
        self.calib_batch_size = int(calib_batch_size)
        self.eval_max_persons = int(eval_max_persons or self.run_config.get("eval_max_persons", 0))
        self.input_size = tuple(self.run_config["input_size"])
        self.latency_model = latency_model
        self.latency_input_size = tuple(latency_input_size or self.input_size)
        if latency_model is not None and tuple(latency_model.input_size) != self.latency_input_size:
            raise SearchError(f"latency table is for input {list(latency_model.input_size)}, the search's latency "
                              f"input size is {list(self.latency_input_size)} (the super-network's "
                              f"{list(self.input_size)} unless --latency_input_size says otherwise)")
        self.oracle = CostOracle(self.input_size, latency_model)
        self.data = {k: self.run_config.get(k) for k in ("train_ann", "train_images", "val_ann", "val_images")}
        self.data.update(data or {})
        for k, v in self.data.items():
            if not v or not os.path.exists(v):
                raise SearchError(f"{k}: {v!r} does not exist (the super-network run's data; override it)")
        self.progress = progress
        self.evaluate_presets = evaluate_presets
        self.smallest_value = check_feasible(self.space, self.oracle, budget)
        self.shard = (int(shard[0]), int(shard[1]))
        if not 0 <= self.shard[0] < self.shard[1]:
            raise SearchError(f"shard {self.shard[0]}/{self.shard[1]}: the index must be in [0, n)")
        if self.shard[1] > 1 and strategy != "random":
            raise SearchError(f"shard {self.shard[0]}/{self.shard[1]} needs strategy 'random' (evolution's "
                              f"proposals depend on every earlier score), got {strategy!r}")
        self._model = None
        self._evaluator = None
        self._calib = None
        self.fingerprint = fingerprint(self.evaluation_settings())
        self._open_candidates(self.out_dir, _candidate_key,
                              accept=lambda row: row.get("fingerprint") == self.fingerprint)
        if self.stale:
            log.info("%s: %d candidates were scored on another checkpoint or with other evaluation "
                     "settings; they are evaluated again", self.jsonl, self.stale)

    def evaluation_settings(self) -> Dict:
        """What a candidate's AP depends on besides its architecture: the checkpoint
        (its file name and a hash of its index, which holds every tensor's checksum)
        and the evaluation settings."""
        latest = tf.train.latest_checkpoint(os.path.join(self.model_dir, CKPT_SUBDIR))
        if latest is None:
            raise SearchError(f"{self.model_dir!r} holds no checkpoint (ckpt/) to search")
        with open(latest + ".index", "rb") as f:
            index_hash = hashlib.sha256(f.read()).hexdigest()
        return {"checkpoint": os.path.basename(latest), "checkpoint_index_sha256": index_hash,
                "bn_calib_batches": self.bn_calib_batches, "calib_batch_size": self.calib_batch_size,
                "calib_seed": self.seed + 1000, "eval_max_persons": self.eval_max_persons,
                "input_size": list(self.input_size), "data": {k: os.path.abspath(v) for k, v in self.data.items()}}

    def _owns(self, index):
        return index % self.shard[1] == self.shard[0]

    # ---- evaluation -------------------------------------------------------------
    def _setup(self):
        if self._model is not None:
            return
        self._model, _ = load_model(self.model_dir, expect_mode="supernet")
        samples = load_coco(self.data["train_ann"], self.data["train_images"])
        ds = make_topdown_dataset(samples, self.input_size, self.calib_batch_size, training=True,
                                  seed=self.seed + 1000, prefetch=False)
        self._calib = [tf.constant(b["image"]) for b in ds.take(self.bn_calib_batches)]
        self._evaluator = CocoEvaluator.subset(self.data["val_ann"], self.data["val_images"],
                                               self.eval_max_persons, self.input_size)

    def evaluate_ap(self, arch) -> float:
        """Validation AP of `arch` after BN re-calibration."""
        self._setup()
        bn_lib.recalibrate_bn(self._model, arch, self._calib)
        return float(self._evaluator.evaluate(bn_lib.predict_fn(self._model, arch))["AP"])

    def _score(self, arch, source, bar=None):
        row = self._record(arch.to_string(), lambda: dict(arch=arch.to_string(), **self.oracle(arch),
                                                          ap=round(self.evaluate_ap(arch), 6),
                                                          fingerprint=self.fingerprint),
                           source, bar, owned=self._owns(len(self.rows)))
        if not row.get("pending"):
            # An AP is reused across searches of one checkpoint; costs are this search's
            # (its latency table and size), not those of the search that scored it.
            row.update(self.oracle(arch))
        return row

    # ---- strategies ---------------------------------------------------------------
    def _random(self, rng, bar):
        seen = set()
        while len(self.rows) < self.num_samples:
            arch = sample_within(self.space, rng, self.oracle, self.budget)
            if arch.to_string() in seen:
                continue
            seen.add(arch.to_string())
            self._score(arch, "random", bar)

    def _child(self, rng, ranked):
        for _ in range(1000):
            if rng.random() < self.crossover_prob and len(ranked) > 1:
                i, j = rng.choice(len(ranked), size=2, replace=False)
                child = self.space.crossover(ranked[i], ranked[j], rng)
                child = self.space.mutate(child, rng, self.mutation_prob / 2)
            else:
                child = self.space.mutate(ranked[int(rng.integers(len(ranked)))], rng, self.mutation_prob)
            child = self.space.repair(child, rng)
            if self.budget.admits(self.oracle.value(child, self.budget.kind)):
                return child
        return sample_within(self.space, rng, self.oracle, self.budget)

    def _evolution(self, rng, bar):
        seen = set()
        first = min(self.population, self.num_samples)
        smallest = self.space.min()
        # check_feasible made sure the smallest meets the limit; a band may exclude it
        if self.seed_smallest and self.budget.admits(self.smallest_value):
            seen.add(smallest.to_string())
            self._score(smallest, "evolution:init:smallest", bar)
        while len(self.rows) < first:
            arch = sample_within(self.space, rng, self.oracle, self.budget)
            if arch.to_string() not in seen:
                seen.add(arch.to_string())
                self._score(arch, "evolution:init", bar)
        generation = 0
        while len(self.rows) < self.num_samples:
            generation += 1
            ranked = sorted(self.rows, key=lambda r: (-r["ap"], r["index"]))[:self.parents]
            ranked = [parse_arch(r["arch"]) for r in ranked]
            made = 0
            tries = 0
            while made < self.population and len(self.rows) < self.num_samples:
                tries += 1
                child = self._child(rng, ranked)
                if child.to_string() in seen and tries < 50 * self.population:
                    continue
                seen.add(child.to_string())
                self._score(child, f"evolution:gen{generation}", bar)
                made += 1

    # ---- run ----------------------------------------------------------------------
    def run(self) -> Dict:
        t0 = time.time()
        rng = np.random.default_rng([self.seed, 11])
        resumed = len(self.done)
        if resumed:
            log.info("resuming search in %s: %d candidates already evaluated", self.out_dir, resumed)
        bar = None
        if self.progress:
            bar = tqdm(total=self.num_samples, desc=f"search ({self.strategy})", unit="cand")
        try:
            (self._random if self.strategy == "random" else self._evolution)(rng, bar)
        finally:
            if bar is not None:
                bar.close()
        elapsed = time.time() - t0
        presets = self._presets() if self.evaluate_presets else []
        pending = self._fill_pending()
        if pending or any(p.get("pending") for p in presets):
            presets = self._presets() if self.evaluate_presets else []  # the other shards' presets, if in
        if pending or any(p.get("pending") for p in presets):
            shard = f"{self.shard[0]}/{self.shard[1]}"
            log.info("shard %s done: %d candidates still pending on other shards; run the search again "
                     "without a shard once they are done to write the outputs", shard, pending)
            return {"shard": shard, "complete": False, "new_evaluations": self.new_evaluations,
                    "pending": pending, "num_candidates": len(self.rows), "seconds": round(elapsed, 1),
                    "candidates": self.jsonl}
        return self._write(presets, elapsed, resumed)

    def _presets(self):
        """Presets of this space, scored like candidates (reference points of the plot)."""
        out = []
        presets = [get_preset(name) for name in list_presets()]
        presets = [p for p in presets if p.in_space and p.arch.space == self.space.name]
        for i, preset in enumerate(presets):
            key = "preset:" + preset.name
            if key in self.done:
                out.append(dict(self.done[key], name=preset.name))
                continue
            if not self._owns(i):
                out.append({"name": preset.name, "pending": True})
                continue
            row = dict(arch=preset.arch.to_string(), **self.oracle(preset.arch),
                       ap=round(self.evaluate_ap(preset.arch), 6), seconds=0.0, source=key,
                       fingerprint=self.fingerprint)
            self.done[key] = row
            self._append(row)
            out.append(dict(row, name=preset.name))
        return out

    def _write(self, presets, elapsed, resumed):
        rows = self.rows
        best = max(rows, key=lambda r: (r["ap"], -r["index"]))
        best_arch = parse_arch(best["arch"])
        # re-check: what is reported satisfies the budget
        value = self.oracle.value(best_arch, self.budget.kind)
        if not self.budget.admits(value):
            raise AssertionError(f"best architecture violates the budget: {value} outside {self.budget.describe()}")
        extra = {k: best[k] for k in ("ap", "paper_gflops", "macs", "params", "latency_ms")}
        extra.update(input_size=list(self.input_size), latency_input_size=list(self.latency_input_size),
                     budget=self.budget.to_dict(),
                     supernet=os.path.abspath(self.model_dir))
        save_arch(best_arch, os.path.join(self.out_dir, "best_arch.json"), extra=extra)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow(r)
        io_utils.write_text(os.path.join(self.out_dir, "candidates.csv"), buf.getvalue())
        evaluated_seconds = sum(r["seconds"] for r in rows if r["seconds"])
        summary = {
            "arch": best["arch"], "ap": best["ap"], "paper_gflops": best["paper_gflops"], "macs": best["macs"],
            "params": best["params"], "latency_ms": best["latency_ms"],
            "budget": dict(self.budget.to_dict(), smallest_achievable=self.smallest_value,
                           used_fraction=round(float(value) / self.budget.limit, 4)),
            "space": self.space.name, "input_size": list(self.input_size),
            "latency_input_size": list(self.latency_input_size), "strategy": self.strategy,
            "seed": self.seed, "num_candidates": len(rows), "new_evaluations": self.new_evaluations,
            "resumed_candidates": resumed, "seconds": round(elapsed, 1),
            "candidates_per_minute": round(60.0 * len(rows) / evaluated_seconds, 2) if evaluated_seconds else None,
            "presets": [{k: p[k] for k in ("name", "arch", "ap", "paper_gflops", "latency_ms") if k in p}
                        for p in presets],
            "files": {k: os.path.join(self.out_dir, f) for k, f in (
                ("best_arch", "best_arch.json"), ("candidates", "candidates.csv"), ("pareto", "pareto.png"))},
        }
        plot_pareto(rows, presets, self.budget, os.path.join(self.out_dir, "pareto.png"),
                    title=f"{self.space.name} {self.input_size[0]}x{self.input_size[1]}, {self.strategy}, "
                          f"{self.budget.describe()}")
        io_utils.write_json(os.path.join(self.out_dir, "summary.json"), summary)
        return summary


def plot_pareto(rows, presets, budget, path, title=""):
    """AP against paper GFLOPs (and against predicted latency when known), Pareto front
    marked, presets as stars, the budget as a dashed line. Written atomically."""
    matplotlib.use("Agg")  # files only, whatever backend the environment would pick

    axes_keys = [("paper_gflops", "paper GFLOPs")]
    if all(r.get("latency_ms") is not None for r in rows):
        axes_keys.append(("latency_ms", "predicted TFLite latency (ms, 1 thread)"))
    fig, axes = plt.subplots(1, len(axes_keys), figsize=(6 * len(axes_keys), 4.5), squeeze=False)
    for ax, (key, label) in zip(axes[0], axes_keys):
        pts = [(r[key], r["ap"]) for r in rows]
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=14, alpha=0.6, label="candidates")
        front = pareto_front(pts)
        fx = [pts[i][0] for i in front]
        fy = [pts[i][1] for i in front]
        ax.plot(fx, fy, "r-o", ms=5, label="Pareto front")
        best = max(range(len(rows)), key=lambda i: rows[i]["ap"])
        ax.scatter([pts[best][0]], [pts[best][1]], s=120, facecolors="none", edgecolors="k", label="best")
        for p in presets:
            if p.get(key) is not None:
                ax.scatter([p[key]], [p["ap"]], marker="*", s=160, label=f"preset {p.get('name', '')}")
        if budget.kind == key:
            ax.axvline(budget.limit, ls="--", c="gray", label="budget")
            if budget.floor:
                ax.axvline(budget.lower, ls=":", c="gray", label="band's lower end")
        ax.set_xlabel(label)
        ax.set_ylabel("validation AP (BN re-calibrated)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


@dataclasses.dataclass
class SpatialSearchConfig:
    """What `scripts/search.py` (spatial) searches: exactly one budget of `max_gflops`
    (paper GFLOPs), `max_macs` and `max_latency_ms` (predicted TFLite latency; needs
    `latency_table`, a LatencyModel JSON, built lazily at that path when missing).
    The table must be of this CPU model, LiteRT version, input size (`latency_input_size`,
    default the super-network's), `latency_threads`
    and `latency_quantization` (else refused, or re-measured with `remeasure_latency`),
    and a latency budget at least the space's cheapest predicted latency
    (`vipnas_tf.search.latency_budget`)."""

    model_dir: str
    out_dir: str
    max_gflops: Optional[float] = None
    max_macs: Optional[float] = None
    max_latency_ms: Optional[float] = None
    budget_floor: float = 0.0
    latency_table: str = ""
    latency_quantization: str = "float32"
    latency_threads: int = 1
    latency_input_size: Optional[Tuple[int, int]] = None
    remeasure_latency: bool = False
    strategy: str = "random"
    num_samples: int = 50
    population: Optional[int] = None
    parents: Optional[int] = None
    mutation_prob: float = 0.2
    seed_smallest: bool = True
    seed: int = 0
    bn_calib_batches: int = 8
    eval_max_persons: int = 0
    expect_space: Optional[str] = None
    progress: bool = True
    shard: str = "0/1"

    def budget(self) -> Budget:
        given = [(k, v) for k, v in (("paper_gflops", self.max_gflops), ("macs", self.max_macs),
                                     ("latency_ms", self.max_latency_ms)) if v is not None]
        if len(given) != 1:
            raise SearchError("give exactly one of --max_gflops, --max_macs, --max_latency_ms")
        return Budget(*given[0], floor=self.budget_floor)


def run_spatial_search(config: SpatialSearchConfig):
    """Runs the spatial search of `config`; its summary (SearchError or ModelDirError
    on bad input)."""
    budget = config.budget()
    try:
        shard = parse_shard(config.shard)
    except ValueError as e:
        raise SearchError(f"--shard: {e}") from None
    run_config = read_run_config(config.model_dir)
    latency_model = None
    if config.latency_table:  # the table must fit this machine and search (latency_budget)
        space = get_space(run_config["space"])
        try:
            latency_model = latency_budget.open_table(
                config.latency_table, space, config.latency_input_size or run_config["input_size"],
                config.latency_quantization,
                config.latency_threads, remeasure=config.remeasure_latency)
            if budget.kind == "latency_ms":
                latency_budget.check_latency_budget(space, latency_model, budget.limit)
        except latency_budget.LatencyBudgetError as e:
            raise SearchError(str(e)) from None
    if budget.kind == "latency_ms" and latency_model is None:
        raise SearchError("--max_latency_ms needs --latency_table (an existing table, or a path to build one)")
    search = SpatialSearch(config.model_dir, config.out_dir, budget, strategy=config.strategy,
                           num_samples=config.num_samples, population=config.population,
                           parents=config.parents, mutation_prob=config.mutation_prob,
                           seed_smallest=config.seed_smallest, seed=config.seed,
                           bn_calib_batches=config.bn_calib_batches, eval_max_persons=config.eval_max_persons,
                           latency_model=latency_model, expect_space=config.expect_space,
                           progress=config.progress, shard=shard, latency_input_size=config.latency_input_size)
    return search.run()
