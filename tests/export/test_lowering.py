"""Equivalent formulations of grouped conv / grouped deconv match the plain ones."""
import numpy as np
import pytest

import keras
from vipnas_tf.export import lowering

RNG = np.random.default_rng(0)


def _run(build, x):
    inp = keras.Input(x.shape[1:])
    return np.asarray(keras.Model(inp, build(inp))(x))


def _plain_grouped(x, kernel, bias, groups, strides):
    inp = keras.Input(x.shape[1:])
    layer = keras.layers.Conv2D(kernel.shape[-1], kernel.shape[:2], strides=strides,
                                padding="same", groups=groups, use_bias=bias is not None)
    out = layer(inp)
    layer.set_weights([kernel] + ([bias] if bias is not None else []))
    return np.asarray(keras.Model(inp, out)(x))


def _reference_deconv(x, kernel, bias, groups):
    """Direct scatter form of ConvTranspose2d(k=4, s=2, p=1, groups)."""
    n, h, w, c_in = x.shape
    _, _, cg_out, _ = kernel.shape
    cg_in = c_in // groups
    full = np.zeros((n, 2 * h + 2, 2 * w + 2, cg_out * groups), np.float64)
    for i in range(c_in):
        gi = i // cg_in
        for ky in range(4):
            for kx in range(4):
                contrib = x[..., i:i + 1].astype(np.float64) * kernel[ky, kx, :, i]
                full[:, ky:ky + 2 * h:2, kx:kx + 2 * w:2, gi * cg_out:(gi + 1) * cg_out] += contrib
    y = full[:, 1:2 * h + 1, 1:2 * w + 1]
    return (y + (bias if bias is not None else 0)).astype(np.float32)


