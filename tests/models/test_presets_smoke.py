"""Smoke test over every registered preset and search space."""
import numpy as np
import pytest
import tensorflow as tf

from vipnas_tf.arch import arch_cost, get_space, list_spaces
from vipnas_tf.arch.presets import PRESETS, list_presets
from vipnas_tf.models import build_static


def _keras_counts(model, deconv_tag="__p"):
    """MACs and trainable params counted from a built Keras model's layers."""
    macs = 0
    for layer in model.layers:
        if not layer.weights or not hasattr(layer, "kernel_size"):
            continue
        kernel = layer.weights[0]
        out_h, out_w = layer.output.shape[1:3]
        per_pixel = int(np.prod(kernel.shape))  # k*k*in/g*out (depthwise: k*k*C*1)
        macs += int(out_h) * int(out_w) * per_pixel
    params = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return macs, params


@pytest.mark.parametrize("name", list_presets())
def test_preset_builds_runs_and_matches_cost_model(name):
    arch = PRESETS[name].arch
    model = build_static(arch, (64, 64))
    y = model(tf.zeros([1, 64, 64, 3]))
    assert y.shape == (1, 16, 16, get_space(arch.space).num_keypoints)
    macs, params = _keras_counts(model)
    cost = arch_cost(arch, (64, 64))
    assert (macs, params) == (cost.macs, cost.params)


# The dense-conv spaces (beyond the paper) have their own cost test, tests/arch/test_dense_space.py.
@pytest.mark.parametrize("space_name", [s for s in list_spaces() if not getattr(get_space(s), "allow_dense", False)])
@pytest.mark.slow
def test_space_extremes_match_cost_model(space_name):
    space = get_space(space_name)
    for arch in (space.max(), space.min(), space.sample(np.random.default_rng(0))):
        macs, params = _keras_counts(build_static(arch, (64, 64)))
        cost = arch_cost(arch, (64, 64))
        assert (macs, params) == (cost.macs, cost.params), arch.to_string()


def test_symmetric_padding_pads_like_pytorch_and_changes_the_function():
    """PyTorch pads k // 2 on both sides at stride 2 (TF 'same': one less before)."""
    import dataclasses

    import keras

    same = PRESETS["sbl_res50"].arch
    sym = dataclasses.replace(same, padding="symmetric")
    a, b = build_static(same, (64, 64)), build_static(sym, (64, 64))
    pads = {l.name: l.padding for l in b.layers if isinstance(l, keras.layers.ZeroPadding2D)
            and not l.name.startswith("head_")}
    assert pads["stem_conv_pad"] == ((3, 3), (3, 3)) and pads["stem_pool_pad"] == ((1, 1), (1, 1))
    assert pads["stage2_block1_conv2_pad"] == ((1, 1), (1, 1)) and len(pads) == 5
    assert _keras_counts(a) == _keras_counts(b)
    b.set_weights(a.get_weights())
    x = np.random.default_rng(0).standard_normal((1, 64, 64, 3)).astype(np.float32)
    ya, yb = np.asarray(a(x)), np.asarray(b(x))
    assert ya.shape == yb.shape and np.abs(ya - yb).max() > 1e-3 * np.abs(ya).max()
