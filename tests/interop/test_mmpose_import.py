"""Importing mmpose checkpoints: the imported network computes what mmpose computes.

Each of mmpose's three published networks is rebuilt in PyTorch from mmpose's structure
(`mmpose_twins.py`), given random weights and BN statistics, saved as an mmpose
checkpoint, imported, and compared on a real COCO crop with the PyTorch heatmaps: the
static Keras model, its float32 TFLite and its SavedModel. Run with `-s`
to see the figures (lines starting "parity").
"""
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import tensorflow as tf

from vipnas_tf.codecs.affine import bbox_xywh_to_center_scale, get_affine_matrix
from vipnas_tf.data.transforms import IMAGENET_MEAN_RGB, IMAGENET_STD_RGB, normalize_images_np, warp_crop
from vipnas_tf.export import convert as convert_lib, deploy
from vipnas_tf.export.savedmodel import export_savedmodel
from vipnas_tf.litert import run_tflite
from vipnas_tf.interop import mmpose as mm

torch = pytest.importorskip("torch", reason="the mmpose import tests need PyTorch (pip install -e '.[test]')")
from mmpose_twins import build_twin, randomize_and_calibrate  # noqa: E402

INPUT = (256, 192)
TOLERANCE = 1e-4  # of the heatmaps' max |value|
# How each network's checkpoint is saved: mmpose 1.x or 0.x keys, with or without
# the "state_dict" wrapper (covering all four combinations over the three networks
# and the script test).
SAVE_AS = {"s_vipnas_mbv3": ("1.x", True), "s_vipnas_res50": ("0.x", False), "sbl_res50": ("1.x", False)}


@pytest.fixture(scope="module")
def crops(shared_data):
    """The largest person of the mmpose COCO samples as a crop (uint8 RGB [1, 256, 192, 3])
    cut with the project's affine code, and its normalised form."""
    root = shared_data / "mmpose_samples" / "coco"
    ann = json.loads((root / "test_coco.json").read_text())
    images = {i["id"]: i for i in ann["images"]}
    people = sorted((a for a in ann["annotations"] if a["num_keypoints"] > 0), key=lambda a: -a["area"])
    out = []
    for a in people[:1]:
        bgr = cv2.imread(str(root / images[a["image_id"]]["file_name"]))
        center, scale = bbox_xywh_to_center_scale(a["bbox"], INPUT, 1.25)
        out.append(warp_crop(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), get_affine_matrix(center, scale, 0.0, INPUT),
                             INPUT))
    uint8 = np.stack(out)
    return uint8, normalize_images_np(uint8)


def _save(state, path, layout, wrapped):
    if layout == "0.x":
        state = {("keypoint_head." + k[len("head."):] if k.startswith("head.") else k): v for k, v in state.items()}
    torch.save({"meta": {"epoch": 210}, "state_dict": state} if wrapped else state, path)


@pytest.fixture(scope="module")
def twins(crops, tmp_path_factory):
    """name -> (PyTorch heatmaps [1, 64, 48, 17], checkpoint path); each
    PyTorch twin is built and saved once."""
    cache = {}

    def get(name):
        if name not in cache:
            torch.manual_seed(0)
            nchw = torch.from_numpy(np.ascontiguousarray(crops[1].transpose(0, 3, 1, 2)))
            twin, reference = randomize_and_calibrate(build_twin(name), nchw, seed=1)
            path = str(tmp_path_factory.mktemp(f"mmpose_{name}") / f"{name}_coco_256x192.pth")
            _save(twin.state_dict(), path, *SAVE_AS[name])
            cache[name] = reference, path
        return cache[name]

    return get


