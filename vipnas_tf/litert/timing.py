"""The interleaved timer, and latency statistics of its step times.

Interleaving: all models (or callables) are set up first; each round then times every
one once, round-robin, starting from a different one each round. Machine noise
(another process, frequency changes) hits all alike, so their ratio is trustworthy
even when the absolute numbers drift.

Two clocks are read around every call: wall time (`perf_counter`, what a user waits on
this machine right now) and the CPU time of the calling thread (`thread_time`). With
one LiteRT interpreter thread XNNPACK computes on the calling thread (checked: thread
and process CPU time agree), so the CPU time is the call's latency on an idle core; it
does not count the time the thread waited while the shared machine ran other
processes.
"""
import time
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np

CLOCKS = ("cpu", "wall")


def interleaved_times(steps: Sequence[Callable[[], object]], runs: int, warmup: int = 1,
                      min_time_s: float = 0.0, primed: bool = False) -> List[Tuple[np.ndarray, np.ndarray]]:
    """Calls `steps` round-robin; per step the (cpu_s, wall_s) arrays of its timed calls.

    Each step is called `warmup` times first (untimed). Each of `runs` rounds then calls
    every step once, starting at a rotating offset so no step always runs right after
    the same neighbour. `min_time_s` keeps adding rounds until that much wall time has
    passed (0: exactly `runs` rounds). A step must block until its work is done (e.g.
    convert a TF result to numpy).

    `primed`: every timed call right after an untimed call of the same step. An
    interpreter with more than one thread has worker threads that sleep once it has
    been idle for a moment, and its next call first wakes them; inside one network the
    workers stay awake from op to op. Timing the layers of a network one by one, each in
    its own interpreter, round-robin, would charge that wake-up to every layer (measured
    at 2 threads on a 2-core AMD EPYC: 0.1-0.2 ms per call, about as much as a small
    layer's work); primed, it is charged to none.
    """
    for _ in range(warmup):
        for step in steps:
            step()
    n = len(steps)
    cpu = [[] for _ in steps]
    wall = [[] for _ in steps]
    start = time.perf_counter()
    rnd = 0
    while rnd < runs or (n and time.perf_counter() - start < min_time_s):
        for j in range(n):
            i = (rnd + j) % n
            if primed:
                steps[i]()
            c0 = time.thread_time()
            t0 = time.perf_counter()
            steps[i]()
            t1 = time.perf_counter()
            c1 = time.thread_time()
            cpu[i].append(c1 - c0)
            wall[i].append(t1 - t0)
        rnd += 1
    return [(np.asarray(c), np.asarray(w)) for c, w in zip(cpu, wall)]


def measure_interleaved(runners: Sequence, runs: int = 50, warmup: int = 5,
                        min_time_s: float = 0.0) -> List[List[float]]:
    """`interleaved_times` of runners' `step()`: per runner its wall step times (s)."""
    times = interleaved_times([r.step for r in runners], runs, warmup, min_time_s)
    return [list(wall) for _, wall in times]


def time_named(fns: Dict[str, Callable[[], object]], runs: int, warmup: int = 1) -> Dict[str, np.ndarray]:
    """`interleaved_times` of named callables: name -> wall seconds per timed call."""
    times = interleaved_times(list(fns.values()), runs, warmup)
    return {name: wall for name, (_, wall) in zip(fns, times)}


def latency_stats(times_s: Sequence[float], frames_per_step: int = 1) -> Dict:
    """p50/p90/p99/mean/min (ms per step) and FPS from step times in seconds.

    FPS = frames_per_step / p50: for a schedule the effective frames per second
    over a key-frame cycle. For a schedule `p50_ms` etc. are per *frame*
    (cycle time / (T+1)) and `cycle_p50_ms` is the whole cycle.
    """
    ms = np.asarray(times_s, np.float64) * 1e3
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    out = {"p50_ms": p50, "p90_ms": p90, "p99_ms": p99, "mean_ms": ms.mean(), "min_ms": ms.min()}
    if frames_per_step > 1:
        out = {k: v / frames_per_step for k, v in out.items()}
        out["cycle_p50_ms"] = p50
    out["fps"] = 1e3 * frames_per_step / p50
    out["runs"] = len(ms)
    return {k: (round(float(v), 4) if isinstance(v, float) else v) for k, v in out.items()}


def summarize(seconds) -> Dict[str, float]:
    """Median / p90 in milliseconds of an array of seconds."""
    ms = np.asarray(seconds) * 1e3
    return {"median_ms": round(float(np.median(ms)), 3), "p90_ms": round(float(np.percentile(ms, 90)), 3)}
