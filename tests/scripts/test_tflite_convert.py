"""`tflite/convert.py --input=uint8 --decode`: the app-ready file, its metadata and saved summary."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from vipnas_tf.export.convert_request import ConvertRequest, run_convert


@pytest.mark.slow
def test_cli_uint8_input_with_decode(repo_root, tmp_path):
    out = tmp_path / "app.tflite"
    r = subprocess.run([sys.executable, str(repo_root / "tflite" / "convert.py"), "--arch=s_vipnas_mbv3",
                        "--quantization=float32", "--input=uint8", "--decode", "--input_size=64x64",
                        f"--output={out}", "--json"], capture_output=True, text=True, timeout=900, check=False,
                       env=dict(os.environ, PYTHONPATH=str(repo_root)))
    assert r.returncode == 0, r.stderr[-3000:]
    printed = json.loads(r.stdout)
    saved = json.loads((tmp_path / "app.summary.json").read_text())
    assert saved == printed and printed["summary_path"] == str(tmp_path / "app.summary.json")
    assert printed["input_dtype"] == "uint8" and printed["cost"]["macs"] > 0
    # Random weights on pixel-range crops give heatmaps in the hundreds: compare relatively.
    assert printed["parity"]["relative_max_abs_diff"] <= 1e-3 and printed["parity"]["argmax_identical"]
    meta = json.loads((tmp_path / "app.json").read_text())
    assert meta == printed["metadata"] and meta["arch"] == printed["arch"]
    assert meta["provenance"]["random_init"] and meta["input_size"] == [64, 64]
    runner = Interpreter(model_path=str(out)).get_signature_runner("serving_default")
    result = runner(image=np.full((1, 64, 64, 3), 128, np.uint8))
    assert sorted(result) == ["heatmaps", "keypoints", "scores"] and result["keypoints"].shape == (1, 17, 2)


def test_uint8_with_qat_is_refused_before_anything_loads(tmp_path):
    request = ConvertRequest(quantization="qat", output=str(tmp_path / "m.tflite"), arch="s_vipnas_mbv3",
                             data="/nonexistent.json", image_root="/tmp", input_dtype="uint8")
    with pytest.raises(ValueError, match="--input=uint8 .* not qat"):
        run_convert(request)
    assert not (tmp_path / "m.tflite").exists()
