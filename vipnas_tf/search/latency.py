# Over 450 lines for one idea: the latency lookup table (measure, build, calibrate, save/load, predict) shares its state.
"""Per-layer lookup-table latency model of TFLite on this machine (XNNPACK, 1 or more threads).

A network's latency is predicted as

    predict_ms(arch) = scale * (overhead_ms + sum over its units u of table[u.key])

where the units are the stem, every backbone block, every head deconv and the final
conv of the *deployed* model (after the export lowering,
`vipnas_tf.export.lowering.deployed`), and
the `io` unit for int8 (see `latency_units`). Each table entry is measured by
converting a one-unit model to TFLite and timing it with the LiteRT interpreter,
interleaved with the other units of its chunk and with a near-empty model
(`overhead_model`); the entry is the unit's median time minus the near-empty
model's median in the same chunk, so the fixed cost of an `invoke()` is counted once
per network, not once per unit.

`scale` is fitted once per table on a few whole networks (`LatencyModel.calibrate`):
timed alone, units with large activations run slower than inside a network (cold
input, external output buffer), by up to ~10% of the total in float32 at 256x192.

Time is measured by default (1 thread) as the CPU time of the calling thread during `invoke()`
(`clock="cpu"`; with more threads the wall time, `clock="wall"`): with one interpreter thread XNNPACK computes on that thread, so it
is the latency on an idle core. The machine is shared: under load, CFS time-slicing
(a few ms per slice) stretches the *wall* time of a 10 ms network by whole slices
(measured: 2x at load 5 on 2 cores) while sub-millisecond units are rarely
preempted, so wall-time tables and wall-time checks disagree for reasons that have
nothing to do with the network. Wall times are recorded too (`wall_p50_ms`).
With more than one thread units are timed `primed` (`unit_timing`): each timed call
right after an untimed one, so the interpreter's worker threads are awake, as they are
between the layers of one network.

int8 units are timed with integer I/O (no QUANTIZE/DEQUANTIZE of their inputs and
outputs, which a whole network does not have between its layers); the deployed
network's float I/O is the `io` unit.

Tables are built once per (space, input size, quantization, threads) on each CPU model
(`machine`: CPU model name, CPU flags hash, LiteRT version) and saved as JSON
(atomically, after every chunk, so an interrupted build resumes where it stopped):

    {"format": "vipnas-tf/latency-table/v1", "space", "family", "input_size": [H, W],
     "quantization", "threads": 1, "clock": "cpu", "unit_timing": "single", "statistic": "p50",
     "lowering", "overhead_ms",
     "machine": {...}, "runs", "build_seconds", "complete": bool,
     "calibration": {"scale", "seed", "archs", "measured_ms", "session_units_ms", ...},
     "entries": {key: {"ms", "p50_ms", "min_ms", "overhead_ms", "wall_p50_ms"}},
     "chunks": [{"overhead_ms", "wall_overhead_ms", "time", "units", "loadavg"}]}

Example:
    >>> model = LatencyModel.build("mobilenetv3", (128, 96), "float32", "lat_fp32.json")
    >>> model = LatencyModel.load("lat_fp32.json")
    >>> model.predict_ms(arch), model.breakdown(arch)[:3]
    >>> measure_arch_ms(arch, (128, 96), "float32")   # the real thing, for checking
"""
import dataclasses
import os
import time
from typing import Dict, List, Optional, Sequence, Tuple, Union

import keras
import numpy as np
from tqdm import tqdm

from vipnas_tf import litert
from vipnas_tf.arch import cost as cost_lib
from vipnas_tf.arch.arch import Arch
from vipnas_tf.arch.space import SearchSpace, get_space
from vipnas_tf.export.lowering import deployed as lowering_lib
from vipnas_tf.models.random_init import randomize_weights
from vipnas_tf.models.static_builders import build_static
from vipnas_tf.search import latency_units as units_lib
from vipnas_tf.utils import io as io_utils

FORMAT = "vipnas-tf/latency-table/v1"
DEFAULT_RUNS = 30
DEFAULT_WARMUP = 3
DEFAULT_CHUNK = 24
DEFAULT_CALIBRATION_ARCHS = 8
CALIBRATION_SEED = 20210  # bench_latency_model.py checks with other seeds (0, 1, ...)


# ---- timing ---------------------------------------------------------------------------


def _runner(flatbuffer, threads):
    return litert.ModelRunner(flatbuffer, threads)


CLOCKS = litert.CLOCKS


