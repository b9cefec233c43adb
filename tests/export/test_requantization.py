"""Int8 models whose calibration left an output scale degenerate still load on XNNPACK.

The model is the SE pattern where it was met (an HRNet-W32 block at 256x192): global
pool -> 1x1 reduce + ReLU -> 1x1 expand + sigmoid -> gate. The reduce conv's bias is
so negative that its ReLU is zero on every calibration sample, so the converter gives
it an output scale of ~1e-8 and a requantization scale XNNPACK refuses."""
import numpy as np
import pytest
import tensorflow as tf

import keras
from vipnas_tf.export import quantization, tflite_export
from vipnas_tf.export.requantization import MAX_REQUANTIZATION_SCALE, floor_degenerate_scales
from vipnas_tf.litert import load_interpreter

SHAPE = (1, 16, 16, 8)


def _se_model():
    keras.utils.set_random_seed(0)
    x = keras.Input(SHAPE[1:], batch_size=1)
    f = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="features")(x)
    s = keras.layers.GlobalAveragePooling2D(keepdims=True)(f)
    s = keras.layers.Conv2D(4, 1, activation="relu", name="se_reduce",
                            bias_initializer=keras.initializers.Constant(-50.0))(s)
    s = keras.layers.Conv2D(8, 1, activation="sigmoid", name="se_expand",
                            bias_initializer=keras.initializers.RandomNormal(0.0, 1.0))(s)
    y = keras.layers.Conv2D(4, 1, name="out")(keras.layers.Multiply()([f, s]))
    return keras.Model(x, y)


def _samples():
    rng = np.random.default_rng(0)
    return [rng.normal(size=SHAPE).astype(np.float32) for _ in range(8)]


def _out(flatbuffer, x, xnnpack):
    """The model's output on x, with XNNPACK or TFLite's builtin kernels only."""
    it = load_interpreter(flatbuffer, 1, use_xnnpack=xnnpack)
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])


@pytest.fixture(scope="module")
def raw_int8():
    """The converter's own int8 model, before the export floors any scale."""
    model = _se_model()
    cf = tf.function(lambda x: model(x, training=False)).get_concrete_function(tf.TensorSpec(SHAPE, tf.float32))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([cf])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x] for x in _samples())
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return model, converter.convert()


def _requantization_scales(flatbuffer):
    it = load_interpreter(flatbuffer, 1, use_xnnpack=False)
    tensors = {t["index"]: t for t in it.get_tensor_details()}

    def scales(i):
        return tensors[i]["quantization_parameters"]["scales"]

    return {tensors[op["outputs"][0]]["name"]: float(scales(op["inputs"][0])[0] * scales(op["inputs"][1]).max()
                                                     / scales(op["outputs"][0])[0])
            for op in it._get_ops_details() if op["op_name"] == "CONV_2D"}  # pylint: disable=protected-access


def test_the_dead_reduce_conv_is_the_one_raised(raw_int8):
    _, flatbuffer = raw_int8
    before = _requantization_scales(flatbuffer)
    dead = [n for n, r in before.items() if r >= 256]
    assert len(dead) == 1 and "se_reduce" in dead[0], before
    fixed, raised = floor_degenerate_scales(flatbuffer)
    assert raised == dead
    after = _requantization_scales(fixed)
    assert max(after.values()) < MAX_REQUANTIZATION_SCALE, after
    # the convs that neither write nor read the raised tensor keep their scales
    untouched = [n for n in before if "se_reduce" not in n and "se_expand" not in n]
    assert len(untouched) == 2
    assert [after[n] for n in untouched] == pytest.approx([before[n] for n in untouched], rel=1e-6)


def test_fixed_model_computes_what_the_converter_meant(raw_int8):
    _, flatbuffer = raw_int8
    fixed, _ = floor_degenerate_scales(flatbuffer)
    x = np.random.default_rng(5).normal(size=SHAPE).astype(np.float32)
    # same model: the raised tensor is 0 either way, and the expand conv's bias
    # re-expressed in its new input scale keeps its value
    ref = _out(fixed, x, xnnpack=False)
    np.testing.assert_array_equal(ref, _out(flatbuffer, x, xnnpack=False))
    np.testing.assert_allclose(_out(fixed, x, xnnpack=True), ref, atol=0.02 * np.abs(ref).max())


def test_nothing_to_floor_returns_the_same_bytes(raw_int8):
    _, flatbuffer = raw_int8
    fixed, _ = floor_degenerate_scales(flatbuffer)
    again, raised = floor_degenerate_scales(fixed)
    assert raised == [] and again is fixed


def test_int8_export_of_the_model_loads_on_xnnpack_and_matches_keras(raw_int8):
    model, _ = raw_int8
    cfg = quantization.QuantizationConfig.for_int8(_samples())
    flatbuffer = tflite_export.export_tflite(model, quantization=cfg)
    x = _samples()[0]
    out = _out(flatbuffer, x, xnnpack=True)
    want = np.asarray(model(x, training=False))
    assert np.abs(out - want).max() < 0.05 * np.abs(want).max()
