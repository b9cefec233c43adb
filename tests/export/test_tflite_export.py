"""Keras 3 -> TFLite in every mode, with parity against Keras."""
import numpy as np
import pytest

import keras
from ai_edge_litert.interpreter import Interpreter
from tests.testcase import run_tflite_parity_test
from tiny_models import K, build_tiny_pose_model, sample_inputs
from vipnas_tf.data.transforms import IMAGENET_MEAN_RGB, IMAGENET_STD_RGB
from vipnas_tf.export import quantization, tflite_export
from vipnas_tf.litert import run_tflite


def _keras_out(model, inputs):
    return np.asarray(model(list(inputs), training=False))


def _rep(model):
    return lambda: (sample_inputs(model, 4, seed) for seed in range(8))


def _x(model):
    return sample_inputs(model, 1, seed=123)


@pytest.fixture(scope="module")
def fp32(tiny_model):
    return tflite_export.export_tflite(tiny_model)


def test_float32_parity(tiny_model, fp32):
    run_tflite_parity_test(tiny_model, _x(tiny_model), flatbuffer=fp32, atol=1e-4)


def test_float16_parity(tiny_model):
    run_tflite_parity_test(tiny_model, _x(tiny_model), quantization=quantization.QuantizationConfig.for_float16(),
                           atol=5e-3, same_argmax=False)


def test_dynamic_range_parity(tiny_model):
    run_tflite_parity_test(tiny_model, _x(tiny_model), quantization=quantization.QuantizationConfig.for_dynamic(),
                           atol=0.05, same_argmax=False)


def test_int8_float_io_error_bounded(tiny_model, fp32):
    # int8 error relative to the output range: a few quantization steps.
    fb = run_tflite_parity_test(tiny_model, _x(tiny_model),
                                quantization=quantization.QuantizationConfig.for_int8(_rep(tiny_model)),
                                relative_atol=0.05, same_argmax=False).flatbuffer
    # Much smaller than the float32 file (weights are int8).
    assert len(fb) < len(fp32)


@pytest.mark.parametrize("io_dtype,np_dtype", [("int8", np.int8), ("uint8", np.uint8)])
def test_int8_integer_io(tiny_model, io_dtype, np_dtype):
    from ai_edge_litert.interpreter import Interpreter
    cfg = quantization.QuantizationConfig.for_int8(_rep(tiny_model), io_dtype=io_dtype)
    fb = tflite_export.export_tflite(tiny_model, quantization=cfg)
    it = Interpreter(model_content=fb)
    assert it.get_input_details()[0]["dtype"] == np_dtype
    assert it.get_output_details()[0]["dtype"] == np_dtype
    x = sample_inputs(tiny_model, 1, seed=123)
    ref = _keras_out(tiny_model, x)
    got = run_tflite(fb, x)[0]  # quantizes in, dequantizes out
    assert np.abs(got - ref).max() <= 0.05 * np.abs(ref).max()


def test_int8_without_data_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="representative data"):
        quantization.QuantizationConfig.for_int8(None)
    with pytest.raises(ValueError, match="needs mode='int8'"):
        quantization.QuantizationConfig(mode="float32", io_dtype="int8")


def test_representative_batch_shape_is_checked(tiny_model):
    bad = quantization.QuantizationConfig.for_int8([np.zeros((2, 16, 16, 3), np.float32)])
    with pytest.raises(Exception, match="does not match"):
        tflite_export.export_tflite(tiny_model, quantization=bad)


def test_multi_input_temporal_model(tiny_temporal_model):
    fb = tflite_export.export_tflite(tiny_temporal_model)
    from ai_edge_litert.interpreter import Interpreter
    shapes = [tuple(d["shape"]) for d in Interpreter(model_content=fb).get_input_details()]
    assert sorted(shapes) == sorted([(1, 32, 24, 3), (1, 8, 6, K)])
    run_tflite_parity_test(tiny_temporal_model, _x(tiny_temporal_model), flatbuffer=fb, atol=1e-4)
    cfg = quantization.QuantizationConfig.for_int8(_rep(tiny_temporal_model))
    fb8 = tflite_export.export_tflite(tiny_temporal_model, quantization=cfg)
    assert len(run_tflite(fb8, sample_inputs(tiny_temporal_model))) == 1


