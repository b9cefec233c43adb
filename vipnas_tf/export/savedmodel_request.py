"""One export job of `scripts/export_savedmodel.py`: a model or a video schedule as
SavedModels with a `serving_default` signature (`vipnas_tf.export.savedmodel`).

`SavedModelRequest` holds what the command line asks for; `run_savedmodel_export`
writes the folder(s) and returns the JSON summary. A schedule writes OUTPUT/key and
OUTPUT/frame{i}. With `version` N the SavedModel goes to TF Serving's layout
OUTPUT/N/ (a schedule: OUTPUT/key/N/, OUTPUT/frame{i}/N/), and an existing version is
kept unless `overwrite`. `keras` also (or only) writes the static model as a `.keras`
file. Bad input raises ValueError before anything is written.
"""
import dataclasses
import os
import time
from typing import Optional

from vipnas_tf.export import deploy
from vipnas_tf.export.savedmodel import export_keras_file, export_savedmodel, serving_version_dir


@dataclasses.dataclass
class SavedModelRequest:
    """What to export (see `scripts/export_savedmodel.py` for each field's flag)."""

    output: Optional[str] = None
    arch: Optional[str] = None
    model_dir: Optional[str] = None
    input_size: Optional[str] = None
    schedule: Optional[str] = None
    frame_factory: Optional[str] = None
    seed: int = 0
    version: Optional[int] = None
    overwrite: bool = False
    keras: Optional[str] = None


def _target(base, req):
    """Where a SavedModel goes: `base`, or `base/N` for `--version=N` (checked)."""
    if req.version is None:
        return base
    return serving_version_dir(base, req.version, req.overwrite)


def _export_schedule(req):
    targets = {"key": _target(os.path.join(req.output, "key"), req)}
    loaded = deploy.load_schedule(
        req.schedule, req.input_size, req.seed,
        frame_factory=deploy.frame_factory_from_spec(req.frame_factory) if req.frame_factory else None)
    schedule, key = loaded.schedule, loaded.key
    layout = schedule.keypoint_layout
    for i in range(len(schedule.frames)):
        targets[f"frame{i + 1}"] = _target(os.path.join(req.output, f"frame{i + 1}"), req)
    exports = {"key": export_savedmodel(key.model, targets["key"],
                                        metadata={"role": "key", "arch": schedule.key_arch.to_string(),
                                                  "weights": key.weights}, keypoint_layout=layout)}
    for i, frame in enumerate(schedule.frames):
        exports[f"frame{i + 1}"] = export_savedmodel(
            loaded.frame_model(i), targets[f"frame{i + 1}"],
            metadata={"role": f"frame{i + 1}", **frame.to_dict()}, keypoint_layout=layout)
    return {"schedule": os.path.abspath(req.schedule), "exports": exports, "key_weights": key.weights}


def _export_single(req):
    if not req.arch and not req.model_dir:
        raise ValueError("give --arch (and/or --model_dir)")
    target = _target(req.output, req) if req.output else None
    if req.keras and os.path.exists(req.keras) and not req.overwrite:
        raise ValueError(f"--keras: {req.keras} exists (pass --overwrite to replace it)")
    loaded = deploy.load_static_model(req.arch, req.model_dir, req.input_size, req.seed)
    arch = loaded.arch.to_string() if loaded.arch else None
    summary = {}
    if target is not None:
        summary = export_savedmodel(loaded.model, target,
                                    metadata={"arch": arch, "input_size": list(loaded.input_size),
                                              "weights": loaded.weights}, keypoint_layout=loaded.keypoint_layout)
        if req.version is not None:
            summary.update(version=int(req.version), base_path=os.path.abspath(req.output))
    if req.keras:
        summary["keras"] = export_keras_file(loaded.model, req.keras)
    summary.update(arch=arch, input_size=list(loaded.input_size), weights=loaded.weights,
                   keypoint_layout=loaded.keypoint_layout, random_init=loaded.random_init)
    return summary


def run_savedmodel_export(req: SavedModelRequest):
    """Exports `req`'s model or schedule; the JSON summary (with "seconds")."""
    if req.schedule and req.keras:
        raise ValueError("--keras exports one model (--arch/--model_dir), not a --schedule")
    if not req.output and not req.keras:
        raise ValueError("give --output (the SavedModel folder) and/or --keras (a .keras file)")
    t0 = time.time()
    summary = _export_schedule(req) if req.schedule else _export_single(req)
    summary["seconds"] = round(time.time() - t0, 1)
    return summary
