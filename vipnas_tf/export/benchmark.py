"""CPU latency benchmark of .tflite models with the LiteRT interpreter (XNNPACK).

What is measured, and how:
- Latency: wall time of one `interpreter.invoke()` (inputs already set; random
  inputs of the right dtype, fixed per model), in milliseconds. p50/p90/p99 over
  `runs` timed runs after `warmup` untimed ones. FPS = 1000 / p50_ms.
- Interleaving: all models are loaded first; each run then times every model once,
  round-robin, starting from a different model each run. Machine noise (another
  process, frequency changes) hits all models alike, so their ratio is trustworthy
  even when the absolute numbers drift.
- Video schedules (`ScheduleRunner`): a key-frame model every T+1 frames and T
  temporal models (T-ViPNets) in between, each fed the previous frame's heatmaps.
  One "run" is one full cycle of T+1 frames; effective FPS = (T+1) / cycle time.
- Peak memory (`peak_memory_mb`): the resident-set high-water mark (VmHWM)
  of a short subprocess that imports the interpreter, loads the model(s), allocates
  tensors and runs them a few times, minus the same for a subprocess that loads no
  model. It is the model's whole footprint in this process (weights as mapped,
  arena, XNNPACK packed weights and workspace), in MiB, +- about 1 MiB of noise.

Only numpy and ai_edge_litert are imported (no TensorFlow), so the memory probe
subprocess stays small.

Shape letters: N batch, H/W height/width, K keypoints.
"""
import dataclasses
import json
import os
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

import numpy as np

# manifest.json of a schedule folder, version 1:
# {
#   "name": "t_vipnas_mbv3_T3",            # optional, default: folder name
#   "key_model": "key.tflite",              # image [1,H,W,3] -> heatmaps [1,h,w,K]
#   "key_gflops": 0.69,                     # optional, paper convention (MACs / 2^30)
#   "key_macs": 734000000,                  # optional, multiply-accumulates
#   "frame_models": [                       # T entries, run on frames 1..T of a cycle
#     {"file": "t1.tflite", "gflops": 0.21, "macs": 220000000},
#     ...
#   ],
#   "key_frame_interval": 4,                # must be T + 1
#   "image_input": "image",                 # optional: substring of the image input's name
#   "heatmap_input": "heatmaps"             # optional: substring of the heatmap input's name
# }
# Paths are relative to the folder. Each frame model has two inputs, the image crop
# and the previous frame's heatmaps (same shape as the key model's heatmap output);
# without the optional names the heatmap input is the one shaped like the heatmaps.
MANIFEST = "manifest.json"


def _interpreter_cls():
    from ai_edge_litert.interpreter import Interpreter, OpResolverType  # pylint: disable=import-outside-toplevel
    return Interpreter, OpResolverType


def load_interpreter(path_or_bytes, threads: int = 1, use_xnnpack: bool = True):
    """A LiteRT interpreter with tensors allocated.

    Args:
        path_or_bytes: .tflite path or flatbuffer bytes.
        threads: interpreter (and XNNPACK) threads.
        use_xnnpack: False runs TFLite's builtin kernels only (for comparisons).

    Raises:
        ValueError: the file is missing or not a valid TFLite model.
    """
    Interpreter, OpResolverType = _interpreter_cls()
    resolver = OpResolverType.AUTO if use_xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    kwargs = dict(num_threads=threads, experimental_op_resolver_type=resolver)
    try:
        if isinstance(path_or_bytes, (bytes, bytearray)):
            interpreter = Interpreter(model_content=bytes(path_or_bytes), **kwargs)
        else:
            path = os.fspath(path_or_bytes)
            if not os.path.isfile(path):
                raise ValueError(f"no such file: {path}")
            interpreter = Interpreter(model_path=path, **kwargs)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        raise ValueError(f"cannot load TFLite model {_label(path_or_bytes)}: {e}") from e
    return interpreter


