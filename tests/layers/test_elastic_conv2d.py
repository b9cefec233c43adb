import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.layers.helpers import assert_close
from tests.testcase import run_layer_test
from vipnas_tf.layers import ElasticConv2D
from vipnas_tf.testing.weights import randomize_weights


def _layer(**kw):
    args = dict(max_in_channels=16, max_out_channels=24, max_kernel_size=7, max_in_per_group=16, use_bias=True)
    args.update(kw)
    layer = ElasticConv2D(**args)
    layer.build(None)
    randomize_weights(layer, 3)
    return layer


def test_layer_call_and_serialization():
    x = np.random.default_rng(0).normal(size=(2, 9, 7, 8)).astype("float32")
    run_layer_test(ElasticConv2D, dict(max_in_channels=8, max_out_channels=16, max_kernel_size=5, strides=2,
                                       max_in_per_group=4, name="c"),
                   x, dict(out_channels=12, kernel_size=3, groups=2), expected_output_shape=(2, 5, 4, 12),
                   expected_num_trainable_weights=1, expected_num_non_trainable_weights=0)


@pytest.mark.parametrize("in_ch,out,k,groups,stride", [(16, 24, 7, 1, 1), (12, 8, 5, 4, 1), (16, 16, 3, 16, 2), (8, 20, 3, 2, 2)])
def test_slice_equals_static_conv_built_from_sliced_weights(in_ch, out, k, groups, stride):
    layer = _layer(strides=stride)
    x = tf.random.stateless_normal([2, 9, 7, in_ch], seed=[1, 2])
    y = layer(x, out_channels=out, kernel_size=k, groups=groups)
    # The static twin, with weights cut by hand the way the paper describes.
    off = (7 - k) // 2
    kernel = np.asarray(layer.kernel)[off : off + k, off : off + k, : in_ch // groups, :out]
    static = keras.layers.Conv2D(out, k, strides=stride, padding="same", groups=groups)
    static.build((None, 9, 7, in_ch))
    static.set_weights([kernel, np.asarray(layer.bias)[:out]])
    assert_close(y, static(x), 1e-5)
    # and export_weights produces exactly those weights
    for got, want in zip(layer.export_weights(static), [kernel, np.asarray(layer.bias)[:out]]):
        np.testing.assert_array_equal(got, want)


def test_depthwise_export_matches_depthwise_layer():
    layer = _layer(max_in_per_group=8)
    x = tf.random.stateless_normal([1, 8, 8, 16], seed=[3, 4])
    y = layer(x, out_channels=16, kernel_size=5, groups=16)
    static = keras.layers.DepthwiseConv2D(5, padding="same", use_bias=True)
    static.build((None, 8, 8, 16))
    static.set_weights(layer.export_weights(static))
    assert_close(y, static(x), 1e-5)


def test_gradients_reach_only_the_active_slice():
    layer = _layer()
    x = tf.random.stateless_normal([2, 6, 6, 8], seed=[5, 6])
    with tf.GradientTape() as tape:
        y = layer(x, out_channels=10, kernel_size=3, groups=2)
        loss = tf.reduce_sum(tf.square(y))
    g_kernel, g_bias = (np.asarray(g) for g in tape.gradient(loss, [layer.kernel, layer.bias]))
    active = np.zeros_like(g_kernel, bool)
    active[2:5, 2:5, :4, :10] = True
    assert np.all(g_kernel[~active] == 0)
    assert np.count_nonzero(g_kernel[active]) > 0.9 * active.sum()
    assert np.all(g_bias[10:] == 0) and np.all(g_bias[:10] != 0)


def test_tensor_choices_do_not_retrace():
    layer = _layer()
    traces = []

    @tf.function
    def f(x, out, k):
        traces.append(1)
        return layer(x, out_channels=out, kernel_size=k, groups=1)

    x = tf.random.normal([1, 8, 8, 16])
    for out, k in [(8, 3), (24, 7), (16, 5)]:
        assert f(x, tf.constant(out), tf.constant(k)).shape[-1] == out
    assert len(traces) == 1


def test_even_max_kernel_is_refused():
    with pytest.raises(ValueError, match="odd"):
        ElasticConv2D(4, 4, 4)
