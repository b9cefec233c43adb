"""A video schedule (key model + T frame models) to a folder of .tflite files.

`convert_schedule(schedule, key_model, frame_model_fn, out_dir, mode)` converts every
network of a `vipnas_tf.temporal.Schedule` with `convert.convert` and writes the
folder atomically: key.tflite, frame{i}.tflite and the benchmark's manifest.json
(format: `vipnas_tf/litert/runners.py`), whose costs are the schedule's
(`Schedule.describe`) at the converted input size. Every model carries its metadata
(`vipnas_tf.export.metadata`, with its role in the schedule) in the file and as the
sidecar key.json, frame{i}.json, named in the manifest.
"""
import dataclasses
import os
from typing import Callable, Dict, Optional, Sequence

import keras
import numpy as np
from tqdm import tqdm

from vipnas_tf.export.convert import INT8_NEEDS_DATA, QatOptions, convert
from vipnas_tf.export.data import chain_inputs
from vipnas_tf.export.metadata import provenance, sidecar_path
from vipnas_tf.export.parity import predict_keras
from vipnas_tf.litert.runners import MANIFEST
from vipnas_tf.temporal.schedule import Schedule
from vipnas_tf.utils.io import read_json, write_dir_atomic, write_json

# The conversion summary of a schedule folder (`convert_request` writes it).
SUMMARY = "convert_summary.json"


def convert_schedule(schedule: Schedule, key_model: keras.Model,
                     frame_model_fn: Callable[[int], keras.Model], out_dir, mode: str, *,
                     calibration_images: Optional[np.ndarray] = None,
                     qat_images: Optional[np.ndarray] = None, qat: Optional[QatOptions] = None,
                     eval_images: Optional[np.ndarray] = None, decode: bool = False,
                     name: Optional[str] = None, progress: bool = True, input_dtype: str = "float32",
                     key_provenance: Optional[Dict] = None) -> Dict:
    """Converts a video schedule to `out_dir`: key.tflite, frame{i}.tflite, manifest.json.

    Args:
        schedule: the `Schedule` (e.g. from `deploy.load_schedule`).
        key_model: the static key-frame model (image -> heatmaps).
        frame_model_fn: i (0-based) -> the static Keras model of frame i + 1 of a cycle
            (inputs: image crop, previous heatmaps).
        out_dir: the folder to write (atomically: a temp folder renamed at the end).
        mode: one of `convert.MODES`.
        calibration_images / qat_images: normalised crops [n, H, W, 3] for int8 / qat;
            each frame model's previous-heatmap inputs come from running the float
            models of the cycle in order on the same crops (`chain_inputs`).
        eval_images: crops for the per-model parity report (None: random inputs).
        decode: also output keypoints and scores from every model.
        input_dtype: "float32" or "uint8" image inputs (`convert.convert`).
        key_provenance: the key model's `metadata.provenance` (default: unknown).

    Returns:
        The summary: manifest fields plus per-model conversion summaries.
    """
    if mode in ("int8", "qat") and (calibration_images if mode == "int8" else qat_images) is None:
        raise ValueError(INT8_NEEDS_DATA.format(mode="int8 quantization" if mode == "int8" else "QAT"))
    num = schedule.num_frames
    models = [key_model] + [frame_model_fn(i) for i in range(num)]
    for i, m in enumerate(models[1:], 1):
        if len(m.inputs) != 2:
            raise ValueError(f"frame model {i} has {len(m.inputs)} inputs; a T-ViPNet takes 2 "
                             "(image crop, previous heatmaps)")
    data_images = calibration_images if mode == "int8" else qat_images
    chained = chain_inputs(models, data_images) if data_images is not None else None
    eval_chain = chain_inputs(models, eval_images) if eval_images is not None else None
    files = ["key.tflite"] + [f"frame{i + 1}.tflite" for i in range(num)]
    summaries = []
    costs = schedule_costs(schedule, [int(d) for d in key_model.inputs[0].shape[1:3]]) or {}
    frame_prov = provenance(f"temporal model {schedule.model_path}" if schedule.model_path
                            else "randomly initialised T-ViPNets", not schedule.model_path,
                            schedule.model_path)

    def fields(i):
        role = {"role": "key" if i == 0 else "frame", "frame_index": i,
                "key_frame_interval": schedule.key_frame_interval}
        if i == 0:
            arch = (costs.get("key") or {}).get("arch") or schedule.key_arch.to_string()
            return {"arch": arch, "provenance": key_provenance or {}, "extra": {"schedule": role}}
        frames = costs.get("frames") or [f.to_dict() for f in schedule.frames]
        arch = frames[i - 1].get("arch") if i - 1 < len(frames) else None
        return {"arch": arch, "provenance": frame_prov, "extra": {"schedule": role}}

    def fill(tmp):
        for i, (m, f) in enumerate(tqdm(list(zip(models, files)), desc=f"convert schedule ({mode})",
                                        disable=not progress)):
            kwargs = {}
            if mode == "int8":
                kwargs["calibration_inputs"] = chained[i]
            elif mode == "qat":
                targets = predict_keras(m, chained[i])
                x = chained[i]
                kwargs["qat_batches"] = _batches(x, targets, 8)
                kwargs["qat"] = qat
            if eval_chain is not None:
                kwargs["eval_inputs"] = eval_chain[i]
            _, s = convert(m, mode, os.path.join(tmp, f), decode=decode,
                           keypoint_layout=schedule.keypoint_layout, input_dtype=input_dtype,
                           metadata=fields(i), **kwargs)
            s.pop("metadata_path", None)
            s["path"] = f
            summaries.append(s)
        write_manifest(tmp, schedule, files, name=name or os.path.basename(os.path.normpath(out_dir)),
                       image_input=key_model.inputs[0].name.split(":")[0],
                       heatmap_input=_heatmap_input_name(models[1]), quantization=mode,
                       input_size=[int(d) for d in key_model.inputs[0].shape[1:3]], input_dtype=input_dtype)

    write_dir_atomic(out_dir, fill)
    manifest = read_json(os.path.join(out_dir, MANIFEST))
    return {"out_dir": os.path.abspath(out_dir), "manifest": manifest, "models": summaries,
            "keypoint_layout": schedule.keypoint_layout}