@pytest.fixture(scope="module", params=list(mm.MMPOSE_MODELS))
def imported(request, twins, tmp_path_factory):
    """(name, PyTorch heatmaps, checkpoint path, imported model dir)."""
    name = request.param
    reference, path = twins(name)
    model_dir = str(tmp_path_factory.mktemp(f"imported_{name}") / "model")
    if name == "s_vipnas_mbv3":  # the script, end to end
        root = str(request.config.rootpath)
        proc = subprocess.run([sys.executable, os.path.join(root, "scripts", "import_mmpose.py"),
                               f"--checkpoint={path}", f"--arch={name}", f"--output={model_dir}", "--json"],
                              capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": root})
        assert proc.returncode == 0, proc.stderr[-3000:]
        summary = json.loads(proc.stdout)
    else:
        summary = mm.import_checkpoint(path, name, model_dir)
    assert summary["output"] == os.path.abspath(model_dir)
    assert summary["layout"] == f"mmpose {SAVE_AS[name][0]}"
    return name, reference, path, model_dir


def _check(name, fmt, heatmaps, reference):
    heatmaps = np.asarray(heatmaps, np.float64)
    assert heatmaps.shape == reference.shape
    rel = float(np.abs(heatmaps - reference).max() / np.abs(reference).max())
    k = reference.shape[-1]
    same = heatmaps.reshape(len(heatmaps), -1, k).argmax(1) == reference.reshape(len(reference), -1, k).argmax(1)
    print(f"parity {name:15s} {fmt:8s} max|diff|/max|ref| = {rel:.2e}, argmax {int(same.sum())}/{same.size} joints")
    assert rel <= TOLERANCE, (name, fmt, rel)
    assert same.all(), (name, fmt, same)


@pytest.mark.slow
def test_run_config_records_arch_and_provenance(imported):
    name, _, path, model_dir = imported
    cfg = json.loads(open(os.path.join(model_dir, "run_config.json")).read())
    assert cfg["mode"] == "static" and cfg["preset"] == name and cfg["keypoint_layout"] == "coco"
    assert cfg["input_size"] == [256, 192]
    assert cfg["arch"] == mm.mmpose_arch(name).to_string() and cfg["arch"].endswith("/pad_symmetric")
    assert cfg["source"]["checkpoint"] == os.path.basename(path)
    assert cfg["source"]["sha256"] == mm.file_sha256(path)
    # mmpose's data preprocessor (RGB, ImageNet mean / std on 0..255) is the project's.
    assert IMAGENET_MEAN_RGB == (123.675, 116.28, 103.53) and IMAGENET_STD_RGB == (58.395, 57.12, 57.375)
    assert cfg["normalization"]["mean"] == list(IMAGENET_MEAN_RGB)


@pytest.mark.slow
def test_keras_tflite_and_savedmodel_compute_mmpose_heatmaps(imported, crops, tmp_path):
    name, reference, _, model_dir = imported
    uint8, images = crops
    loaded = deploy.load_static_model(None, model_dir)
    assert not loaded.random_init and loaded.arch.padding == "symmetric"
    _check(name, "keras", loaded.model(images, training=False), reference)

    # the app-ready file: uint8 RGB crops in, the normalisation folded into the graph
    _, summary = convert_lib.convert(loaded.model, "float32", str(tmp_path / "m.tflite"), eval_inputs=[images],
                                     input_dtype="uint8")
    lite = run_tflite(summary["path"], uint8)[0]
    _check(name, "tflite_u8", lite, reference)

    export_savedmodel(loaded.model, str(tmp_path / "sm"))
    served = tf.saved_model.load(str(tmp_path / "sm")).signatures["serving_default"](image=tf.constant(uint8))
    _check(name, "savedmdl", served["heatmaps"], reference)


# ------------------------------------------------------------------------------
# Errors: they name the checkpoint and the key, and nothing is written.


@pytest.fixture(scope="module")
def res50_state(twins):
    """The s_vipnas_res50 checkpoint's tensors (canonical keys)."""
    ckpt = mm.read_checkpoint(twins("s_vipnas_res50")[1])
    return {k: torch.from_numpy(v) for k, v in ckpt.tensors.items()}


def _import_fails(tmp_path, state_or_bytes, name, *expected):
    path = tmp_path / "bad.pth"
    if isinstance(state_or_bytes, bytes):
        path.write_bytes(state_or_bytes)
    else:
        torch.save({"state_dict": state_or_bytes}, str(path))
    out = tmp_path / "out" / "model"
    with pytest.raises(mm.MmposeImportError) as err:
        mm.import_checkpoint(str(path), name, str(out))
    message = str(err.value)
    assert str(path) in message, message
    for text in expected:
        assert text in message, message
    assert not out.exists()
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out")
    return message


@pytest.mark.slow
def test_missing_unexpected_and_misshapen_tensors_are_named(res50_state, tmp_path):
    state = dict(res50_state)
    del state["backbone.layer2.3.conv2.weight"]
    _import_fails(tmp_path, state, "s_vipnas_res50", "missing key 'backbone.layer2.3.conv2.weight'")

    state = dict(res50_state, **{"backbone.layer5.0.conv1.weight": torch.zeros(4, 4, 1, 1)})
    _import_fails(tmp_path, state, "s_vipnas_res50", "unexpected key 'backbone.layer5.0.conv1.weight'")

    state = dict(res50_state, **{"head.final_layer.weight": torch.zeros(17, 144, 3, 3)})
    _import_fails(tmp_path, state, "s_vipnas_res50", "shape mismatch for 'head.final_layer.weight'",
                  "expected [17, 144, 1, 1], found [17, 144, 3, 3]")


@pytest.mark.slow
def test_checkpoint_of_another_network_is_recognised(res50_state, tmp_path):
    _import_fails(tmp_path, dict(res50_state), "sbl_res50", "checkpoint of s_vipnas_res50", "--arch=s_vipnas_res50")
    _import_fails(tmp_path, dict(res50_state), "s_vipnas_mbv3", "checkpoint of s_vipnas_res50")
    # Matching no known network: the first missing and unexpected keys are named.
    state = {k: v for k, v in res50_state.items() if k != "backbone.bn1.weight"}
    message = _import_fails(tmp_path, state, "s_vipnas_mbv3", "not a s_vipnas_mbv3 checkpoint",
                            "missing key 'backbone.conv1.conv.weight'")
    assert "unexpected key 'backbone.conv1.weight'" in message


@pytest.mark.slow
def test_truncated_corrupt_and_mixed_files(twins, res50_state, tmp_path):
    path = twins("s_vipnas_res50")[1]
    data = open(path, "rb").read()
    _import_fails(tmp_path, data[: len(data) // 2], "s_vipnas_res50", "corrupt or truncated")
    _import_fails(tmp_path, b"not a checkpoint at all", "s_vipnas_res50", "corrupt or truncated")
    path_np = tmp_path / "with_numpy.pth"
    torch.save({"state_dict": dict(res50_state), "meta": {"sigmas": np.zeros(17)}}, str(path_np))
    with pytest.raises(mm.MmposeImportError, match="holds Python objects besides tensors"):
        mm.import_checkpoint(str(path_np), "s_vipnas_res50", str(tmp_path / "o"))
    mixed = dict(res50_state)
    mixed["keypoint_head.final_layer.bias"] = mixed["head.final_layer.bias"]
    _import_fails(tmp_path, mixed, "s_vipnas_res50", "both 'head.*'")
    with pytest.raises(mm.MmposeImportError, match="no such checkpoint file"):
        mm.import_checkpoint(str(tmp_path / "absent.pth"), "s_vipnas_res50", str(tmp_path / "o"))
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("x")
    with pytest.raises(mm.MmposeImportError, match="not an empty directory"):
        mm.import_checkpoint(path, "s_vipnas_res50", str(busy))
    assert os.listdir(busy) == ["keep.txt"]


def test_missing_torch_gives_install_hint(tmp_path, monkeypatch):
    path = tmp_path / "x.pth"
    path.write_bytes(b"\0")
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    with pytest.raises(mm.MmposeImportError, match=r"needs PyTorch.*vipnas-tf\[torch\]"):
        mm.read_checkpoint(str(path))
