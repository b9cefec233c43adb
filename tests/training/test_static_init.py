"""A "static" model directory (imported mmpose weights: one network with PyTorch's
padding) as `init_from` of a stand-alone fine-tune and as `key_model_dir` of a temporal
run: the runs' super-networks pad as it does and start from its weights exactly; what
must still be refused is refused with the file and the field named.

The static directory is written without torch, through the writer `import_mmpose.py`
uses, with random weights."""
import dataclasses
import json
import os

import cv2
import numpy as np
import pytest

from vipnas_tf.arch import get_space, parse_arch
from vipnas_tf.codecs.affine import bbox_xywh_to_center_scale, get_affine_matrix
from vipnas_tf.data.transforms import normalize_images_np, warp_crop
from vipnas_tf.export.deploy import load_static_model
from vipnas_tf.interop.mmpose import write_static_model_dir
from vipnas_tf.models import build_static, build_supernet
from vipnas_tf.models.random_init import calibrate_batch_norm, randomize_weights
from vipnas_tf.training import Trainer, TrainConfig
from vipnas_tf.training.layout_transfer import restore_for_layout
from vipnas_tf.training.model_dir import load_model, read_run_config

pytestmark = pytest.mark.slow  # trains (a stand-alone and a temporal run, one step each)

SIZE = (64, 64)
COPIED = (0, 3, 4) + tuple(range(5, 17))  # COCO -> PoseTrack18 channels carried over


def _small_arch():
    """The smallest MobileNetV3 S-ViPNet, padded like PyTorch (as an imported network)."""
    return dataclasses.replace(get_space("mobilenetv3").min(), padding="symmetric")


def _write_static(path, layout, seed):
    arch = _small_arch()
    model = randomize_weights(build_static(arch, SIZE), seed=seed)
    # BN statistics of N(0, 1) inputs, so that the heatmaps depend on the image
    calibrate_batch_norm(model, np.random.default_rng(seed).standard_normal((4, *SIZE, 3)).astype(np.float32))
    write_static_model_dir(model, arch, path, SIZE, {"format": "test", "seed": seed}, keypoint_layout=layout)
    return model


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from vipnas_tf.data.synthetic import generate, training_paths

    root = str(tmp_path_factory.mktemp("static_init_data"))
    generate(root, images=8, clips=4, frames=5, workers=1, progress=False, val_fraction=0.5, seed=4)
    return {"posetrack": training_paths(root, "posetrack"), "coco": training_paths(root, "coco")}


@pytest.fixture(scope="module")
def static_dir(tmp_path_factory):
    """(directory, static model) of a PoseTrack18-layout "static" directory."""
    d = str(tmp_path_factory.mktemp("static") / "imported")
    return d, _write_static(d, "posetrack18", seed=3)


def _config(data, **kw):
    base = dict(space="mobilenetv3", input_size=SIZE, batch_size=2, train_steps=1, eval_every=-1,
                log_every=1, checkpoint_every=1, learning_rate=1e-3, lr_schedule="constant", num_random=0,
                **data["posetrack"])
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def crops(shared_data):
    """The two largest persons of the mmpose COCO samples as normalised 64x64 crops."""
    root = shared_data / "mmpose_samples" / "coco"
    ann = json.loads((root / "test_coco.json").read_text())
    images = {i["id"]: i for i in ann["images"]}
    people = sorted((a for a in ann["annotations"] if a["num_keypoints"] > 0), key=lambda a: -a["area"])[:2]
    out = []
    for a in people:
        rgb = cv2.cvtColor(cv2.imread(str(root / images[a["image_id"]]["file_name"])), cv2.COLOR_BGR2RGB)
        center, scale = bbox_xywh_to_center_scale(np.asarray(a["bbox"], np.float32), SIZE, 1.25)
        out.append(warp_crop(rgb, get_affine_matrix(center, scale, 0.0, SIZE), SIZE))
    return normalize_images_np(np.stack(out))


def test_standalone_fine_tune_starts_from_the_static_model_and_keeps_its_padding(data, static_dir, crops, tmp_path):
    d, static = static_dir
    arch = _small_arch()
    # --arch given as the space's point without the padding: the run takes init_from's.
    config = _config(data, mode="standalone", arch=dataclasses.replace(arch, padding="same").to_string(),
                     init_from=d, train_steps=1)
    trainer = Trainer(config, str(tmp_path / "ft"), progress=False)
    net = trainer.model
    assert net.padding == "symmetric" and trainer.task.arch == arch
    x = crops
    ref = static(x, training=False).numpy()
    got = net(x, arch=arch, training=False).numpy()
    assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max()
    cfg = read_run_config(str(tmp_path / "ft"))
    assert cfg["padding"] == "symmetric" and cfg["arch"] == arch.to_string()
    summary = trainer.train()
    assert summary["final_step"] == 1
    # The run is a stand-alone model directory like any other; its export pads like PyTorch again.
    loaded = load_static_model(model_dir=str(tmp_path / "ft"))
    assert loaded.arch == arch and loaded.model.get_layer("stem_conv_pad") is not None
    reloaded, _ = load_model(str(tmp_path / "ft"))
    assert reloaded.padding == "symmetric"
    after = loaded.model(x, training=False).numpy()
    np.testing.assert_allclose(after, reloaded(x, arch=arch, training=False).numpy(), atol=1e-5 * np.abs(after).max())
    assert np.abs(after - ref).max() > 0  # it trained


