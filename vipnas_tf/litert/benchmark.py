"""The benchmark report: every model and schedule timed interleaved, with memory.

What is measured, and how:
- Latency: wall time of one `interpreter.invoke()` (inputs already set; random
  inputs of the right dtype, fixed per model), in milliseconds. p50/p90/p99 over
  `runs` timed runs after `warmup` untimed ones. FPS = 1000 / p50_ms.
- Interleaving (`timing.interleaved_times`): all models are loaded first; each run
  then times every model once, round-robin, starting from a different model each run.
- Video schedules (`runners.ScheduleRunner`): one "run" is one full cycle of T+1
  frames; effective FPS = (T+1) / cycle time.
- Peak memory (`memory.peak_memory_kib`): the model's resident-set high-water mark in
  a fresh subprocess minus an empty one's, in MiB.
"""
import dataclasses
import datetime
import hashlib
import os
from typing import Dict, Optional, Sequence

import ai_edge_litert

from vipnas_tf.litert.memory import peak_memory_kib
from vipnas_tf.litert.runners import ModelRunner, ScheduleRunner
from vipnas_tf.litert.timing import latency_stats, measure_interleaved


@dataclasses.dataclass
class BenchmarkSpec:
    """What to benchmark.

    Attributes:
        models: .tflite paths (any external file works).
        schedule_dirs: schedule folders (manifest.json, see `read_manifest`).
        threads: interpreter threads (1..cores).
        runs: timed rounds (each model once per round).
        warmup: untimed rounds first.
        measure_memory: run the peak-memory subprocess probe per model.
        use_xnnpack: False for TFLite's builtin kernels only.
        macs: optional {model path or name: MACs} for GFLOP/s.
    """

    models: Sequence[str] = ()
    schedule_dirs: Sequence[str] = ()
    threads: int = 1
    runs: int = 50
    warmup: int = 5
    measure_memory: bool = True
    use_xnnpack: bool = True
    macs: Optional[Dict[str, float]] = None


def run_benchmark(spec: BenchmarkSpec) -> Dict:
    """Loads every model/schedule, times them interleaved, returns the report dict.

    A model that fails to load (corrupt or missing file, bad manifest) gets an
    "error" entry and the rest are still measured.

    Returns:
        {"threads", "runs", "warmup", "xnnpack", "machine", "results": [{"name",
        "kind", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "min_ms", "fps",
        "peak_memory_mb", "gflops_per_s" (2 x MACs x FPS / 1e9, if MACs known),
        ...} or {"name", "error"}]}
    """
    entries = []  # (name, runner or None, error)
    for path in spec.models:
        macs = (spec.macs or {}).get(path) or (spec.macs or {}).get(os.path.basename(path))
        try:
            entries.append((os.path.basename(path), ModelRunner(path, spec.threads, macs=macs,
                                                                 use_xnnpack=spec.use_xnnpack), None))
        except ValueError as e:
            entries.append((os.path.basename(path), None, str(e)))
    for folder in spec.schedule_dirs:
        try:
            runner = ScheduleRunner(folder, spec.threads, use_xnnpack=spec.use_xnnpack)
            entries.append((runner.name, runner, None))
        except ValueError as e:
            entries.append((os.path.basename(os.path.normpath(folder)), None, str(e)))
    runners = [r for _, r, _ in entries if r is not None]
    times = measure_interleaved(runners, spec.runs, spec.warmup) if runners else []
    by_runner = dict(zip(map(id, runners), times))
    results = []
    baseline = None
    for name, runner, error in entries:
        if runner is None:
            results.append({"name": name, "error": error})
            continue
        res = {"name": name, **runner.info(),
               **latency_stats(by_runner[id(runner)], runner.frames_per_step)}
        if runner.macs:
            res["macs"] = runner.macs
            # macs is per step (a schedule: per cycle of T+1 frames).
            steps_per_s = res["fps"] / runner.frames_per_step
            res["gflops_per_s"] = round(2 * runner.macs * steps_per_s / 1e9, 2)
        if spec.measure_memory:
            if baseline is None:
                baseline = peak_memory_kib([], spec.threads, spec.use_xnnpack)
            paths = ([runner.path] if runner.kind == "model" else
                     [runner.manifest["key_model"]] + [f["file"] for f in runner.manifest["frame_models"]])
            res["peak_memory_mb"] = round((peak_memory_kib(paths, spec.threads, spec.use_xnnpack)
                                           - baseline) / 1024, 1)
        results.append(res)
    return {"threads": spec.threads, "runs": spec.runs, "warmup": spec.warmup,
            "xnnpack": spec.use_xnnpack, "machine": machine_info(), "results": results}


def machine_info() -> Dict:
    """What the numbers depend on besides the models: CPU model name, CPU family / model /
    stepping (a hypervisor may show two generations under one name, as "AMD EPYC"),
    cores, CPU flags hash, LiteRT version, and the UTC date of the measurement."""
    fields = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    break  # the first processor's block is enough
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    cpuid = " ".join(f"{name} {fields[key]}" for key, name in
                     (("cpu family", "family"), ("model", "model"), ("stepping", "stepping"))
                     if key in fields)
    return {"cpu": fields.get("model name", ""), "cpuid": cpuid, "cores": os.cpu_count(),
            "cpu_flags_hash": cpu_flags_hash(fields.get("flags", "")),
            "ai_edge_litert": getattr(ai_edge_litert, "__version__", ""),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")}


def describe_machine(machine: Dict) -> str:
    """One line for titles and headers from a `machine_info()` record, e.g. "AMD EPYC
    (family 26 model 2 stepping 1), flags 311d8161239e, LiteRT 2.3.0, 2026-12-02";
    what a record lacks is left out."""
    cpu = " ".join(v for v in (machine.get("cpu", ""),
                               f"({machine['cpuid']})" if machine.get("cpuid") else "") if v)
    return ", ".join(v for v in (
        cpu, f"flags {machine['cpu_flags_hash']}" if machine.get("cpu_flags_hash") else "",
        f"LiteRT {machine['ai_edge_litert']}" if machine.get("ai_edge_litert") else "",
        machine.get("date", "")) if v)


def cpu_flags_hash(flags: Optional[str] = None) -> str:
    """12 hex digits of the SHA-1 of the sorted CPU flags (/proc/cpuinfo `flags`, or
    `flags`): two CPUs of one model name can differ in AVX-512 / AMX."""
    if flags is None:
        flags = ""
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as f:
                flags = next((line.split(":", 1)[1] for line in f if line.startswith("flags")), "")
        except OSError:
            pass
    return hashlib.sha1(" ".join(sorted(flags.split())).encode()).hexdigest()[:12]
