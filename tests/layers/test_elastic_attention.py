import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.layers.helpers import assert_close
from tests.testcase import run_layer_test
from vipnas_tf.blocks import maybe
from vipnas_tf.layers import ElasticContextBlock, ElasticSE
from vipnas_tf.models import static_ops
from vipnas_tf.testing.weights import randomize_weights


def _built(layer):
    layer.build(None)
    randomize_weights(layer, 6)
    return layer


def _static_twin(fn, x, source):
    inp = keras.Input(x.shape[1:])
    model = keras.Model(inp, fn(inp, "att"))
    for layer in model.layers:
        if layer.weights:
            layer.set_weights(source.export_weights(layer, layer.name.split("__")[1]))
    return model


@pytest.mark.parametrize("cls,trainable", [(ElasticSE, 4), (ElasticContextBlock, 8)])
def test_layer_call_and_serialization(cls, trainable):
    x = np.random.default_rng(0).normal(size=(2, 5, 4, 20)).astype("float32")
    run_layer_test(cls, dict(max_channels=32, name="att"), x, expected_output_shape=(2, 5, 4, 20),
                   expected_num_trainable_weights=trainable, expected_num_non_trainable_weights=0)


@pytest.mark.parametrize("channels", [32, 20])
def test_se_slice_equals_static_twin(channels):
    se = _built(ElasticSE(32))
    x = tf.random.stateless_normal([2, 5, 4, channels], seed=[1, 1])
    assert_close(se(x), _static_twin(static_ops.squeeze_excite, x, se)(x), 1e-5)


@pytest.mark.parametrize("channels", [64, 48])
def test_gc_slice_equals_static_twin(channels):
    gc = _built(ElasticContextBlock(64))
    x = tf.random.stateless_normal([2, 4, 3, channels], seed=[2, 2])
    y = gc(x)
    assert not np.allclose(np.asarray(y), np.asarray(x))  # the block does something
    assert_close(y, _static_twin(static_ops.context_block, x, gc)(x), 1e-5)


def test_attention_switch_is_identity_when_off():
    se = _built(ElasticSE(16))
    x = tf.random.normal([1, 3, 3, 16])
    assert_close(maybe(tf.constant(0), se, x), x, 0)
    assert not np.allclose(np.asarray(maybe(tf.constant(1), se, x)), np.asarray(x))
