"""`tflite/examples/run_pose.py` (ai-edge-litert, numpy and OpenCV only) against vipnas_tf's
own inference of the same .tflite on the shared samples."""
import ast
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from tests.export.tiny_models import build_tiny_pose_model
from vipnas_tf.codecs.affine import bbox_xywh_to_center_scale, get_affine_matrix, keypoints_crop_to_image
from vipnas_tf.codecs.heatmap import HeatmapCodec
from vipnas_tf.data.transforms import warp_crop
from vipnas_tf.export import convert as convert_lib
from vipnas_tf.litert.interpreter import dequantize_array, load_interpreter, quantize_array

SIZE = (64, 48)
K = 17
# Person 0 of the shared COCO sample 000000000785.jpg (test_coco.json).
IMAGE = os.path.join("mmpose_samples", "coco", "000000000785.jpg")
BOX = [280.79, 44.73, 218.7, 346.68]
VIDEO = os.path.join("mmpose_samples", "street_demo.mp4")
VIDEO_BOX = [380.0, 150.0, 120.0, 300.0]


def _run_pose(repo_root, *args):
    return subprocess.run([sys.executable, str(repo_root / "tflite" / "examples" / "run_pose.py"), *args],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def run_pose(repo_root):
    """The example as a module: its `main(argv)` runs in this process (no interpreter start)."""
    spec = importlib.util.spec_from_file_location("run_pose", repo_root / "tflite" / "examples" / "run_pose.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _main(module, capsys, *args):
    code = module.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def key_model(tmp_path_factory):
    """A tiny 17-keypoint model as uint8-input float32 .tflite (heatmaps only: the
    example decodes them itself)."""
    model = build_tiny_pose_model(k=K, size=SIZE, seed=3)
    path = tmp_path_factory.mktemp("run_pose") / "key.tflite"
    convert_lib.convert(model, "float32", str(path), input_dtype="uint8", keypoint_layout="coco")
    return str(path)


def _reference(paths, frames_bgr, box, interval):
    """vipnas_tf's inference: its crop, the .tflite through its LiteRT harness, its decode."""
    center, scale = bbox_xywh_to_center_scale(np.asarray(box, np.float32), SIZE)
    matrix = get_affine_matrix(center, scale, 0.0, SIZE)
    codec = HeatmapCodec(SIZE)
    interps = [load_interpreter(p) for p in paths]
    out, prev = [], None
    for i, image in enumerate(frames_bgr):
        interp = interps[i % interval]
        crop = warp_crop(image, matrix, SIZE)[..., ::-1][None]
        details = interp.get_input_details()
        for detail in details:
            if detail["name"].endswith("image") or len(details) == 1:
                interp.set_tensor(detail["index"], np.ascontiguousarray(crop).astype(np.uint8))
            else:
                interp.set_tensor(detail["index"], quantize_array(prev, detail))
        interp.invoke()
        heat = interp.get_output_details()[0]
        prev = dequantize_array(interp.get_tensor(heat["index"]), heat)
        kp, scores = codec.decode(prev)
        out.append((keypoints_crop_to_image(kp, center[None], scale[None], SIZE)[0], scores[0]))
    return out


def test_example_imports_only_litert_numpy_opencv(repo_root):
    tree = ast.parse((repo_root / "tflite" / "examples" / "run_pose.py").read_text())
    modules = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names}
    modules |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert modules <= {"argparse", "json", "os", "struct", "sys", "cv2", "numpy", "ai_edge_litert"}, modules


def test_image_keypoints_match_vipnas_tf(run_pose, capsys, shared_data, key_model, tmp_path):
    image_path = str(shared_data / IMAGE)
    # Without the sidecar the metadata comes from the flatbuffer itself.
    alone = tmp_path / "alone.tflite"
    shutil.copy(key_model, alone)
    assert run_pose.read_metadata(str(alone)) == run_pose.read_metadata(key_model)
    for model in (key_model, str(alone)):
        code, out, err = _main(run_pose, capsys, f"--model={model}", f"--image={image_path}",
                               "--box=" + ",".join(map(str, BOX)), f"--output={tmp_path / 'pose.jpg'}", "--json")
        assert code == 0, err
        got = json.loads(out)
        ((ref_kp, ref_scores),) = _reference([key_model], [cv2.imread(image_path)], BOX, 1)
        assert got["keypoint_names"][0] == "nose" and len(got["keypoints"]) == K
        np.testing.assert_allclose(got["keypoints"], ref_kp, atol=1e-3)
        np.testing.assert_allclose(got["scores"], ref_scores, atol=1e-5)
        # Keypoints spread over the box, not all at one corner.
        assert np.ptp(np.asarray(got["keypoints"]), axis=0).min() > 5
    assert cv2.imread(str(tmp_path / "pose.jpg")).shape == cv2.imread(image_path).shape


@pytest.mark.parametrize("args,match", [
    (["--box=1,2,3"], "x,y,width,height"),
    (["--box=5000,10,50,80"], "outside"),
    (["--image=/nonexistent.jpg"], "cannot read image /nonexistent.jpg"),
])
def test_bad_input_names_the_value(run_pose, capsys, shared_data, key_model, args, match):
    base = {"--model": key_model, "--image": str(shared_data / IMAGE), "--box": ",".join(map(str, BOX))}
    for a in args:
        base[a.split("=")[0]] = a.split("=", 1)[1]
    code, _, err = _main(run_pose, capsys, *[f"{k}={v}" for k, v in base.items()])
    assert code == 2 and match in err, err


def test_model_without_metadata_is_refused(run_pose, capsys, shared_data, tmp_path):
    bogus = tmp_path / "m.tflite"
    bogus.write_bytes(b"not a model at all")
    code, _, err = _main(run_pose, capsys, f"--model={bogus}", f"--image={shared_data / IMAGE}", "--box=1,2,30,40")
    assert code == 2 and str(bogus) in err and "TFL3" in err, err


def test_video_schedule_matches_vipnas_tf(repo_root, shared_data, key_model, tmp_path):
    """Key model, then a T-ViPNet fed its heatmaps (T = 1), over the shared street clip."""
    folder = tmp_path / "sched"
    folder.mkdir()
    shutil.copy(key_model, folder / "key.tflite")
    shutil.copy(os.path.splitext(key_model)[0] + ".json", folder / "key.json")
    frame = build_tiny_pose_model(k=K, size=SIZE, seed=4, with_prev_heatmaps=True)
    convert_lib.convert(frame, "float32", str(folder / "frame1.tflite"), input_dtype="uint8", decode=True,
                        keypoint_layout="coco")
    (folder / "manifest.json").write_text(json.dumps(
        {"key_model": "key.tflite", "frame_models": [{"file": "frame1.tflite"}], "key_frame_interval": 2}))
    video = str(shared_data / VIDEO)
    r = _run_pose(repo_root, f"--schedule_dir={folder}", f"--video={video}",
                  "--box=" + ",".join(map(str, VIDEO_BOX)), f"--output={tmp_path / 'pose.mp4'}", "--json")
    assert r.returncode == 0, r.stderr
    frames = json.loads(r.stdout)["frames"]
    capture = cv2.VideoCapture(video)
    images = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        images.append(image)
    assert len(frames) == len(images) == 5
    assert [f["model"] for f in frames] == ["key.tflite", "frame1.tflite"] * 2 + ["key.tflite"]
    ref = _reference([str(folder / "key.tflite"), str(folder / "frame1.tflite")], images, VIDEO_BOX, 2)
    for f, (kp, scores) in zip(frames, ref):
        np.testing.assert_allclose(f["keypoints"], kp, atol=1e-3)
        np.testing.assert_allclose(f["scores"], scores, atol=1e-5)
    assert os.path.getsize(tmp_path / "pose.mp4") > 0
