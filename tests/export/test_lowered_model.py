"""lower_model: the deployment rewrite of whole static models keeps their function.

Parity of the lowered model against the un-lowered Keras model (max abs heatmap
difference <= 1e-4, or the random model's own float32 noise floor where that is
larger (see `_tolerance`), identical argmax) for the presets s_vipnas_mbv3 and
sbl_res50 at a small input size, heatmaps scaled to peak 1, in Keras and after
float32 TFLite conversion; and what the lowered models are made of (no BN, no Keras
grouped Conv2D, no >25-tap depthwise).
"""
import numpy as np
import pytest

import keras
from tests.testcase import run_tflite_parity_test
from tiny_models import build_tiny_pose_model, sample_inputs
from vipnas_tf.arch import resolve_arch
from vipnas_tf.export import lowering, quantization, tflite_export
from vipnas_tf.export.lowering import layer_summary, lower_model
from vipnas_tf.litert import run_tflite
from vipnas_tf.models import build_static
from vipnas_tf.models.random_init import calibrate_batch_norm, randomize_weights

SIZE = (64, 64)


def _argmax(h):
    return h.reshape(h.shape[0], -1, h.shape[-1]).argmax(1)


def _check_parity(ref, got, atol=1e-4):
    assert got.shape == ref.shape
    assert np.abs(ref).max() > 1e-2, "output too small for a meaningful comparison"
    err = float(np.abs(got - ref).max())
    assert err <= atol, err
    np.testing.assert_array_equal(_argmax(ref), _argmax(got))
    return err


def _tolerance(static, x):
    """1e-4, or the model's own float32 noise floor if that is larger.

    A randomly initialised deep network is chaotic: perturbing its input by 1e-6
    (a few float32 ulps) moves its heatmaps by up to ~1e-3 (sbl_res50 at 64x64, peak 1).
    Reordering float sums (BN folding, banded kernels) cannot be held to less than that.
    """
    noise = np.random.default_rng(9).normal(0, 1e-6, x.shape).astype(np.float32)
    floor = float(np.abs(np.asarray(static(x, training=False))
                         - np.asarray(static(x + noise, training=False))).max())
    return max(1e-4, floor)


@pytest.fixture(scope="module", params=["s_vipnas_mbv3", "sbl_res50"])
def preset(request):
    static = randomize_weights(build_static(resolve_arch(request.param), SIZE), seed=3)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2,) + SIZE + (3,)).astype(np.float32)
    # BN statistics from data: without it random-init MobileNetV3 forgets its input
    # (outputs equal across inputs to 2e-8) and parity would be trivially exact. It
    # also scales the heatmaps to peak 1 on these inputs, as trained heatmaps do, so
    # that the absolute tolerance 1e-4 means what it says.
    calibrate_batch_norm(static, x)
    y = np.asarray(static(x, training=False))
    assert np.abs(y[0] - y[1]).max() > 0.05 * np.abs(y).max(), "output does not depend on the input"
    return request.param, static, x, _tolerance(static, x)


@pytest.mark.parametrize("hard_swish", ["activation", "int8"])
@pytest.mark.slow
def test_preset_lowered_keras_parity(preset, hard_swish):
    name, static, x, tol = preset
    lowered = lower_model(static, hard_swish=hard_swish)
    _check_parity(np.asarray(static(x, training=False)), np.asarray(lowered(x, training=False)), tol)
    before, after = layer_summary(static), layer_summary(lowered)
    assert after["batch_norm"] == 0 and after["keras_grouped_conv"] == 0
    assert after["max_depthwise_taps"] <= lowering.MAX_FAST_DEPTHWISE_TAPS
    assert [i.name for i in lowered.inputs] == [i.name for i in static.inputs]
    if name == "s_vipnas_mbv3":
        # The static model's grouped convs are GroupedConv2D already (no Keras XLA path).
        assert before["grouped_conv"] > 0 and before["keras_grouped_conv"] == 0
        assert before["max_depthwise_taps"] == 49
        assert after["hard_swish"] == (before["hard_swish"] if hard_swish == "activation" else 0)
        # Grouped convs with more than 16 input channels and >1 per group stay grouped
        # (TFLite's grouped CONV_2D is the fastest form there), computed by tf.nn.
        assert after["grouped_conv"] > 0


