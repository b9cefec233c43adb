"""SavedModel export: serving_default takes uint8 crops, returns heatmaps/keypoints/scores."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tiny_models import K
from vipnas_tf.codecs.heatmap import HeatmapCodec
from vipnas_tf.data.transforms import IMAGENET_MEAN_RGB, IMAGENET_STD_RGB
from vipnas_tf.export.savedmodel import SIGNATURE, export_savedmodel, serving_version_dir
from vipnas_tf.export.savedmodel_request import SavedModelRequest, run_savedmodel_export

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _normalize(images):
    return (images.astype(np.float32) - np.asarray(IMAGENET_MEAN_RGB, np.float32)) / np.asarray(
        IMAGENET_STD_RGB, np.float32)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_model):
    """The tiny model in TF Serving's layout: BASE/1/."""
    out = tmp_path_factory.mktemp("sm") / "tiny" / "1"
    summary = export_savedmodel(tiny_model, serving_version_dir(out.parent, 1), metadata={"arch": "tiny"},
                                keypoint_layout="posetrack18")
    return out, summary


def test_serving_default_matches_keras(exported, tiny_model):
    out, summary = exported
    assert summary["inputs"] == {"image": [[None, 32, 24, 3], "uint8"]}
    assert set(summary["outputs"]) == {"heatmaps", "keypoints", "scores"}
    sig = tf.saved_model.load(str(out)).signatures[SIGNATURE]
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 24, 3), dtype=np.uint8)
    got = {k: v.numpy() for k, v in sig(image=tf.constant(images)).items()}
    ref = np.asarray(tiny_model(_normalize(images), training=False))
    assert np.abs(ref).max() > 1e-2
    np.testing.assert_allclose(got["heatmaps"], ref, atol=1e-4)
    kp, sc = HeatmapCodec((32, 24), heatmap_size=(8, 6)).decode_tf(tf.constant(ref))
    np.testing.assert_allclose(got["keypoints"], kp.numpy(), atol=1e-3)
    np.testing.assert_allclose(got["scores"], sc.numpy(), atol=1e-4)
    assert got["keypoints"].shape == (3, K, 2)
    meta = json.loads((out / "assets" / "vipnas_export.json").read_text())
    # what each heatmap channel means travels with the model
    assert meta == {"arch": "tiny", "keypoint_layout": "posetrack18", "input_size": [32, 24]}
    assert summary["keypoint_layout"] == "posetrack18"


def test_two_input_tvipnet_signature(tmp_path, tiny_temporal_model):
    out = tmp_path / "tvip"
    summary = export_savedmodel(tiny_temporal_model, out)
    assert summary["inputs"]["prev_heatmaps"] == [[None, 8, 6, K], "float32"]
    sig = tf.saved_model.load(str(out)).signatures[SIGNATURE]
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (2, 32, 24, 3), dtype=np.uint8)
    prev = rng.uniform(0, 1, (2, 8, 6, K)).astype(np.float32)
    got = sig(image=tf.constant(images), prev_heatmaps=tf.constant(prev))["heatmaps"].numpy()
    ref = np.asarray(tiny_temporal_model([_normalize(images), prev], training=False))
    np.testing.assert_allclose(got, ref, atol=1e-4)


def test_export_replaces_atomically(exported, tiny_model):
    out, _ = exported
    before = sorted(os.listdir(out))
    export_savedmodel(tiny_model, out)  # over an existing SavedModel
    assert sorted(os.listdir(out)) == before
    leftovers = [p for p in os.listdir(out.parent) if ".tmp-" in p or ".old-" in p]
    assert not leftovers


def test_tf_serving_version_layout(exported, tiny_model):
    version, summary = exported
    base = version.parent
    assert os.listdir(base) == ["1"]  # nothing else a model server would try to load
    assert {"saved_model.pb", "variables"} <= set(os.listdir(version))
    assert any(p.startswith("variables.data-") for p in os.listdir(version / "variables"))
    assert "variables.index" in os.listdir(version / "variables")
    assert summary["path"] == str(version)
    sig = tf.saved_model.load(str(version)).signatures[SIGNATURE]
    images = np.random.default_rng(2).integers(0, 256, (2, 32, 24, 3), dtype=np.uint8)
    got = sig(image=tf.constant(images))["heatmaps"].numpy()
    np.testing.assert_allclose(got, np.asarray(tiny_model(_normalize(images), training=False)), atol=1e-4)
    # An existing version is kept: refused before any model is built or written.
    stamp = os.path.getmtime(version / "saved_model.pb")
    with pytest.raises(ValueError, match=r"tiny/1 exists.*--overwrite"):
        run_savedmodel_export(SavedModelRequest(output=str(base), arch="s_vipnas_mbv3", version=1))
    assert os.listdir(base) == ["1"] and os.path.getmtime(version / "saved_model.pb") == stamp
    assert serving_version_dir(base, 1, overwrite=True) == str(version)
    assert serving_version_dir(base, 2) == str(base / "2")
    for bad in (0, -3, "1", 1.5):
        with pytest.raises(ValueError, match="positive integer"):
            serving_version_dir(base, bad)


@pytest.mark.skipif(shutil.which("saved_model_cli") is None, reason="saved_model_cli not on PATH")
@pytest.mark.slow
def test_saved_model_cli_lists_the_signature(exported):
    out, _ = exported
    r = subprocess.run(["saved_model_cli", "show", "--dir", str(out), "--tag_set", "serve",
                        "--signature_def", SIGNATURE], capture_output=True, text=True, timeout=300,
                       check=True)
    for name in ("inputs['image']", "DT_UINT8", "outputs['heatmaps']", "outputs['keypoints']",
                 "outputs['scores']"):
        assert name in r.stdout, r.stdout


@pytest.mark.slow
def test_cli_export_savedmodel(tmp_path):
    out = tmp_path / "sm"
    keras_path = tmp_path / "pose.keras"
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "export_savedmodel.py"),
                        "--arch=s_vipnas_mbv3", f"--output={out}", "--input_size=64x64", "--version=3",
                        f"--keras={keras_path}"],
                       capture_output=True, text=True, timeout=600, env=env, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads(r.stdout[r.stdout.index("{"):])
    assert s["random_init"] and s["outputs"]["keypoints"] == [[None, 17, 2], "float32"]
    assert s["version"] == 3 and s["path"] == str(out / "3") and os.listdir(out) == ["3"]
    assert s["keras"]["path"] == str(keras_path) and s["keras"]["reload_max_abs_diff"] == 0.0
    sig = tf.saved_model.load(str(out / "3")).signatures[SIGNATURE]
    y = sig(image=tf.zeros([1, 64, 64, 3], tf.uint8))
    assert y["heatmaps"].shape == (1, 16, 16, 17)