def _label(path_or_bytes):
    if isinstance(path_or_bytes, (bytes, bytearray)):
        return f"<{len(path_or_bytes)} bytes>"
    return os.fspath(path_or_bytes)


def random_input(detail, rng: np.random.Generator) -> np.ndarray:
    """A random tensor for an input: N(0,1) floats, or the full integer range."""
    dtype = detail["dtype"]
    shape = detail["shape"]
    if np.issubdtype(dtype, np.floating):
        return rng.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)


class ModelRunner:
    """One .tflite model, inputs set once; `step()` runs one inference.

    Args:
        path: .tflite path (or bytes).
        threads: interpreter threads.
        name: label in reports, default the file name.
        use_xnnpack: see `load_interpreter`.
        macs: multiply-accumulates per inference, if known (for GFLOP/s).
    """

    kind = "model"

    def __init__(self, path, threads: int = 1, name: Optional[str] = None,
                 use_xnnpack: bool = True, macs: Optional[float] = None, seed: int = 0):
        self.path = path if isinstance(path, (bytes, bytearray)) else os.fspath(path)
        self.name = name or (os.path.basename(self.path) if isinstance(self.path, str) else "model")
        self.macs = macs
        self.interpreter = load_interpreter(path, threads, use_xnnpack)
        rng = np.random.default_rng(seed)
        for detail in self.interpreter.get_input_details():
            self.interpreter.set_tensor(detail["index"], random_input(detail, rng))

    @property
    def frames_per_step(self) -> int:
        return 1

    def step(self):
        self.interpreter.invoke()

    def info(self) -> Dict:
        return {"kind": self.kind, "path": self.path if isinstance(self.path, str) else None,
                "inputs": [_tensor_info(d) for d in self.interpreter.get_input_details()],
                "outputs": [_tensor_info(d) for d in self.interpreter.get_output_details()]}


def _tensor_info(detail):
    return {"name": detail["name"], "shape": [int(s) for s in detail["shape"]],
            "dtype": np.dtype(detail["dtype"]).name}


def _heatmap_output(interpreter):
    """The 4-D output (heatmaps [1, h, w, K]); a model may also output keypoints."""
    outs = interpreter.get_output_details()
    four_d = [d for d in outs if len(d["shape"]) == 4]
    return (four_d or outs)[0]


def _convert_tensor(value, src, dst):
    """Re-expresses `value` (dtype/quantization of `src`) in the dtype/quantization of `dst`."""
    if src["dtype"] == dst["dtype"] and src["quantization"] == dst["quantization"]:
        return value
    scale, zero = src["quantization"]
    real = value.astype(np.float32)
    if not np.issubdtype(src["dtype"], np.floating) and scale:
        real = (real - zero) * scale
    if np.issubdtype(dst["dtype"], np.floating):
        return real.astype(dst["dtype"])
    scale, zero = dst["quantization"]
    info = np.iinfo(dst["dtype"])
    return np.clip(np.round(real / scale + zero), info.min, info.max).astype(dst["dtype"])


def read_manifest(schedule_dir) -> Dict:
    """Loads and checks `schedule_dir/manifest.json` (format above).

    Returns:
        The manifest dict with absolute model paths in "key_model" and
        "frame_models"[i]["file"].

    Raises:
        ValueError: missing file, missing keys, or interval != T + 1.
    """
    schedule_dir = os.fspath(schedule_dir)
    path = os.path.join(schedule_dir, MANIFEST)
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read schedule manifest {path}: {e}") from e
    if "key_model" not in manifest:
        raise ValueError(f"{path}: 'key_model' is required")
    frames = manifest.get("frame_models", [])
    frames = [{"file": f} if isinstance(f, str) else dict(f) for f in frames]
    interval = int(manifest.get("key_frame_interval", len(frames) + 1))
    if interval != len(frames) + 1:
        raise ValueError(f"{path}: key_frame_interval={interval} but {len(frames)} frame "
                         f"models (the interval must be T + 1 = {len(frames) + 1})")
    manifest = dict(manifest)
    manifest["name"] = manifest.get("name") or os.path.basename(os.path.normpath(schedule_dir))
    manifest["key_model"] = os.path.join(schedule_dir, manifest["key_model"])
    for f in frames:
        f["file"] = os.path.join(schedule_dir, f["file"])
    manifest["frame_models"] = frames
    manifest["key_frame_interval"] = interval
    return manifest