@pytest.mark.slow
def test_preset_lowered_tflite_float32_parity(preset):
    """The deployment path: TFLite float32 of the lowered model vs the un-lowered Keras model."""
    _, static, x, tol = preset
    run_tflite_parity_test(lower_model(static), x[:1], reference=static, atol=tol, min_peak=1e-2,
                           builtin_ops_only=True)


def test_tiny_model_head_bn_and_relu_fold_into_phases(tiny_model):
    """BN + ReLU after the sub-pixel shuffle move into the phase convs."""
    lowered = lower_model(tiny_model)
    names = {l.name for l in lowered.layers}
    assert "head_bn" not in names and "head_relu" not in names
    assert layer_summary(lowered)["batch_norm"] == 0
    phases = [l for l in lowered.layers if l.name.startswith("head_deconv_dw")]
    assert len(phases) == 4 and all(l.get_config()["activation"] == "relu" for l in phases)
    x = sample_inputs(tiny_model, 2, seed=4)
    ref = np.asarray(tiny_model(x, training=False))
    got = np.asarray(lowered(x, training=False))
    assert np.abs(ref - got).max() <= 1e-5 * max(1.0, np.abs(ref).max())


def test_two_input_model_keeps_inputs(tiny_temporal_model):
    lowered = lower_model(tiny_temporal_model, hard_swish="int8")
    assert [i.name for i in lowered.inputs] == ["image", "prev_heatmaps"]
    x = sample_inputs(tiny_temporal_model, 2, seed=5)
    ref = np.asarray(tiny_temporal_model(x, training=False))
    assert np.abs(np.asarray(lowered(x, training=False)) - ref).max() <= 1e-5 * max(1.0, np.abs(ref).max())


def test_bn_not_folded_when_conv_output_is_shared():
    """A conv whose output also feeds another layer keeps its BN (folding would change
    the other consumer's input)."""
    inp = keras.Input((8, 8, 3))
    c = keras.layers.Conv2D(4, 3, padding="same", name="c")(inp)
    b = keras.layers.BatchNormalization(name="bn")(c)
    out = keras.layers.Add()([b, c])
    model = keras.Model(inp, out)
    model.get_layer("bn").set_weights([np.full(4, 2.0), np.ones(4), np.zeros(4), np.ones(4)])
    lowered = lower_model(model)
    assert layer_summary(lowered)["batch_norm"] == 1
    x = np.random.default_rng(0).normal(size=(1, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(lowered(x), model(x), atol=1e-5)


def test_unsupported_op_error_names_layer_after_lowering():
    class _Erf(keras.layers.Layer):
        def call(self, x):
            return keras.ops.erf(x)

    x = keras.Input((8, 8, 3))
    y = keras.layers.Conv2D(4, 3, name="conv_ok")(x)
    model = keras.Model(x, _Erf(name="my_erf_layer")(y))
    with pytest.raises(tflite_export.UnsupportedOpError, match="my_erf_layer"):
        tflite_export.export_tflite(lower_model(model))


@pytest.mark.slow
def test_lowered_int8_is_fully_integer(preset):
    """int8 of the lowered model: one QUANTIZE at the input, one DEQUANTIZE at the
    output, no float islands and no HARD_SWISH (the int8 form is used instead).

    (Its accuracy is not checked here: a randomly initialised network has no trained
    structure and quantizes badly; PTQ / QAT accuracy is tested on a trained model in
    test_qat_vs_ptq.py.)"""
    from ai_edge_litert.interpreter import Interpreter
    name, static, x, _ = preset
    if name != "s_vipnas_mbv3":
        pytest.skip("one preset is enough for int8 here")
    rng = np.random.default_rng(1)
    rep = lambda: (rng.normal(size=(1,) + SIZE + (3,)).astype(np.float32) for _ in range(8))  # noqa: E731
    fb = tflite_export.export_tflite(lower_model(static, hard_swish="int8"),
                                     quantization=quantization.QuantizationConfig.for_int8(rep))
    ops = [o["op_name"] for o in Interpreter(model_content=fb)._get_ops_details()]
    assert ops.count("QUANTIZE") == 1 and ops.count("DEQUANTIZE") == 1 and "HARD_SWISH" not in ops
    got = run_tflite(fb, x[:1])[0]
    assert got.shape == (1, 16, 16, 17) and np.isfinite(got).all()
