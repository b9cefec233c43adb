"""One export job of `scripts/export_savedmodel.py`: a model or a video schedule as
SavedModels with a `serving_default` signature (`vipnas_tf.export.savedmodel`).

`SavedModelRequest` holds what the command line asks for; `run_savedmodel_export`
writes the folder(s) and returns the JSON summary. A schedule writes OUTPUT/key and
OUTPUT/frame{i}. Bad input raises ValueError.
"""
import dataclasses
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
    loaded = deploy.load_schedule(
        req.schedule, req.input_size, req.seed,
        frame_factory=deploy.frame_factory_from_spec(req.frame_factory) if req.frame_factory else None)
    schedule, key = loaded.schedule, loaded.key
    layout = schedule.keypoint_layout
    exports = {"key": export_savedmodel(key.model, os.path.join(req.output, "key"),
                                        metadata={"role": "key", "arch": schedule.key_arch.to_string(),
                                                  "weights": key.weights}, keypoint_layout=layout)}
    for i, frame in enumerate(schedule.frames):
        exports[f"frame{i + 1}"] = export_savedmodel(
            loaded.frame_model(i), os.path.join(req.output, f"frame{i + 1}"),
            metadata={"role": f"frame{i + 1}", **frame.to_dict()}, keypoint_layout=layout)
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
