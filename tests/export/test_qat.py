"""QAT path: Keras 3 -> tf-keras rebuild parity, TFMOT QAT, int8 TFLite."""
import os

import numpy as np
import pytest

import keras
from tests.testcase import run_tflite_parity_test
from tiny_models import K, build_tiny_pose_model, sample_inputs
from vipnas_tf.export import lowering

qat = pytest.importorskip("vipnas_tf.export.qat")


def test_import_keeps_keras3_and_environment():
    assert "TF_USE_LEGACY_KERAS" not in os.environ
    assert keras.__version__.startswith("3.")
    import tensorflow as tf
    assert tf.keras.__version__.startswith("3.")


@pytest.mark.parametrize("split", [False, True])
def test_rebuild_parity(tiny_model, split):
    tfk = qat.to_tf_keras(tiny_model, split_activations=split)
    assert type(tfk).__module__.startswith("tf_keras")
    x = sample_inputs(tiny_model, 2, seed=3)
    ref = np.asarray(tiny_model(x))
    got = tfk(x[0]).numpy()
    assert np.abs(got - ref).max() <= 1e-5
    # Grouped convs become qat.GroupedConv2D (a tf-keras Conv2D without the XLA path).
    grouped = [l for l in tfk.layers if isinstance(l, qat.tf_keras.layers.Conv2D) and l.groups > 1]
    assert grouped and grouped[0].groups == 8 and isinstance(grouped[0], qat.GroupedConv2D)


def test_rebuild_parity_multi_input_and_lowered_layers(tiny_temporal_model):
    tfk = qat.to_tf_keras(tiny_temporal_model)
    assert [i.shape[1:] for i in tfk.inputs] == [(32, 24, 3), (8, 6, K)]
    x = sample_inputs(tiny_temporal_model, 1, seed=4)
    assert np.abs(tfk(x).numpy() - np.asarray(tiny_temporal_model(x))).max() <= 1e-5
    # Layers emitted by vipnas_tf.export.lowering (Cropping2D bands, AveragePooling2D sums).
    rng = np.random.default_rng(0)
    inp = keras.Input((10, 8, 16))
    y = lowering.grouped_conv2d(inp, rng.normal(size=(7, 7, 1, 16)).astype(np.float32), groups=16)
    y = lowering.grouped_conv2d(y, rng.normal(size=(3, 3, 4, 16)).astype(np.float32), groups=4,
                                method="dw_multiplier")
    y = lowering.hard_swish(y, "int8")
    model = keras.Model(inp, y)
    xs = rng.normal(size=(1, 10, 8, 16)).astype(np.float32)
    ref = np.asarray(model(xs))
    assert np.abs(qat.to_tf_keras(model)(xs).numpy() - ref).max() <= 1e-5 * np.abs(ref).max()


def test_raw_ops_node_is_refused():
    inp = keras.Input((4, 4, 3))
    model = keras.Model(inp, keras.ops.sin(inp) + 1.0)
    with pytest.raises(ValueError, match="raw keras.ops"):
        qat.to_tf_keras(model)


@pytest.fixture(scope="module")
def qat_result(tiny_model):
    rng = np.random.default_rng(0)
    data = [(sample_inputs(tiny_model, 4, seed)[0], rng.uniform(0, 1, (4, 8, 6, K)).astype(np.float32))
            for seed in range(2)]
    qmodel = qat.quantize_model(qat.to_tf_keras(tiny_model, split_activations=True))
    history = qat.fine_tune(qmodel, data, steps=2, learning_rate=1e-4)
    return qmodel, history, qat.export_qat_tflite(qmodel)


@pytest.mark.slow
def test_qat_fine_tunes_and_exports_runnable_int8(qat_result, tiny_model):
    from ai_edge_litert.interpreter import Interpreter
    qmodel, history, flatbuffer = qat_result
    assert np.isfinite(history.history["loss"]).all()
    ops = [o["op_name"] for o in Interpreter(model_content=flatbuffer)._get_ops_details()]
    assert "QUANTIZE" in ops and "CONV_2D" in ops
    interp = Interpreter(model_content=flatbuffer)
    interp.allocate_tensors()
    int8_tensors = [d for d in interp.get_tensor_details() if d["dtype"] == np.int8]
    assert len(int8_tensors) > 20  # weights and activations really are int8
    # The fake-quant model is what int8 should reproduce. Two fine-tune steps leave
    # TFMOT's moving-average ranges near their [-6, 6] initialisation, so one int8 step
    # of the output is about 12 / 255; the int8 model must reproduce the fake-quant model
    # to within two such steps.
    parity = run_tflite_parity_test(qmodel, sample_inputs(tiny_model, 1, seed=9), flatbuffer=flatbuffer,
                                    atol=2 * 12 / 255, same_argmax=False)
    assert parity.tflite.shape == (1, 8, 6, K)
