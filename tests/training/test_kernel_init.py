"""Kernel initialisation schemes (`--kernel_init`): what "he" re-draws, what it keeps at
the paper's N(0, 0.001), and that a temporal run re-draws none of the weights it takes
from its key model. (That only a fresh run is re-drawn, never a resumed one, is checked
on the killed and resumed runs of tests/scripts/test_train.py.)"""
import json
import os

import numpy as np
import pytest

from vipnas_tf.arch import get_space
from vipnas_tf.models import build_supernet
from vipnas_tf.training.init import initialize_kernels

pytestmark = pytest.mark.slow  # traces super-networks / runs the real commands


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
    result = initialize_kernels(net, "paper")
    assert result.drawn == () and result.inherited == ()
    assert len(result.own) == sum(len(v.shape) >= 2 for v in net.trainable_variables)
    for path, value in _by_path(net).items():
        np.testing.assert_array_equal(value, before[path])
    with pytest.raises(ValueError, match="kernel_init must be one of"):
        initialize_kernels(net, "xavier")


def test_he_scheme_redraws_kernels_with_fan_in_std_and_keeps_the_output_conv():
    net = _net()
    before = _by_path(net)
    drawn = set(initialize_kernels(net, "he", seed=3).drawn)
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


def test_inherited_kernels_are_kept():
    net = _net()
    before = _by_path(net)
    mid = "stage2_block1/stage2_block1_mid_conv/kernel"
    result = initialize_kernels(net, "he", seed=3, inherited=[mid])
    assert result.inherited == (mid,) and mid not in result.drawn
    np.testing.assert_array_equal(_by_path(net)[mid], before[mid])


def test_temporal_run_redraws_nothing_it_takes_from_the_key_model(key_run, train_data, tmp_path):
    """A fresh temporal run with kernel_init="he": the T-ViPNet's every weight is the key
    S-ViPNet's (re-drawn from the key model: 0), the new fusion module keeps N(0, 0.001)."""
    from vipnas_tf.training import TrainConfig, Trainer
    from vipnas_tf.training.model_dir import load_model

    pt = os.path.join(train_data, "posetrack")
    cfg = TrainConfig(mode="temporal", space="mobilenetv3", input_size=(64, 64), batch_size=4, train_steps=1,
                      num_frames=2, num_random=0, eval_every=-1, kernel_init="he",
                      key_model_dir=key_run["model_dir"], train_ann=os.path.join(pt, "annotations", "train"),
                      train_images=pt)
    logs = []
    trainer = Trainer(cfg, str(tmp_path / "temporal"), progress=False, log_fn=logs.append)
    result = trainer.kernel_init
    tnet = trainer.model.temporal
    from_key = {v.path for v in tnet.spatial.trainable_variables if len(v.shape) >= 2}
    assert len(from_key) > 100 and set(result.inherited) == from_key
    assert len(from_key & set(result.drawn)) == 0  # re-drawn that came from the key model: 0
    assert result.drawn == ()  # and nothing else is new but the fusion module ...
    fusion = {v.path for v in tnet.fusion.trainable_variables if len(v.shape) >= 2}
    assert fusion and set(result.own) == fusion  # ... which keeps its own start
    for v in tnet.fusion.trainable_variables:
        if "conv1_kernel" in v.path:
            assert np.std(np.array(v)) == pytest.approx(0.001, rel=0.2), v.path
    assert f"kernel_init=he: 0 kernels re-drawn, {len(from_key)} inherited kernels kept, " \
           f"{len(fusion)} new kernels at their layers' own N(0, 0.001) initialisation" in logs
    key_net, _ = load_model(key_run["model_dir"])
    for src, dst in zip(key_net.weights, tnet.spatial.weights):
        np.testing.assert_array_equal(np.array(dst), np.array(src), err_msg=dst.path)
