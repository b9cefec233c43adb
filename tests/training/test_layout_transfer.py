"""One meaning per heatmap channel: the keypoint layout of a run, `init_from` across
layouts (COCO -> PoseTrack18 channel mapping), and the refusals of layout mismatches.
No training step runs here (no graph tracing): the Trainer is only constructed."""
import json
import os

import numpy as np
import pytest

from vipnas_tf.arch import get_space
from vipnas_tf.codecs import LayoutMismatchError
from vipnas_tf.models import build_supernet
from vipnas_tf.testing.model_dirs import make_supernet_dir
from vipnas_tf.training import ModelDirError, TrainConfig
from vipnas_tf.training.model_dir import keypoint_layout_of_run
from vipnas_tf.training.layout_transfer import restore_for_layout

pytestmark = pytest.mark.slow  # traces super-networks / runs the real commands

COPIED = (0, 3, 4) + tuple(range(5, 17))


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    from vipnas_tf.data.synthetic import generate

    root = tmp_path_factory.mktemp("layouts")
    generate(str(root), images=8, clips=4, frames=5, workers=1, progress=False, val_fraction=0.5, seed=2)
    pt, coco = root / "posetrack", root / "coco"
    return {"posetrack": {"train_ann": str(pt / "annotations" / "train"), "train_images": str(pt),
                          "val_ann": str(pt / "annotations" / "val"), "val_images": str(pt)},
            "coco": {"train_ann": str(coco / "annotations" / "person_keypoints_train.json"),
                     "train_images": str(coco / "images" / "train"),
                     "val_ann": str(coco / "annotations" / "person_keypoints_val.json"),
                     "val_images": str(coco / "images" / "val")}}


@pytest.fixture(scope="module")
def coco_run(tmp_path_factory):
    """A randomised COCO-layout stand-alone run (what the COCO fine-tune leaves)."""
    d = str(tmp_path_factory.mktemp("coco_run") / "run")
    arch = get_space("mobilenetv3").min()
    net = make_supernet_dir(d, "mobilenetv3", (64, 64), mode="standalone", arch=arch, randomize=True, seed=5,
                            keypoint_layout="coco")
    return d, net, arch


def _conv(net):
    return net.head_final_conv.kernel.numpy(), net.head_final_conv.bias.numpy()


def test_init_from_coco_copies_mapped_channels_and_redraws_head_slots(coco_run):
    d, src, _ = coco_run
    k_src, b_src = _conv(src)
    net = build_supernet("mobilenetv3", (64, 64))
    _, source, fresh = restore_for_layout(net, d, "posetrack18", seed=1)
    assert source == "coco" and fresh == (1, 2)
    k, b = _conv(net)
    for t in COPIED:
        np.testing.assert_array_equal(k[..., t], k_src[..., t])
        assert b[t] == b_src[t]
    for t in (1, 2):  # head_bottom / head_top: re-drawn N(0, 0.001), zero bias
        assert not np.allclose(k[..., t], k_src[..., t])
        assert np.std(k[..., t]) == pytest.approx(0.001, rel=0.15) and abs(np.mean(k[..., t])) < 2e-4
        assert b[t] == 0.0
    assert np.abs(b_src[1:3]).max() > 0  # the source's were not zero (randomised run)
    # every other weight restored as is
    for a, c in zip(src.weights, net.weights):
        if not a.path.startswith("head_final_conv/"):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(c), err_msg=a.path)
    # the same layout is a plain restore
    same = build_supernet("mobilenetv3", (64, 64))
    assert restore_for_layout(same, d, "coco")[2] == ()
    np.testing.assert_array_equal(_conv(same)[0], k_src)


def test_layout_pair_without_mapping_is_refused(tmp_path):
    d = _key_dir(tmp_path, "posetrack18")  # refused before any checkpoint is read
    net = build_supernet("mobilenetv3", (64, 64))
    before = _conv(net)[0]
    with pytest.raises(LayoutMismatchError, match=r"'posetrack18' to 'coco'") as e:
        restore_for_layout(net, d, "coco")
    assert d in str(e.value)
    np.testing.assert_array_equal(_conv(net)[0], before)  # nothing restored


def test_layout_of_a_run_without_the_field(tmp_path, synthetic):
    d = tmp_path / "old"
    d.mkdir()
    (d / "run_config.json").write_text(json.dumps({"mode": "standalone", "train_ann": synthetic["posetrack"]["train_ann"]}))
    assert keypoint_layout_of_run(str(d)) == "posetrack18"  # from its own training annotations
    (d / "run_config.json").write_text(json.dumps({"mode": "standalone", "train_ann": "/gone/train.json"}))
    with pytest.raises(ModelDirError) as e:
        keypoint_layout_of_run(str(d))
    msg = str(e.value)
    assert str(d / "run_config.json") in msg and "'keypoint_layout'" in msg and "/gone/train.json" in msg
    assert '"keypoint_layout": "coco"' in msg and '"posetrack18"' in msg  # how to fix it