def _heatmap_input_name(frame_model):
    out_shape = tuple(frame_model.outputs[0].shape[1:])
    for inp in frame_model.inputs:
        if tuple(inp.shape[1:]) == out_shape:
            return inp.name.split(":")[0]
    return frame_model.inputs[1].name.split(":")[0]


def _batches(inputs, targets, batch_size):
    out = []
    for i in range(0, len(targets), batch_size):
        x = [a[i:i + batch_size] for a in inputs]
        out.append((x if len(x) > 1 else x[0], targets[i:i + batch_size]))
    return out


def schedule_costs(schedule: Schedule, input_size=None) -> Optional[Dict]:
    """`Schedule.describe()` at `input_size` (default the schedule's own), or None when
    the cost model has no figures there (an input size that is not a multiple of 32)."""
    size = schedule.input_size if input_size is None else tuple(int(v) for v in input_size)
    try:
        at_size = schedule if size == schedule.input_size else dataclasses.replace(schedule, input_size=size)
        return at_size.describe()
    except ValueError:
        return None


def write_manifest(folder, schedule: Schedule, files: Sequence[str], *, name: str,
                   image_input: str = "image", heatmap_input: Optional[str] = None,
                   quantization: str = "float32", input_size=None, input_dtype: str = "float32") -> Dict:
    """Writes folder/manifest.json in the benchmark's format (vipnas_tf/litert/runners.py);
    MACs and paper GFLOPs are the cost model's at `input_size` (`schedule_costs`). Each
    model's metadata sidecar (`metadata.sidecar_path`) is named when it exists."""
    size = list(input_size) if input_size is not None else list(schedule.input_size)
    costs = schedule_costs(schedule, size)
    key = costs["key"] if costs else {"arch": schedule.key_arch.to_string()}
    frames = costs["frames"] if costs else [f.to_dict() for f in schedule.frames]
    manifest = {
        "name": name, "key_model": files[0],
        "key_gflops": key.get("paper_gflops"), "key_macs": key.get("macs"),
        "frame_models": [{"file": f, "gflops": fr.get("paper_gflops"), "macs": fr.get("macs"),
                          "arch": fr.get("arch"), "fusion_op": fr.get("fusion_op"),
                          "fusion_stage": fr.get("fusion_stage")}
                         for f, fr in zip(files[1:], frames)],
        "key_frame_interval": schedule.key_frame_interval,
        "image_input": image_input,
        "quantization": quantization,
        "key_arch": key.get("arch"),
        "space": schedule.space,
        "input_size": size,
        "input_dtype": input_dtype,
    }
    for entry, file in [(manifest, files[0])] + list(zip(manifest["frame_models"], files[1:])):
        side = sidecar_path(file)
        if os.path.isfile(os.path.join(folder, side)):
            entry["key_metadata" if entry is manifest else "metadata"] = side
    if schedule.keypoint_layout:
        manifest["keypoint_layout"] = schedule.keypoint_layout
    gflops = [manifest["key_gflops"]] + [f["gflops"] for f in manifest["frame_models"]]
    if all(g is not None for g in gflops):
        manifest["avg_gflops"] = float(np.mean(gflops))
        manifest["avg_gflops_nonkey"] = float(np.mean(gflops[1:]))
    if heatmap_input:
        manifest["heatmap_input"] = heatmap_input
    write_json(os.path.join(folder, MANIFEST), manifest)
    return manifest
