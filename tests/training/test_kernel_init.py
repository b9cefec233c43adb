"""Kernel initialisation schemes (`--kernel_init`): what "he" re-draws, what it keeps at
the paper's N(0, 0.001), and that only a fresh run is re-drawn (never a resumed one)."""
import json
import os

import numpy as np
import pytest

from vipnas_tf.arch import get_space
from vipnas_tf.models import build_supernet
from vipnas_tf.training.init import initialize_kernels


def _net():
    import tensorflow as tf

    space = get_space("mobilenetv3")
    net = build_supernet(space, input_size=(64, 64))
    net(tf.zeros((1, 64, 64, 3)), arch=space.encode(space.max()).astype("int32"), training=False)
    return net


def _by_path(net):
    return {v.path: np.array(v) for v in net.weights}


def test_paper_scheme_redraws_nothing():
    net = _net()
    before = _by_path(net)
    assert initialize_kernels(net, "paper") == []
    for path, value in _by_path(net).items():
        np.testing.assert_array_equal(value, before[path])
    with pytest.raises(ValueError, match="kernel_init must be one of"):
        initialize_kernels(net, "xavier")


def test_he_scheme_redraws_kernels_with_fan_in_std_and_keeps_the_output_conv():
    net = _net()
    before = _by_path(net)
    drawn = set(initialize_kernels(net, "he", seed=3))
    after = _by_path(net)
    mid = "stage2_block1/stage2_block1_mid_conv/kernel"
    assert after[mid].shape == (7, 7, 8, 144)  # grouped: 8 input channels per group
    assert mid in drawn
    assert np.std(after[mid]) == pytest.approx(np.sqrt(2.0 / (7 * 7 * 8)), rel=0.1)
    assert np.std(before[mid]) == pytest.approx(0.001, rel=0.1)
    final = [p for p in after if p.startswith("head_final_conv/")]
    assert final and not drawn.intersection(final)
    for p in final:
        np.testing.assert_array_equal(after[p], before[p])
    for path, value in after.items():  # BN, biases: untouched
        if len(value.shape) < 2:
            np.testing.assert_array_equal(value, before[path], err_msg=path)
    # seeded: the same seed draws the same kernels, another seed others
    again = _net()
    initialize_kernels(again, "he", seed=3)
    np.testing.assert_array_equal(_by_path(again)[mid], after[mid])
    other = _net()
    initialize_kernels(other, "he", seed=4)
    assert not np.allclose(_by_path(other)[mid], after[mid])


def test_fusion_module_keeps_the_paper_init():
    from vipnas_tf.training.init import _keeps_paper_init

    assert _keeps_paper_init("temporal_supernet/fusion/s2_conv1_kernel")
    assert _keeps_paper_init("head_final_conv/kernel")
    assert not _keeps_paper_init("stage2_module1_fuse/kernel")  # HRNet's branch fusion is a conv
    assert not _keeps_paper_init("stage3_block1/stage3_block1_mid_conv/kernel")


def test_only_a_fresh_run_is_redrawn(tmp_path):
    from vipnas_tf.data.synthetic import generate
    from vipnas_tf.training import TrainConfig, Trainer

    data = tmp_path / "data"
    generate(str(data), images=12, clips=1, frames=2, workers=1, progress=False)
    coco = data / "coco"
    cfg = dict(mode="standalone", space="mobilenetv3", arch=get_space("mobilenetv3").min().to_string(),
               input_size=(64, 64), batch_size=4, train_steps=1, learning_rate=1e-3, lr_schedule="constant",
               log_every=1, eval_every=-1, augment=False, kernel_init="he",
               train_ann=str(coco / "annotations" / "person_keypoints_train.json"),
               train_images=str(coco / "images" / "train"))
    model_dir = str(tmp_path / "run")
    logs = []
    first = Trainer(TrainConfig(**cfg), model_dir, progress=False, log_fn=logs.append)
    assert any("re-drawn" in m for m in logs)
    first.train()
    mid = "stage2_block1/stage2_block1_mid_conv/kernel"
    trained = _by_path(first.model)[mid]
    assert np.std(trained) > 0.01  # He scale (the paper's init would be ~0.001)
    with open(os.path.join(model_dir, "run_config.json")) as f:
        assert json.load(f)["kernel_init"] == "he"
    logs.clear()
    resumed = Trainer(TrainConfig(**dict(cfg, train_steps=2)), model_dir, progress=False, log_fn=logs.append)
    assert not any("re-drawn" in m for m in logs) and any("resuming" in m for m in logs)
    np.testing.assert_array_equal(_by_path(resumed.model)[mid], trained)