class ScheduleRunner:
    """A video schedule: key model on frame 0 of each cycle, T-ViPNets on 1..T.

    Each frame model gets the previous frame's heatmaps (dequantized/requantized if
    the two models' tensor types differ). `step()` runs one full cycle of T+1 frames.

    Args:
        schedule_dir: folder with manifest.json and the .tflite files.
        threads: interpreter threads.
    """

    kind = "schedule"

    def __init__(self, schedule_dir, threads: int = 1, use_xnnpack: bool = True, seed: int = 0):
        self.manifest = read_manifest(schedule_dir)
        self.path = os.fspath(schedule_dir)
        self.name = self.manifest["name"]
        rng = np.random.default_rng(seed)
        self.key = load_interpreter(self.manifest["key_model"], threads, use_xnnpack)
        for detail in self.key.get_input_details():
            self.key.set_tensor(detail["index"], random_input(detail, rng))
        self._key_out = _heatmap_output(self.key)
        self.frames = []
        for entry in self.manifest["frame_models"]:
            interp = load_interpreter(entry["file"], threads, use_xnnpack)
            image_in, heat_in = self._split_inputs(interp, entry["file"])
            interp.set_tensor(image_in["index"], random_input(image_in, rng))
            self.frames.append((interp, heat_in, _heatmap_output(interp)))
        self.macs = self._total("macs")

    def _split_inputs(self, interp, file):
        inputs = interp.get_input_details()
        if len(inputs) != 2:
            raise ValueError(f"frame model {file} has {len(inputs)} inputs; expected 2 "
                             "(image crop, previous heatmaps)")
        want = self.manifest.get("heatmap_input")
        heat_shape = list(self._key_out["shape"])
        if want:
            heat = [d for d in inputs if want in d["name"]]
        else:
            heat = [d for d in inputs if list(d["shape"]) == heat_shape]
        if len(heat) != 1:
            raise ValueError(f"frame model {file}: cannot tell the heatmap input from the "
                             f"image input (inputs {[(d['name'], list(d['shape'])) for d in inputs]}, "
                             f"heatmaps {heat_shape}); set 'heatmap_input' in the manifest")
        image = [d for d in inputs if d["index"] != heat[0]["index"]][0]
        return image, heat[0]

    def _total(self, key):
        entries = [{"macs": self.manifest.get("key_macs"), "gflops": self.manifest.get("key_gflops")}]
        entries += self.manifest["frame_models"]
        values = [e.get(key) for e in entries]
        return None if any(v is None for v in values) else float(sum(values))

    @property
    def frames_per_step(self) -> int:
        return 1 + len(self.frames)

    def step(self):
        self.key.invoke()
        prev, prev_detail = self.key.get_tensor(self._key_out["index"]), self._key_out
        for interp, heat_in, heat_out in self.frames:
            interp.set_tensor(heat_in["index"], _convert_tensor(prev, prev_detail, heat_in))
            interp.invoke()
            prev, prev_detail = interp.get_tensor(heat_out["index"]), heat_out
        return prev

    def info(self) -> Dict:
        return {"kind": self.kind, "path": self.path,
                "key_model": self.manifest["key_model"],
                "frame_models": [f["file"] for f in self.manifest["frame_models"]],
                "key_frame_interval": self.manifest["key_frame_interval"],
                "gflops_per_cycle": self._total("gflops")}


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