def test_temporal_run_keys_on_the_static_model(data, static_dir, crops, tmp_path):
    d, static = static_dir
    arch = _small_arch()
    config = _config(data, mode="temporal", key_model_dir=d, num_frames=1, train_steps=1, distill=False)
    trainer = Trainer(config, str(tmp_path / "temporal"), progress=False)
    model = trainer.model
    assert model.temporal.padding == "symmetric" and model.key_model.padding == "symmetric"
    x = crops
    ref = static(x, training=False).numpy()
    np.testing.assert_allclose(model.key_heatmaps(x).numpy(), ref, atol=1e-5 * np.abs(ref).max())
    # The T-ViPNet starts from the key's weights (paper Sec. 3.4.2): its spatial
    # network, without fusion, is the key network.
    spatial = model.temporal.spatial(x, arch=arch, training=False).numpy()
    np.testing.assert_allclose(spatial, ref, atol=1e-5 * np.abs(ref).max())
    assert trainer.train()["final_step"] == 1
    cfg = read_run_config(str(tmp_path / "temporal"))
    assert cfg["padding"] == "symmetric" and parse_arch(cfg["key_arch"]) == arch
    reloaded, _ = load_model(str(tmp_path / "temporal"))
    assert reloaded.temporal.padding == "symmetric"
    np.testing.assert_allclose(reloaded.key_heatmaps(x).numpy(), ref, atol=1e-5 * np.abs(ref).max())
    frame = reloaded.temporal.temporal_space.min()
    assert frame.spatial.padding == "symmetric"
    assert "stem_conv_pad" in [l.name for l in reloaded.temporal.extract(frame, SIZE).layers]


def test_static_dir_of_another_layout_goes_through_the_channel_mapping(crops, tmp_path):
    d = str(tmp_path / "coco_static")
    static = _write_static(d, "coco", seed=7)
    net = build_supernet("mobilenetv3", SIZE, padding="symmetric")
    _, source, fresh = restore_for_layout(net, d, "posetrack18", seed=1)
    assert source == "coco" and fresh == (1, 2)
    x = crops
    ref = static(x, training=False).numpy()
    got = net(x, arch=_small_arch(), training=False).numpy()
    np.testing.assert_allclose(got[..., list(COPIED)], ref[..., list(COPIED)], atol=1e-5 * np.abs(ref).max())
    with pytest.raises(ValueError, match="pads 'symmetric', the super-network to load it into 'same'"):
        restore_for_layout(build_supernet("mobilenetv3", SIZE), d, "coco")


def test_what_a_static_dir_still_cannot_start(data, static_dir, tmp_path):
    d, _ = static_dir
    cfg_file = os.path.join(d, "run_config.json")
    other = get_space("mobilenetv3").max().to_string()
    with pytest.raises(ValueError, match=rf"arch '{other}' .* is not the architecture of init_from"):
        _config(data, mode="standalone", arch=other, init_from=d).validate()
    with pytest.raises(ValueError, match=rf"{cfg_file}: field 'arch' is an architecture of space "
                                         r"'mobilenetv3', this run's space is 'resnet50'"):
        _config(data, mode="temporal", space="resnet50", key_model_dir=d).validate()
    with pytest.raises(ValueError, match="init_from: .* is a 'static' model directory .* not a 'supernet' run"):
        _config(data, mode="supernet", init_from=d).validate()
    _config(data, mode="standalone", init_from=d).validate()  # --arch may be left out
    # An architecture outside the space (SimpleBaseline-Res50) has no super-network to train in.
    from vipnas_tf.interop.mmpose import mmpose_arch

    sbl = str(tmp_path / "sbl")
    os.makedirs(sbl)
    with open(os.path.join(sbl, "run_config.json"), "w") as f:
        f.write('{"mode": "static", "space": "resnet50", "arch": "%s", "keypoint_layout": "coco"}'
                % mmpose_arch("sbl_res50").to_string())
    with pytest.raises(ValueError, match=r"field 'arch' .* is not a point of the resnet50 search space.*--keras="):
        _config(data, mode="standalone", space="resnet50", init_from=sbl).validate()
