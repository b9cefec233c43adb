"""One export job of `scripts/export_savedmodel.py`: a model or a video schedule as
SavedModels with a `serving_default` signature (`vipnas_tf.export.savedmodel`).

`SavedModelRequest` holds what the command line asks for; `run_savedmodel_export`
writes the folder(s) and returns the JSON summary. A schedule writes OUTPUT/key and
OUTPUT/frame{i}. Bad input raises ValueError.
"""
import dataclasses
import importlib
import os
import time
from typing import Optional

from vipnas_tf.export import deploy
from vipnas_tf.export.savedmodel import export_savedmodel


@dataclasses.dataclass
class SavedModelRequest:
    """What to export (see `scripts/export_savedmodel.py` for each field's flag)."""

    output: str
    arch: Optional[str] = None
    model_dir: Optional[str] = None
    input_size: Optional[str] = None
    schedule: Optional[str] = None
    frame_factory: Optional[str] = None
    seed: int = 0


def _export_schedule(req):
    schedule = deploy.read_schedule(req.schedule)
    size = deploy.parse_input_size(req.input_size or schedule["input_size"])
    key = deploy.load_static_model(schedule["key"]["arch"],
                                   deploy.schedule_path(schedule, schedule["key"].get("model_dir")), size, req.seed)
    if req.frame_factory:
        module, _, fn = req.frame_factory.partition(":")
        factory = getattr(importlib.import_module(module), fn)
        frame_fn = lambda i: factory(schedule, i, size)  # noqa: E731
    else:
        frame_fn = deploy.temporal_frame_factory(schedule, size, seed=req.seed)
    layout = schedule.get("keypoint_layout")
    exports = {"key": export_savedmodel(key.model, os.path.join(req.output, "key"),
                                        metadata={"role": "key", "arch": schedule["key"]["arch"],
                                                  "weights": key.weights}, keypoint_layout=layout)}
    for i, frame in enumerate(schedule["frames"]):
        exports[f"frame{i + 1}"] = export_savedmodel(
            frame_fn(i), os.path.join(req.output, f"frame{i + 1}"),
            metadata={"role": f"frame{i + 1}", "arch": frame["arch"], "fusion_op": frame.get("fusion_op"),
                      "fusion_stage": frame.get("fusion_stage")}, keypoint_layout=layout)
    return {"schedule": os.path.abspath(req.schedule), "exports": exports, "key_weights": key.weights}


def _export_single(req):
    if not req.arch and not req.model_dir:
        raise ValueError("give --arch (and/or --model_dir)")
    loaded = deploy.load_static_model(req.arch, req.model_dir, req.input_size, req.seed)
    arch = loaded.arch.to_string() if loaded.arch else None
    summary = export_savedmodel(loaded.model, req.output,
                                metadata={"arch": arch, "input_size": list(loaded.input_size),
                                          "weights": loaded.weights}, keypoint_layout=loaded.keypoint_layout)
    summary.update(arch=arch, input_size=list(loaded.input_size), weights=loaded.weights,
                   keypoint_layout=loaded.keypoint_layout, random_init=loaded.random_init)
    return summary


def run_savedmodel_export(req: SavedModelRequest):
    """Exports `req`'s model or schedule; the JSON summary (with "seconds")."""
    t0 = time.time()
    summary = _export_schedule(req) if req.schedule else _export_single(req)
    summary["seconds"] = round(time.time() - t0, 1)
    return summary