def measure_interleaved(runners: Sequence, runs: int = 50, warmup: int = 5,
                        min_time_s: float = 0.0) -> List[List[float]]:
    """Times `runners` round-robin; returns per-runner lists of step times (s).

    Each of `runs` rounds steps every runner once, starting at a rotating offset so
    no model always runs right after the same neighbour. `min_time_s` keeps adding
    rounds until that much wall time has passed (0: exactly `runs` rounds).
    """
    for _ in range(warmup):
        for r in runners:
            r.step()
    times = [[] for _ in runners]
    n = len(runners)
    start = time.perf_counter()
    rnd = 0
    while rnd < runs or (time.perf_counter() - start) < min_time_s:
        for j in range(n):
            i = (rnd + j) % n
            t0 = time.perf_counter()
            runners[i].step()
            times[i].append(time.perf_counter() - t0)
        rnd += 1
    return times


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
                baseline = _probe_rss_kib([], spec.threads, spec.use_xnnpack)
            paths = ([runner.path] if runner.kind == "model" else
                     [runner.manifest["key_model"]] + [f["file"] for f in runner.manifest["frame_models"]])
            res["peak_memory_mb"] = round((_probe_rss_kib(paths, spec.threads, spec.use_xnnpack)
                                           - baseline) / 1024, 1)
        results.append(res)
    return {"threads": spec.threads, "runs": spec.runs, "warmup": spec.warmup,
            "xnnpack": spec.use_xnnpack, "machine": machine_info(), "results": results}


def machine_info() -> Dict:
    """CPU model and core count (what the numbers depend on)."""
    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count()}


def _probe_rss_kib(paths: Sequence[str], threads: int, use_xnnpack: bool, invokes: int = 3) -> float:
    """RSS high-water mark (KiB) of a fresh subprocess that loads and runs `paths`."""
    code = ("import sys; from vipnas_tf.export.benchmark import _memory_probe_main; "
            "_memory_probe_main(sys.argv[1:])")
    args = [sys.executable, "-c", code, str(threads), str(int(use_xnnpack)), str(invokes), *paths]
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"memory probe failed: {out.stderr[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1])


def _memory_probe_main(argv):
    """Subprocess body: load + run the models, print the RSS high-water mark in KiB.

    VmHWM from /proc/self/status, not getrusage's ru_maxrss: ru_maxrss survives
    fork+exec, so a child of a big process (one that has TensorFlow loaded) reports
    its parent's peak; VmHWM belongs to the new address space made at exec.
    """
    threads, use_xnnpack, invokes, paths = int(argv[0]), bool(int(argv[1])), int(argv[2]), argv[3:]
    _interpreter_cls()  # the baseline imports the runtime too
    rng = np.random.default_rng(0)
    keep = []
    for p in paths:
        interp = load_interpreter(p, threads, use_xnnpack)
        for d in interp.get_input_details():
            interp.set_tensor(d["index"], random_input(d, rng))
        for _ in range(invokes):
            interp.invoke()
        keep.append(interp)
    print(_vm_hwm_kib())


def _vm_hwm_kib() -> float:
    try:
        with open("/proc/self/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1])
    except OSError:
        pass
    import resource  # pylint: disable=import-outside-toplevel  # not Linux: best effort
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def plot_results(report: Dict, path: str, title: str = ""):
    """Bar chart of FPS (label: p50 ms) per model; failed models are listed as such."""
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

    results = report["results"]
    names = [r["name"] for r in results]
    fps = [r.get("fps", 0.0) for r in results]
    colors = ["tab:orange" if r.get("kind") == "schedule" else
              ("tab:gray" if "error" in r else "tab:blue") for r in results]
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(names) + 2), 4.5))
    bars = ax.bar(range(len(names)), fps, color=colors)
    for bar, r in zip(bars, results):
        label = "error" if "error" in r else f"{r['fps']:.1f} FPS\n{r['p50_ms']:.1f} ms"
        ax.annotate(label, (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("FPS = 1000 / p50 ms\n(schedules: effective)")
    ax.set_title(title or f"LiteRT + XNNPACK, {report['threads']} thread(s), "
                 f"{report['runs']} interleaved runs")
    ax.margins(y=0.2)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