def test_decode_outputs_keypoints_and_scores(tiny_model, tmp_path):
    def decode(hm):
        return tflite_export.argmax_decode(hm, (32, 24))
    path = tmp_path / "sub" / "m.tflite"
    tflite_export.export_tflite(tiny_model, path, decode_fn=decode)
    x = sample_inputs(tiny_model, 1, seed=5)
    heatmaps, keypoints, scores = run_tflite(str(path), x)
    ref = _keras_out(tiny_model, x)
    np.testing.assert_allclose(heatmaps, ref, atol=1e-4)
    flat = ref[0].reshape(-1, K)
    idx = flat.argmax(0)
    np.testing.assert_allclose(scores[0], flat.max(0), atol=1e-4)
    w = ref.shape[2]
    np.testing.assert_allclose(keypoints[0, :, 0], (idx % w + 0.5) * 4 - 0.5, atol=1e-4)
    np.testing.assert_allclose(keypoints[0, :, 1], (idx // w + 0.5) * 4 - 0.5, atol=1e-4)


def test_default_decode_with_int8(tiny_model):
    cfg = quantization.QuantizationConfig.for_int8(_rep(tiny_model))
    fb = tflite_export.export_tflite(tiny_model, quantization=cfg, decode_fn="default")
    outs = run_tflite(fb, sample_inputs(tiny_model))
    assert [o.shape for o in outs] == [(1, 8, 6, K), (1, K, 2), (1, K)]


class _Erf(keras.layers.Layer):
    def call(self, x):
        return keras.ops.erf(x)


def test_unsupported_op_names_op_and_layer():
    x = keras.Input((8, 8, 3))
    y = keras.layers.Conv2D(4, 3, name="conv_ok")(x)
    y = _Erf(name="my_erf_layer")(y)
    model = keras.Model(x, y)
    with pytest.raises(tflite_export.UnsupportedOpError) as info:
        tflite_export.export_tflite(model)
    assert [(o.tf_op, o.layer) for o in info.value.ops] == [("Erf", "my_erf_layer")]
    assert "tf.Erf" in str(info.value) and "my_erf_layer" in str(info.value)


def test_dynamic_spatial_size_is_refused():
    x = keras.Input((None, None, 3))
    model = keras.Model(x, keras.layers.Conv2D(2, 1)(x))
    with pytest.raises(ValueError, match="unknown dimension"):
        tflite_export.export_tflite(model)


def test_default_decode_is_the_codec_when_it_exists(tiny_model):
    heatmap = pytest.importorskip("vipnas_tf.codecs.heatmap")
    codec = heatmap.HeatmapCodec(input_size=(32, 24), heatmap_size=(8, 6))
    x = sample_inputs(tiny_model, 1, seed=11)
    fb = tflite_export.export_tflite(tiny_model, decode_fn="default")
    _, keypoints, scores = run_tflite(fb, x)
    ref_kp, ref_sc = codec.decode_tf(tiny_model(x, training=False))
    np.testing.assert_allclose(keypoints, np.asarray(ref_kp), atol=1e-3)
    np.testing.assert_allclose(scores, np.asarray(ref_sc), atol=1e-4)


def test_lowered_layers_convert_to_builtins_with_parity():
    """What the lowering package emits (banded 7x7 depthwise, dense/grouped convs, sub-pixel
    deconv with fused ReLU, int8-form hard-swish) converts and matches Keras."""
    from vipnas_tf.export import lowering
    from ai_edge_litert.interpreter import Interpreter
    rng = np.random.default_rng(0)
    inp = keras.Input((16, 12, 8))
    y = lowering.grouped_conv2d(inp, rng.normal(0, .2, (7, 7, 1, 8)).astype(np.float32),
                                groups=8, strides=2, activation="relu")
    y = lowering.grouped_conv2d(y, rng.normal(0, .3, (3, 3, 2, 16)).astype(np.float32), groups=4)
    y = lowering.grouped_conv2d(y, rng.normal(0, .3, (3, 3, 2, 16)).astype(np.float32), groups=8)
    y = lowering.hard_swish(y, "int8")
    y = lowering.grouped_conv2d_transpose_s2k4(y, rng.normal(0, .3, (4, 4, 1, 16)).astype(np.float32),
                                               rng.normal(0, .1, 16).astype(np.float32),
                                               groups=16, activation="relu")
    model = keras.Model(inp, keras.layers.Conv2D(K, 1, kernel_initializer=keras.initializers.GlorotUniform(seed=0))(y))
    fb = tflite_export.export_tflite(model)
    ops = {o["op_name"] for o in Interpreter(model_content=fb)._get_ops_details()}
    assert "HARD_SWISH" not in ops and "DEPTHWISE_CONV_2D" in ops
    run_tflite_parity_test(model, _x(model), flatbuffer=fb, atol=1e-4)
    # int8 through five quantized layers: measured 4.5-6.1% of the output's peak over the
    # last conv's initialisations (seeds 0-7); the float32 check above is the exact one.
    run_tflite_parity_test(model, _x(model), quantization=quantization.QuantizationConfig.for_int8(_rep(model)),
                           relative_atol=0.08, same_argmax=False)


def test_serving_default_signature_names(fp32, tiny_model):
    runner = Interpreter(model_content=fp32).get_signature_runner("serving_default")
    x = _x(tiny_model)
    out = runner(image=x[0])
    assert list(out) == ["heatmaps"]
    np.testing.assert_allclose(out["heatmaps"], _keras_out(tiny_model, x), atol=1e-4)


def _normalised(model):
    """`model` on uint8-range pixels: what a uint8-input .tflite must compute."""
    mean = np.asarray(IMAGENET_MEAN_RGB, np.float32)
    std = np.asarray(IMAGENET_STD_RGB, np.float32)
    return lambda x, training=False: model([(np.asarray(x, np.float32) - mean) / std], training=training)


def _pixels(model, seed=7):
    return np.random.default_rng(seed).integers(0, 256, (1,) + tuple(model.inputs[0].shape[1:])).astype(np.uint8)


def test_float16_uint8_input_folds_the_normalisation(tiny_model):
    fb = tflite_export.export_tflite(tiny_model, quantization=quantization.QuantizationConfig.for_float16(),
                                     input_dtype="uint8")
    runner = Interpreter(model_content=fb).get_signature_runner()
    assert runner.get_input_details()["image"]["dtype"] == np.uint8
    pixels = _pixels(tiny_model)
    ref = np.asarray(_normalised(tiny_model)(pixels))
    got = runner(image=pixels)["heatmaps"]
    assert np.abs(got - ref).max() <= 5e-3 * max(1.0, np.abs(ref).max())


def test_int8_uint8_input_is_the_pixels(tiny_model):
    """int8 with uint8 input: the image input is uint8 with scale 1 and zero point 0
    (the pixels as they are), the heatmaps stay float32."""
    cfg = quantization.QuantizationConfig.for_int8(_rep(tiny_model))
    fb = tflite_export.export_tflite(tiny_model, quantization=cfg, input_dtype="uint8")
    it = Interpreter(model_content=fb)
    image = it.get_input_details()[0]
    assert image["dtype"] == np.uint8 and image["quantization"] == (1.0, 0)
    assert it.get_output_details()[0]["dtype"] == np.float32
    # run_tflite quantizes with (1, 0): it feeds the pixel values unchanged.
    run_tflite_parity_test(tiny_model, [_pixels(tiny_model).astype(np.float32)], flatbuffer=fb,
                           reference=_normalised(tiny_model), relative_atol=0.05, same_argmax=False)
    with pytest.raises(ValueError, match="io_dtype='int8'"):
        tflite_export.export_tflite(tiny_model, input_dtype="uint8",
                                    quantization=quantization.QuantizationConfig.for_int8(_rep(tiny_model),
                                                                                          io_dtype="int8"))
