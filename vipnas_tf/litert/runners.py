"""Runners: a .tflite model or a video schedule folder, inputs set, `step()` runs it.

Video schedules (`ScheduleRunner`): a key-frame model every T+1 frames and T temporal
models (T-ViPNets) in between, each fed the previous frame's heatmaps. One step is one
full cycle of T+1 frames.
"""
import json
import os
from typing import Dict, Optional

import numpy as np

from vipnas_tf.litert.interpreter import load_interpreter, random_input

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
        return {"kind": self.kind, "path": os.path.abspath(self.path) if isinstance(self.path, str) else None,
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
        return {"kind": self.kind, "path": os.path.abspath(self.path),
                "key_model": os.path.abspath(self.manifest["key_model"]),
                "frame_models": [os.path.abspath(f["file"]) for f in self.manifest["frame_models"]],
                "key_frame_interval": self.manifest["key_frame_interval"],
                "gflops_per_cycle": self._total("gflops")}
