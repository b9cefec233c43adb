"""Metadata that travels with a .tflite: in the flatbuffer, as the sidecar, and the signature."""
import json

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from tiny_models import build_tiny_pose_model
from vipnas_tf.codecs.dataset_info import COCO_INFO
from vipnas_tf.data.transforms import normalize_images_np
from vipnas_tf.export import convert as convert_lib, metadata

SIZE = (64, 48)


@pytest.fixture(scope="module")
def app_model(tmp_path_factory):
    """A 17-keypoint tiny model, uint8 input, with the decode: (model, path, summary)."""
    model = build_tiny_pose_model(k=17, size=SIZE, seed=2)
    path = tmp_path_factory.mktemp("app") / "pose.tflite"
    images = np.random.default_rng(0).standard_normal((3,) + SIZE + (3,)).astype(np.float32)
    prov = metadata.provenance("checkpoint ckpt-7", False, "/runs/imported",
                               {"mode": "static", "source": {"format": "mmpose", "sha256": "ab" * 32}})
    _, summary = convert_lib.convert(model, "float32", str(path), decode=True, keypoint_layout="coco",
                                     input_dtype="uint8", eval_inputs=[images],
                                     metadata={"arch": "tiny", "provenance": prov})
    return model, str(path), summary


def test_metadata_in_the_file_equals_the_sidecar(app_model):
    _, path, summary = app_model
    embedded = metadata.read_metadata(path)
    with open(metadata.sidecar_path(path), encoding="utf-8") as f:
        assert json.load(f) == embedded == summary["metadata"]
    assert summary["metadata_path"].endswith("pose.json")
    assert embedded["input_size"] == [64, 48] and embedded["input_dtype"] == "uint8"
    assert embedded["inputs"][0]["value_range"] == [0, 255] and embedded["color_order"] == "RGB"
    assert embedded["heatmap_stride"] == [4.0, 4.0] and embedded["heatmap_size"] == [16, 12]
    assert embedded["crop"]["padding"] == 1.25 and embedded["crop"]["aspect_ratio"] == 0.75
    kp = embedded["keypoints"]
    assert kp["names"] == list(COCO_INFO.keypoint_names)
    assert kp["flip_pairs"][0] == [1, 2] and [15, 13] in kp["skeleton"]
    assert embedded["arch"] == "tiny"
    assert embedded["provenance"]["checkpoint_sha256"] == "ab" * 32
    assert [o["name"] for o in embedded["outputs"]] == ["heatmaps", "keypoints", "scores"]


def test_signature_runner_takes_uint8_pixels(app_model):
    model, path, summary = app_model
    # Folded normalisation: the .tflite on pixels = Keras on the normalised pixels.
    assert summary["parity"]["max_abs_diff"] <= 1e-4 and summary["parity"]["argmax_identical"]
    assert summary["parity"]["output_scale"] > 1e-3
    runner = Interpreter(model_path=path).get_signature_runner("serving_default")
    assert runner.get_input_details()["image"]["dtype"] == np.uint8
    pixels = np.random.default_rng(1).integers(0, 256, (1,) + SIZE + (3,)).astype(np.uint8)
    out = runner(image=pixels)
    assert sorted(out) == ["heatmaps", "keypoints", "scores"]
    ref = np.asarray(model(normalize_images_np(pixels), training=False))
    np.testing.assert_allclose(out["heatmaps"], ref, atol=1e-4)
    assert out["keypoints"].shape == (1, 17, 2)


def test_embedding_replaces_an_entry_of_the_same_name(app_model):
    _, path, _ = app_model
    with open(path, "rb") as f:
        data = f.read()
    again = metadata.embed_metadata(data, {"a": 1})
    assert metadata.read_metadata(again) == {"a": 1}
    assert abs(len(again) - len(data)) < len(json.dumps(metadata.read_metadata(path), indent=1)) + 64


def test_bad_input_names_the_file_and_field(tmp_path):
    bogus = tmp_path / "x.tflite"
    bogus.write_bytes(b"0123456789")
    with pytest.raises(ValueError, match=f"{bogus}: not a TFLite flatbuffer"):
        metadata.read_metadata(str(bogus))
    with pytest.raises(ValueError, match=f"cannot read TFLite model {tmp_path / 'none.tflite'}"):
        metadata.read_metadata(str(tmp_path / "none.tflite"))
    with pytest.raises(ValueError, match="keypoint layout 'mpii'"):
        metadata.model_metadata(input_size=SIZE, heatmap_size=(16, 12), num_keypoints=17, keypoint_layout="mpii")
    with pytest.raises(ValueError, match="input dtype"):
        metadata.model_metadata(input_size=SIZE, heatmap_size=(16, 12), num_keypoints=17, input_dtype="int16")


def test_uint8_input_is_refused_for_qat():
    with pytest.raises(ValueError, match="not qat"):
        convert_lib.convert(build_tiny_pose_model(), "qat", qat_batches=[(None, None)], input_dtype="uint8")


def test_a_layout_of_another_keypoint_count_names_nothing():
    meta = metadata.model_metadata(input_size=(32, 24), heatmap_size=(8, 6), num_keypoints=5,
                                   keypoint_layout="coco", prev_heatmaps=True)
    assert meta["keypoints"]["names"] is None and meta["keypoints"]["layout"] == "coco"
    assert [i["name"] for i in meta["inputs"]] == ["image", "prev_heatmaps"]


def test_output_named_like_its_sidecar_is_refused(tmp_path):
    with pytest.raises(ValueError, match="m.json: a .tflite path is expected"):
        convert_lib.convert(build_tiny_pose_model(), "float32", str(tmp_path / "m.json"))
    assert not (tmp_path / "m.json").exists()