def test_posetrack_standalone_run_records_layout_maps_init_and_never_trains_ears(tmp_path, synthetic, coco_run):
    from vipnas_tf.evaluation import PoseTrackEvaluator
    from vipnas_tf.training import Trainer

    d, src, arch = coco_run
    cfg = TrainConfig(mode="standalone", space="mobilenetv3", arch=arch.to_string(), input_size=(64, 64),
                      batch_size=4, train_steps=2, init_from=d, augment=False, **synthetic["posetrack"])
    trainer = Trainer(cfg, str(tmp_path / "pt"), progress=False)
    with open(tmp_path / "pt" / "run_config.json") as f:
        run_config = json.load(f)
    assert run_config["keypoint_layout"] == "posetrack18" and run_config["data_format"] == "auto"
    k, b = _conv(trainer.model)
    k_src, _ = _conv(src)
    np.testing.assert_array_equal(k[..., 5:], k_src[..., 5:])
    assert b[1] == b[2] == 0.0
    batch = next(iter(trainer.task.train_dataset(0, 4)))
    tw = batch["target_weight"].numpy()
    assert tw[:, 3:5].max() == 0.0 and tw[:, 5:].max() == 1.0  # ear slots: target weight 0
    assert isinstance(trainer.task.evaluator(), PoseTrackEvaluator)  # PoseTrack mAP, not COCO AP
    # the same model_dir cannot be resumed by a run of another layout
    coco_cfg = TrainConfig(mode="standalone", space="mobilenetv3", arch=arch.to_string(), input_size=(64, 64),
                           batch_size=4, train_steps=2, **synthetic["coco"])
    with pytest.raises(ValueError, match="keypoint_layout='posetrack18'"):
        Trainer(coco_cfg, str(tmp_path / "pt"), progress=False)


def test_validation_set_of_another_layout_is_refused(tmp_path, synthetic):
    from vipnas_tf.training import Trainer

    cfg = TrainConfig(mode="standalone", space="mobilenetv3", arch=get_space("mobilenetv3").min().to_string(),
                      input_size=(64, 64), batch_size=4, train_steps=2,
                      **dict(synthetic["posetrack"], val_ann=synthetic["coco"]["val_ann"],
                             val_images=synthetic["coco"]["val_images"]))
    with pytest.raises(LayoutMismatchError) as e:
        Trainer(cfg, str(tmp_path / "x"), progress=False)
    assert synthetic["coco"]["val_ann"] in str(e.value) and "'coco'" in str(e.value) and "'posetrack18'" in str(e.value)


def _key_dir(tmp_path, layout, input_size=(64, 64)):
    d = tmp_path / f"key_{layout}_{input_size[0]}"
    d.mkdir()
    cfg = {"mode": "standalone", "space": "mobilenetv3", "arch": get_space("mobilenetv3").min().to_string(),
           "input_size": list(input_size), "keypoint_layout": layout}
    (d / "run_config.json").write_text(json.dumps(cfg))
    return str(d)


def test_temporal_run_refuses_key_model_of_another_layout_or_size(tmp_path, synthetic):
    from vipnas_tf.training.temporal import TemporalTask

    def config(key_dir):
        return TrainConfig(mode="temporal", space="mobilenetv3", input_size=(64, 64), key_model_dir=key_dir,
                           **synthetic["posetrack"])

    coco_key = _key_dir(tmp_path, "coco")
    with pytest.raises(LayoutMismatchError) as e:
        TemporalTask(config(coco_key))
    msg = str(e.value)
    assert coco_key in msg and synthetic["posetrack"]["train_ann"] in msg and "'coco'" in msg and "'posetrack18'" in msg
    task = TemporalTask(config(_key_dir(tmp_path, "posetrack18")))
    assert task.keypoint_layout == "posetrack18" and task.run_config_extra()["keypoint_layout"] == "posetrack18"
    big = _key_dir(tmp_path, "posetrack18", (128, 96))
    with pytest.raises(ValueError) as e:
        TemporalTask(config(big))
    msg = str(e.value)
    assert os.path.join(big, "run_config.json") in msg and "'input_size'" in msg
    assert "[128, 96]" in msg and "[64, 64]" in msg