def interleaved_times(runners, runs: int = DEFAULT_RUNS, warmup: int = DEFAULT_WARMUP, primed: bool = False):
    """Steps `runners` round-robin (rotating start); per runner (cpu_s, wall_s) arrays.

    The harness's interleaved timer (`vipnas_tf.litert.timing.interleaved_times`): cpu
    is the CPU time of the calling thread during `invoke()`, the invoke's latency on an
    idle core with 1 interpreter thread; wall is what a user waits on this machine now.
    `primed`: each timed call follows an untimed one of the same runner (worker threads
    awake, see `unit_timing`).
    """
    return litert.interleaved_times([r.step for r in runners], runs, warmup, primed=primed)


def unit_timing(threads: int) -> str:
    """How units are timed: "single" calls with 1 thread; "primed" with more
    (`vipnas_tf.litert.timing.interleaved_times`: single calls charged every unit the
    wake-up of its interpreter's worker threads, and 2-thread sums of small units came to
    1.2-2x the network)."""
    return "single" if threads == 1 else "primed"


def time_flatbuffers(flatbuffers: Sequence[bytes], runs: int = DEFAULT_RUNS, warmup: int = DEFAULT_WARMUP,
                     threads: int = 1, clock: str = "cpu", primed: bool = False) -> List[Dict[str, float]]:
    """Times .tflite flatbuffers interleaved; per model {"p50_ms", "min_ms"} on `clock`
    plus "cpu_p50_ms", "wall_p50_ms", "wall_min_ms"; `primed` as for `interleaved_times`."""
    if clock not in CLOCKS:
        raise ValueError(f"clock must be one of {CLOCKS}, got {clock!r}")
    if clock == "cpu" and threads != 1:
        raise ValueError("clock='cpu' measures the calling thread: use threads=1 or clock='wall'")
    runners = [_runner(fb, threads) for fb in flatbuffers]
    out = []
    for cpu, wall in interleaved_times(runners, runs, warmup, primed):
        c, w = cpu * 1e3, wall * 1e3
        main = c if clock == "cpu" else w
        out.append({"p50_ms": float(np.median(main)), "min_ms": float(main.min()),
                    "cpu_p50_ms": float(np.median(c)), "wall_p50_ms": float(np.median(w)),
                    "wall_min_ms": float(w.min())})
    return out


def _progress(total, desc, enabled):
    if not enabled:
        return None
    return tqdm(total=total, desc=desc, unit="unit", dynamic_ncols=True)


def convert_unit(unit: units_lib.Unit, quantization: str) -> bytes:
    """The .tflite of one latency unit (random weights, the table's lowering) as bytes."""
    keras.backend.clear_session()  # keeps layer-name counters and memory bounded
    model = units_lib.unit_model(unit)
    _randomize(model)
    io = "float32" if unit.kind == "io" or quantization == "float32" else "int8"
    return lowering_lib.convert(model, quantization, io_dtype=io)


def _randomize(model, seed=0):
    randomize_weights(model, seed)
    return model


def overhead_flatbuffer(quantization):
    """The .tflite of the per-invoke overhead model, timed beside the units."""
    io = "int8" if quantization == "int8" else "float32"
    return lowering_lib.convert(_randomize(units_lib.overhead_model(quantization)), quantization, io_dtype=io)


def measure_units(units: Sequence[units_lib.Unit], quantization: str, runs: int = DEFAULT_RUNS,
                  warmup: int = DEFAULT_WARMUP, threads: int = 1, chunk_size: int = DEFAULT_CHUNK,
                  progress: bool = False, on_chunk=None, clock: str = "cpu") -> Dict[str, Dict]:
    """Converts and times units in chunks; returns {key: entry}.

    Each chunk (up to `chunk_size` units) is timed interleaved with the near-empty
    model; entry = {"ms": p50 - overhead p50, "p50_ms", "min_ms", "overhead_ms",
    "wall_p50_ms"} (p50/min on `clock`, see `interleaved_times`).
    `on_chunk(entries_so_far, chunk_info)` is called after every chunk (saving).
    """
    lowering_lib.check_quantization(quantization)
    overhead_fb = overhead_flatbuffer(quantization)
    entries = {}
    units = list({u.key: u for u in units}.values())
    bar = _progress(len(units), f"latency table ({quantization})", progress)
    for start in range(0, len(units), chunk_size):
        chunk = units[start:start + chunk_size]
        fbs = []
        for u in chunk:
            fbs.append(convert_unit(u, quantization))
            if bar is not None:
                bar.update(1)
        stats = time_flatbuffers([overhead_fb, *fbs], runs, warmup, threads, clock,
                                 primed=unit_timing(threads) == "primed")
        over = stats[0]["p50_ms"]
        info = {"overhead_ms": round(over, 5), "wall_overhead_ms": round(stats[0]["wall_p50_ms"], 5),
                "time": round(time.time(), 1), "units": len(chunk), "loadavg": round(os.getloadavg()[0], 2)}
        for u, s in zip(chunk, stats[1:]):
            entries[u.key] = {"ms": round(s["p50_ms"] - over, 5), "p50_ms": round(s["p50_ms"], 5),
                              "min_ms": round(s["min_ms"], 5), "overhead_ms": round(over, 5),
                              "wall_p50_ms": round(s["wall_p50_ms"], 5)}
        if on_chunk is not None:
            on_chunk(entries, info)
    if bar is not None:
        bar.close()
    return entries


