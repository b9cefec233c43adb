"""Wall-clock timing of several callables, interleaved so machine noise hits all alike."""
import time

import numpy as np


def interleaved_times(fns, runs, warmup=1):
    """Runs each callable in `fns` (dict name -> fn) round-robin `runs` times.

    Returns dict name -> np.ndarray of per-run seconds. Each fn is called `warmup`
    times first (not timed). A fn should block until its work is done (e.g. convert
    the result to numpy).
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: np.asarray(t) for name, t in times.items()}


def summarize(seconds):
    """Median / p90 in milliseconds of an array of seconds."""
    ms = np.asarray(seconds) * 1e3
    return {"median_ms": round(float(np.median(ms)), 3), "p90_ms": round(float(np.percentile(ms, 90)), 3)}
