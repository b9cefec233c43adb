"""A schedule folder with uint8-input models: every model's metadata, named in the manifest."""
import json
import os

import numpy as np
import pytest

from test_deploy import _schedule
from tiny_models import build_tiny_pose_model, sample_inputs
from vipnas_tf import litert
from vipnas_tf.export import metadata
from vipnas_tf.export.schedule_export import convert_schedule


@pytest.mark.slow
def test_uint8_schedule_models_carry_their_metadata(tmp_path):
    size = (64, 64)
    key = build_tiny_pose_model(k=17, size=size)
    frame = build_tiny_pose_model(k=17, size=size, seed=21, with_prev_heatmaps=True)
    out = tmp_path / "sched"
    schedule = _schedule(1, keypoint_layout="posetrack18")
    result = convert_schedule(schedule, key, lambda i: frame, out, "float32", decode=True, input_dtype="uint8",
                              eval_images=sample_inputs(key, 2, seed=1)[0], progress=False,
                              key_provenance=metadata.provenance("checkpoint x", False, "/runs/key"))
    manifest = litert.read_manifest(out)
    assert manifest["input_dtype"] == "uint8" and manifest["key_metadata"] == "key.json"
    assert manifest["frame_models"][0]["metadata"] == "frame1.json"
    for i, name in enumerate(["key", "frame1"]):
        meta = metadata.read_metadata(out / f"{name}.tflite")
        assert json.loads((out / f"{name}.json").read_text()) == meta
        assert meta["schedule"] == {"role": "key" if i == 0 else "frame", "frame_index": i,
                                    "key_frame_interval": 2}
        assert meta["keypoints"]["names"][1] == "head_bottom" and meta["input_dtype"] == "uint8"
        assert [x["name"] for x in meta["inputs"]] == ["image", "prev_heatmaps"][:i + 1]
    assert metadata.read_metadata(out / "key.tflite")["provenance"]["model_dir"] == "/runs/key"
    assert metadata.read_metadata(out / "frame1.tflite")["arch"] == manifest["frame_models"][0]["arch"]
    assert all(m["parity"]["max_abs_diff"] <= 1e-4 for m in result["models"])
    assert litert.ScheduleRunner(out).step().shape == (1, 16, 16, 17)
    assert not [p for p in os.listdir(out) if p.endswith(".summary.json")]
    assert np.isfinite(result["models"][1]["parity"]["keypoint_error_px"])