@pytest.mark.parametrize("method", ["conv", "dw_multiplier", "dense"])
@pytest.mark.parametrize("c,groups,k,strides,use_bias", [
    (16, 8, 3, 1, True),    # 2 channels per group (S-ViPNAS stage 1 / 5 style)
    (32, 8, 5, 2, False),   # 4 per group, stride 2
    (24, 3, 3, 1, True),    # 8 per group, not a power of two
])
def test_grouped_conv_methods_match_conv2d_groups(method, c, groups, k, strides, use_bias):
    x = RNG.normal(size=(2, 12, 10, c)).astype(np.float32)
    kernel = RNG.normal(size=(k, k, c // groups, c)).astype(np.float32)
    bias = RNG.normal(size=(c,)).astype(np.float32) if use_bias else None
    ref = _plain_grouped(x, kernel, bias, groups, strides)
    got = _run(lambda t: lowering.grouped_conv2d(t, kernel, bias, groups=groups, strides=strides,
                                                 method=method), x)
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() <= 1e-5 * max(1.0, np.abs(ref).max())


def test_dw_multiplier_with_pre_interleaved_input():
    c, groups = 32, 8
    x = RNG.normal(size=(1, 8, 8, c)).astype(np.float32)
    kernel = RNG.normal(size=(3, 3, c // groups, c)).astype(np.float32)
    ref = _plain_grouped(x, kernel, None, groups, 1)
    perm = lowering.interleave_permutation(c, groups)
    got = _run(lambda t: lowering.grouped_conv2d(t, kernel, groups=groups, method="dw_multiplier",
                                                 input_interleaved=True), x[..., perm])
    assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max()


def test_interleave_permutation_matches_interleave_channels():
    x = RNG.normal(size=(1, 2, 2, 12)).astype(np.float32)
    perm = lowering.interleave_permutation(12, 4)
    np.testing.assert_array_equal(perm[:4], [0, 3, 6, 9])
    np.testing.assert_array_equal(_run(lambda t: lowering.interleave_channels(t, 4), x), x[..., perm])


def test_depthwise_method_and_auto():
    c = 12
    x = RNG.normal(size=(1, 9, 7, c)).astype(np.float32)
    kernel = RNG.normal(size=(5, 5, 1, 2 * c)).astype(np.float32)  # multiplier 2
    ref = _plain_grouped(x, kernel, None, c, 2)
    got = _run(lambda t: lowering.grouped_conv2d(t, kernel, groups=c, strides=2), x)
    assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max()
    assert lowering.grouped_conv_method(c, c, c) == "depthwise"
    with pytest.raises(ValueError, match="C_in == groups"):
        _run(lambda t: lowering.grouped_conv2d(t, kernel[:, :, :, :c].repeat(2, 2)[:, :, :2],
                                               groups=6, method="depthwise"), x)


@pytest.mark.parametrize("method", ["subpixel", "subpixel_fused"])
@pytest.mark.parametrize("c_in,c_out,groups,use_bias", [
    (8, 8, 8, False),    # depthwise (S-ViPNAS-MobileNetV3 head)
    (8, 12, 4, True),    # grouped, cg_in 2 -> cg_out 3 (S-ViPNAS-Res50 head style)
    (6, 4, 1, True),     # dense
])
def test_deconv_matches_transposed_conv(method, c_in, c_out, groups, use_bias):
    x = RNG.normal(size=(2, 5, 4, c_in)).astype(np.float32)
    kernel = RNG.normal(size=(4, 4, c_out // groups, c_in)).astype(np.float32)
    bias = RNG.normal(size=(c_out,)).astype(np.float32) if use_bias else None
    ref = _reference_deconv(x, kernel, bias, groups)
    got = _run(lambda t: lowering.grouped_conv2d_transpose_s2k4(t, kernel, bias, groups=groups,
                                                                method=method), x)
    assert got.shape == (2, 10, 8, c_out)
    assert np.abs(got - ref).max() <= 1e-5 * max(1.0, np.abs(ref).max())


def test_deconv_reference_matches_keras_conv2d_transpose_when_dense():
    # Anchors the numpy reference: groups=1 must equal Keras' Conv2DTranspose with
    # PyTorch padding 1 (= 'same' for k4 s2 in Keras: crop 1 on each side).
    x = RNG.normal(size=(1, 4, 3, 3)).astype(np.float32)
    kernel = RNG.normal(size=(4, 4, 2, 3)).astype(np.float32)
    inp = keras.Input(x.shape[1:])
    layer = keras.layers.Conv2DTranspose(2, 4, strides=2, padding="same", use_bias=False)
    out = layer(inp)
    layer.set_weights([kernel])
    ref = np.asarray(keras.Model(inp, out)(x))
    np.testing.assert_allclose(_reference_deconv(x, kernel, None, 1), ref, atol=1e-5)


@pytest.mark.parametrize("k,strides,mult,h,w", [
    ((7, 7), 1, 1, 9, 8),    # 49 taps -> bands of 3 rows (21 taps)
    ((7, 7), 2, 2, 10, 7),   # stride 2, odd width, multiplier 2
    ((6, 6), 2, 1, 8, 8),
    ((5, 5), 1, 1, 6, 6),    # 25 taps: a single layer, no split
])
def test_banded_depthwise_matches_depthwise(k, strides, mult, h, w):
    c = 6
    x = RNG.normal(size=(1, h, w, c)).astype(np.float32)
    kernel = RNG.normal(size=k + (c, mult)).astype(np.float32)
    bias = RNG.normal(size=(c * mult,)).astype(np.float32)
    inp = keras.Input(x.shape[1:])
    layer = keras.layers.DepthwiseConv2D(k, strides=strides, padding="same", depth_multiplier=mult,
                                         activation="relu")
    out = layer(inp)
    layer.set_weights([kernel, bias])
    ref = np.asarray(keras.Model(inp, out)(x))
    inp2 = keras.Input(x.shape[1:])
    model = keras.Model(inp2, lowering.depthwise_conv2d(inp2, kernel, bias, strides=strides,
                                                        activation="relu"))
    got = np.asarray(model(x))
    assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max()
    n_dw = sum(isinstance(l, keras.layers.DepthwiseConv2D) for l in model.layers)
    assert n_dw == (1 if k[0] * k[1] <= 25 else -(-k[0] // (25 // k[1])))
    assert all(np.prod(l.kernel_size) <= 25 for l in model.layers
               if isinstance(l, keras.layers.DepthwiseConv2D))


def test_hard_swish_int8_form_matches_activation():
    x = np.linspace(-6, 6, 2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    ref = _run(lambda t: lowering.hard_swish(t, "activation"), x)
    got = _run(lambda t: lowering.hard_swish(t, "int8"), x)
    np.testing.assert_allclose(got, ref, atol=1e-5)
    np.testing.assert_allclose(ref, x * np.clip(x + 3, 0, 6) / 6, atol=1e-5)


def test_fold_batch_norm_matches_conv_then_bn():
    x = RNG.normal(size=(1, 6, 5, 4)).astype(np.float32)
    kernel = RNG.normal(size=(3, 3, 2, 6)).astype(np.float32)
    gamma, beta, mean = (RNG.normal(size=6).astype(np.float32) for _ in range(3))
    var = RNG.uniform(0.5, 2, size=6).astype(np.float32)
    inp = keras.Input(x.shape[1:])
    conv = keras.layers.Conv2D(6, 3, padding="same", groups=2, use_bias=False)
    bn = keras.layers.BatchNormalization(epsilon=1e-3)
    out = bn(conv(inp))
    conv.set_weights([kernel])
    bn.set_weights([gamma, beta, mean, var])
    ref = np.asarray(keras.Model(inp, out)(x))
    k, b = lowering.fold_batch_norm(kernel, None, gamma, beta, mean, var, 1e-3)
    got = _run(lambda t: lowering.grouped_conv2d(t, k, b, groups=2), x)
    assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max()


def test_deconv_fused_relu_equals_relu_after():
    x = RNG.normal(size=(1, 4, 3, 8)).astype(np.float32)
    kernel = RNG.normal(size=(4, 4, 1, 8)).astype(np.float32)
    ref = np.maximum(_reference_deconv(x, kernel, None, 8), 0)
    for method in lowering.DECONV_METHODS:
        got = _run(lambda t: lowering.grouped_conv2d_transpose_s2k4(
            t, kernel, groups=8, method=method, activation="relu"), x)
        assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max()
