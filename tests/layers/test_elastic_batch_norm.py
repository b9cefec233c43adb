import keras
import numpy as np
import tensorflow as tf

from tests.layers.helpers import assert_close
from tests.testcase import run_layer_test
from vipnas_tf.layers import ElasticBatchNorm
from vipnas_tf.testing.weights import randomize_weights


def _bn():
    bn = ElasticBatchNorm(16)
    bn.build(None)
    randomize_weights(bn, 5)
    return bn


def test_layer_call_and_serialization():
    x = np.random.default_rng(0).normal(size=(2, 4, 4, 6)).astype("float32")
    run_layer_test(ElasticBatchNorm, dict(max_channels=8, momentum=0.8, name="bn"), x,
                   expected_output_shape=(2, 4, 4, 6), expected_num_trainable_weights=2,
                   expected_num_non_trainable_weights=3)


def test_inference_slice_equals_static_bn():
    bn = _bn()
    x = tf.random.stateless_normal([2, 4, 4, 10], seed=[1, 2])
    static = keras.layers.BatchNormalization(epsilon=1e-5)
    static.build((None, 4, 4, 10))
    static.set_weights(bn.export_weights(static))
    assert_close(bn(x, training=False), static(x, training=False), 1e-5)


def test_training_updates_only_active_statistics():
    bn = _bn()
    before_mean = np.asarray(bn.moving_mean).copy()
    x = tf.random.stateless_normal([4, 5, 5, 6], seed=[3, 4]) * 2.0 + 1.0
    y = bn(x, training=True)
    after_mean = np.asarray(bn.moving_mean)
    assert np.all(after_mean[6:] == before_mean[6:])
    expected = before_mean[:6] * 0.9 + 0.1 * np.asarray(tf.reduce_mean(x, axis=[0, 1, 2]))
    np.testing.assert_allclose(after_mean[:6], expected, atol=1e-5)
    # batch statistics normalise the output
    np.testing.assert_allclose(np.asarray(tf.reduce_mean((y - bn.beta[:6]) / bn.gamma[:6], [0, 1, 2])), 0, atol=1e-4)


def test_momentum_variable_gives_cumulative_average():
    bn = _bn()
    bn.reset_statistics()
    batches = [tf.random.stateless_normal([3, 4, 4, 8], seed=[i, 9]) + i for i in range(4)]
    for n, b in enumerate(batches):
        bn.set_momentum(n / (n + 1))
        bn(b, training=True)
    want = np.mean([np.asarray(tf.reduce_mean(b, [0, 1, 2])) for b in batches], axis=0)
    np.testing.assert_allclose(np.asarray(bn.moving_mean)[:8], want, atol=1e-5)


def test_gradients_only_active_slice():
    bn = _bn()
    x = tf.random.normal([2, 3, 3, 5])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(bn(x, training=True) * tf.random.normal([2, 3, 3, 5]))
    g = np.asarray(tape.gradient(loss, bn.gamma))
    assert np.all(g[5:] == 0) and np.all(g[:5] != 0)