# ---- the model ----------------------------------------------------------------------


def _resolve_space(space) -> SearchSpace:
    return get_space(space) if isinstance(space, str) else space


@dataclasses.dataclass
class LatencyModel:
    """A latency lookup table for one (space, input size, quantization).

    Attributes:
      space: space name.
      input_size: (H, W).
      quantization: "float32" or "int8".
      entries: {unit key: {"ms": net ms, ...}}.
      overhead_ms: the fixed per-invoke cost, added once per network.
      meta: the rest of the JSON (machine, runs, build time...).
      path: where the table lives (saving, lazy filling).
      lazy: measure unknown units on demand (and save) instead of raising KeyError.
    """

    space: str
    input_size: Tuple[int, int]
    quantization: str
    entries: Dict[str, Dict]
    overhead_ms: float
    meta: Dict = dataclasses.field(default_factory=dict)
    path: Optional[str] = None
    lazy: bool = False

    # ---- building / IO ------------------------------------------------------------
    @classmethod
    def build(cls, space: Union[str, SearchSpace], input_size, quantization: str, path, progress: bool = True,
              runs: int = DEFAULT_RUNS, warmup: int = DEFAULT_WARMUP, threads: int = 1,
              chunk_size: int = DEFAULT_CHUNK, units: Optional[Sequence[units_lib.Unit]] = None,
              resume: bool = True, lazy: bool = False, clock: str = "cpu",
              calibration_archs: Optional[int] = None, recalibrate: bool = False) -> "LatencyModel":
        """Measures every unit the space can produce (or `units`) and saves the table.

        With `resume`, an existing table at `path` for the same space, input size,
        quantization, lowering, threads, clock and machine (CPU model, CPU flags,
        LiteRT version) is extended (its entries are kept); any other is started over.
        `clock`: "cpu" (default; the invoke's thread CPU time, robust to other
        processes on the shared machine) or "wall" (see `interleaved_times`).
        `calibration_archs`: then fit the table's scale on that many whole networks
        (`calibrate`); default `DEFAULT_CALIBRATION_ARCHS` for a full-space build, 0
        when `units` is given. An existing calibration is kept unless `recalibrate`.
        """
        space = _resolve_space(space)
        input_size = cost_lib.check_input_size(input_size)
        lowering_lib.check_quantization(quantization)
        if space.family in units_lib.ENUMERATED_FAMILIES:
            all_units = units_lib.space_units(space, input_size, quantization)
        elif units is None:
            raise ValueError(f"the units of space {space.name!r} ({space.family} family) are not enumerated: give the "
                             "units of the architectures to measure (build_latency_table.py --sample_archs)")
        else:
            all_units = None
        wanted = list(units) if units is not None else all_units
        model = None
        if resume and path is not None and os.path.exists(path):
            old = cls.load(path)
            here = litert.machine_info()
            same_machine = all((old.meta.get("machine") or {}).get(k) == here[k]
                               for k in ("cpu", "cpu_flags_hash", "ai_edge_litert"))
            if (old.space, tuple(old.input_size), old.quantization) == (space.name, input_size, quantization) \
                    and old.meta.get("lowering") == lowering_lib.LOWERING_VERSION and same_machine \
                    and old.meta.get("threads", 1) == threads and old.meta.get("clock") == clock \
                    and old.meta.get("unit_timing", "single") == unit_timing(threads):
                model = old
        if model is None:
            model = cls(space.name, input_size, quantization, {}, 0.0, path=None)
            model.meta = {"family": space.family, "threads": threads, "clock": clock,
                          "unit_timing": unit_timing(threads), "statistic": "p50",
                          "lowering": lowering_lib.LOWERING_VERSION, "runs": runs, "warmup": warmup,
                          "chunk_size": chunk_size, "machine": litert.machine_info(), "chunks": [], "build_seconds": 0.0}
        model.path = os.fspath(path) if path is not None else None
        model.lazy = lazy
        todo = [u for u in wanted if u.key not in model.entries]
        t0 = time.time()
        base_seconds = float(model.meta.get("build_seconds", 0.0))
        # "complete": the table covers the whole space (never for a family not enumerated)
        total_keys = {u.key for u in all_units} if all_units is not None else None

        def complete():
            return total_keys is not None and total_keys.issubset(model.entries)

        def on_chunk(entries, info):
            model.entries.update(entries)
            model.meta["chunks"].append(info)
            model.meta["build_seconds"] = round(base_seconds + time.time() - t0, 1)
            model.meta["complete"] = complete()
            model._update_overhead()
            if model.path:
                model.save()

        if todo:
            measure_units(todo, quantization, runs, warmup, threads, chunk_size, progress, on_chunk, clock)
        model.meta["complete"] = complete()
        model.meta["space_units"] = len(total_keys) if total_keys is not None else None
        if calibration_archs is None:
            calibration_archs = DEFAULT_CALIBRATION_ARCHS if units is None else 0
        if calibration_archs > 0 and (recalibrate or "calibration" not in model.meta):
            model.calibrate(calibration_archs, runs=max(runs, 30), warmup=warmup, progress=progress)
            model.meta["build_seconds"] = round(base_seconds + time.time() - t0, 1)
        if model.path:
            model.save()
        return model

    def calibrate(self, num_archs: int = 8, seed: int = CALIBRATION_SEED, runs: int = 30,
                  warmup: int = DEFAULT_WARMUP, progress: bool = False,
                  archs: Optional[Sequence[Arch]] = None) -> float:
        """Fits the table's scale on `num_archs` random whole networks and saves it.

        A unit timed alone is slower than inside a network when its activations are
        large (float32 at 256x192: the sum of units over-predicts by 4-12%; within a
        few % at 128x96 and in int8): its input is read cold and its output written
        to an external buffer, where inside a network the previous layer's output is
        still in cache. The correction is one factor per table:

            scale = median over networks of measured / (overhead + sum of its units)

        with the networks' units re-timed (chunked, exactly as for the table) in the
        same run as the networks, alternating chunk and network rounds, so that
        the machine's speed on the day (it drifts by several % on this shared VM)
        cancels out of the ratio. Networks are sampled with `seed`, not the seeds
        scripts/bench_latency_model.py checks with; `archs` replaces them.
        """
        if archs is None:
            archs = get_space(self.space).sample(np.random.default_rng(seed), num_archs)
        else:
            archs, seed, num_archs = list(archs), None, len(archs)
        self.ensure(archs, progress=progress)
        raw = [self.raw_predict_ms(a) for a in archs]
        threads = int(self.meta.get("threads", 1))
        clock = self.meta.get("clock", "cpu")
        unit_runs = int(self.meta.get("runs", DEFAULT_RUNS))
        chunk_size = int(self.meta.get("chunk_size", DEFAULT_CHUNK))
        units = [u for a in archs for u in self.units(a)]
        bar = _progress(len(archs), "calibration (convert networks)", progress)
        whole = []
        for a in archs:
            whole.append(_runner(convert_arch(a, self.input_size, self.quantization), threads))
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        num_chunks = -(-len({u.key for u in units}) // chunk_size)
        rounds = max(1, -(-runs // num_chunks))
        overs = []
        whole_ms = [[] for _ in archs]

        def time_networks(entries, info):  # after each unit chunk: a round of the networks
            del entries
            overs.append(info["overhead_ms"])
            for acc, (cpu, wall) in zip(whole_ms, interleaved_times(whole, rounds, warmup=1)):
                acc.extend(((cpu if clock == "cpu" else wall) * 1e3).tolist())

        fresh = {k: e["ms"] for k, e in measure_units(units, self.quantization, unit_runs, warmup, threads,
                                                      chunk_size, progress, time_networks, clock).items()}
        over = float(np.median(overs))
        fresh_raw = [over + sum(fresh[u.key] for u in self.units(a)) for a in archs]
        measured = [float(np.median(t)) for t in whole_ms]
        ratios = [m / f for m, f in zip(measured, fresh_raw)]
        self.meta["calibration"] = {
            "scale": round(float(np.median(ratios)), 5), "seed": seed, "num_archs": num_archs,
            "runs": rounds * num_chunks, "archs": [a.to_string() for a in archs],
            "measured_ms": [round(m, 4) for m in measured],
            "session_units_ms": [round(f, 4) for f in fresh_raw],
            "raw_predicted_ms": [round(r, 4) for r in raw],
            "session_over_table": round(float(np.median([f / r for f, r in zip(fresh_raw, raw)])), 4),
            "time": round(time.time(), 1), "loadavg": round(os.getloadavg()[0], 2)}
        if self.path:
            self.save()
        return self.scale

    @property
    def scale(self) -> float:
        """The calibration factor applied to every prediction (1 when uncalibrated)."""
        return float(self.meta.get("calibration", {}).get("scale", 1.0))

    def _update_overhead(self):
        overs = [c["overhead_ms"] for c in self.meta.get("chunks", [])]
        self.overhead_ms = float(np.median(overs)) if overs else 0.0

    def to_dict(self) -> Dict:
        meta = dict(self.meta)
        return {"format": FORMAT, "space": self.space, "input_size": list(self.input_size),
                "quantization": self.quantization, "overhead_ms": round(self.overhead_ms, 5),
                **{k: v for k, v in meta.items() if k not in ("chunks",)},
                "num_entries": len(self.entries), "entries": self.entries, "chunks": meta.get("chunks", [])}

    def save(self, path=None):
        path = path or self.path
        if not path:
            raise ValueError("LatencyModel.save: no path given and the model has none")
        io_utils.write_json(path, self.to_dict())

    @classmethod
    def load(cls, path, lazy: bool = False) -> "LatencyModel":
        """Reads a table; a wrong or incomplete file is a ValueError naming the file and field."""
        d = io_utils.read_json(path)
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ValueError(f"{path}: not a latency table (expected \"format\": \"{FORMAT}\", "
                             f"got {d.get('format') if isinstance(d, dict) else type(d).__name__!r})")
        for field in ("space", "input_size", "quantization", "overhead_ms", "entries"):
            if field not in d:
                raise ValueError(f"{path}: latency table is missing field '{field}'")
        try:
            input_size = cost_lib.check_input_size(d["input_size"])
        except ValueError as e:
            raise ValueError(f"{path}: field 'input_size': {e}") from None
        if d["quantization"] not in lowering_lib.QUANTIZATIONS:
            raise ValueError(f"{path}: field 'quantization' = {d['quantization']!r}, expected one of "
                             f"{lowering_lib.QUANTIZATIONS}")
        entries = d["entries"]
        for key, e in entries.items():
            if not isinstance(e, dict) or not isinstance(e.get("ms"), (int, float)):
                raise ValueError(f"{path}: entry {key!r} has no numeric 'ms'")
        meta = {k: v for k, v in d.items()
                if k not in ("format", "space", "input_size", "quantization", "overhead_ms", "entries", "num_entries")}
        meta.setdefault("chunks", [])
        return cls(d["space"], input_size, d["quantization"], dict(entries), float(d["overhead_ms"]), meta,
                   path=os.fspath(path), lazy=lazy)

    # ---- prediction ---------------------------------------------------------------
    def units(self, arch: Arch) -> List[units_lib.Unit]:
        space = get_space(arch.space)
        if arch.space != self.space and space.family != self.meta.get("family", space.family):
            raise ValueError(f"architecture of space {arch.space!r} does not match the latency table of "
                             f"space {self.space!r} ({self.path or 'in memory'})")
        return units_lib.arch_units(arch, self.input_size, self.quantization)

    def missing(self, arch: Arch) -> List[str]:
        return [u.key for u in self.units(arch) if u.key not in self.entries]

    def ensure(self, archs: Sequence[Arch], progress: bool = False):
        """Measures the units of `archs` that the table lacks (lazy filling) and saves."""
        todo = {}
        for arch in archs:
            for u in self.units(arch):
                if u.key not in self.entries:
                    todo[u.key] = u
        if not todo:
            return
        runs = int(self.meta.get("runs", DEFAULT_RUNS))
        warmup = int(self.meta.get("warmup", DEFAULT_WARMUP))
        threads = int(self.meta.get("threads", 1))

        def on_chunk(entries, info):
            self.entries.update(entries)
            self.meta.setdefault("chunks", []).append(info)
            self._update_overhead()
            if self.path:
                self.save()

        measure_units(list(todo.values()), self.quantization, runs, warmup, threads,
                      int(self.meta.get("chunk_size", DEFAULT_CHUNK)), progress, on_chunk,
                      self.meta.get("clock", "cpu"))

    def raw_breakdown(self, arch: Arch) -> List[Tuple[str, float]]:
        """[("overhead", ms), (unit key, ms), ...]: the table's entries, uncalibrated."""
        units = self.units(arch)
        missing = [u.key for u in units if u.key not in self.entries]
        if missing:
            if not self.lazy:
                raise KeyError(
                    f"latency table {self.path or '(in memory)'} ({self.space}, "
                    f"{self.input_size[0]}x{self.input_size[1]}, {self.quantization}) has no entry for "
                    f"{len(missing)} unit(s) of {arch.to_string()}: {missing[:3]}... Build the full table "
                    "(scripts/build_latency_table.py) or load it with lazy=True to measure them on demand.")
            self.ensure([arch])
        return [("overhead", self.overhead_ms)] + [(u.key, float(self.entries[u.key]["ms"])) for u in units]

    def raw_predict_ms(self, arch: Arch) -> float:
        """overhead + sum of the units' entries (no calibration)."""
        return float(sum(ms for _, ms in self.raw_breakdown(arch)))

    def breakdown(self, arch: Arch) -> List[Tuple[str, float]]:
        """[("overhead", ms), (unit key, ms), ...] in network order, each times the
        calibration `scale`; sums to `predict_ms`."""
        scale = self.scale
        return [(k, ms * scale) for k, ms in self.raw_breakdown(arch)]

    def predict_ms(self, arch: Arch) -> float:
        """Predicted single-thread TFLite latency (ms) of the deployed `arch`:
        scale * (overhead + sum of its units' entries)."""
        return float(sum(ms for _, ms in self.breakdown(arch)))


# ---- whole networks ------------------------------------------------------------------


def static_model(arch: Arch, input_size, weights=None, seed: int = 0):
    """The static Keras model of `arch`: extracted from `weights` (a SuperNetwork), the
    given static model, or built with random weights (speed does not depend on them)."""
    if weights is None:
        return _randomize(build_static(arch, input_size), seed)
    if hasattr(weights, "extract"):
        return weights.extract(arch, input_size)
    if isinstance(weights, keras.Model):
        shape = tuple(int(d) for d in weights.inputs[0].shape[1:3])
        if shape != tuple(input_size):
            raise ValueError(f"weights: the static model takes {shape[0]}x{shape[1]} inputs, not "
                             f"{input_size[0]}x{input_size[1]}")
        return weights
    raise ValueError(f"weights must be None, a SuperNetwork or a static Keras model, got {type(weights).__name__}")


def convert_arch(arch: Arch, input_size, quantization: str, weights=None, path=None) -> bytes:
    """The deployed .tflite of `arch` (lowered, float I/O) as bytes."""
    input_size = cost_lib.check_input_size(input_size)
    lowering_lib.check_quantization(quantization)
    if weights is None:
        keras.backend.clear_session()
    return lowering_lib.convert(static_model(arch, input_size, weights), quantization, io_dtype="float32",
                                path=path)


def measure_archs_ms(archs: Sequence[Arch], input_size, quantization: str, weights=None,
                     runs: int = 50, warmup: int = 5, threads: int = 1, progress: bool = False,
                     statistic: str = "p50", clock: str = "cpu") -> List[float]:
    """Converts every arch and times them interleaved; median (or min) ms each on
    `clock` ("cpu": the invoke's thread CPU time, "wall": wall time)."""
    bar = _progress(len(archs), "convert archs", progress)
    fbs = []
    for a in archs:
        fbs.append(convert_arch(a, input_size, quantization, weights))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    stats = time_flatbuffers(fbs, runs, warmup, threads, clock)
    return [s[f"{statistic}_ms"] for s in stats]


def measure_arch_ms(arch: Arch, input_size, quantization: str, weights=None, runs: int = 50,
                    warmup: int = 5, threads: int = 1, clock: str = "cpu") -> float:
    """Measured median latency (ms) of the deployed `arch`: static model (extracted from
    `weights` or random), lowered and converted like the table's units, LiteRT +
    XNNPACK, `threads` threads; `clock` as in `measure_archs_ms`."""
    return measure_archs_ms([arch], input_size, quantization, weights, runs, warmup, threads,
                            clock=clock)[0]
