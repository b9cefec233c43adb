import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.layers.helpers import assert_close
from tests.testcase import run_layer_test
from vipnas_tf.layers import ElasticConv2DTranspose
from vipnas_tf.models import static_ops
from vipnas_tf.testing.weights import randomize_weights


def _layer(max_in=12, max_out=16, cpg=12):
    layer = ElasticConv2DTranspose(max_in, max_out, max_in_per_group=cpg)
    layer.build(None)
    randomize_weights(layer, 4)
    return layer


def test_layer_call_and_serialization():
    x = np.random.default_rng(0).normal(size=(2, 4, 3, 8)).astype("float32")
    run_layer_test(ElasticConv2DTranspose, dict(max_in_channels=8, max_out_channels=16, max_in_per_group=2, name="d"),
                   x, dict(out_channels=12, groups=4), expected_output_shape=(2, 8, 6, 12),
                   expected_num_trainable_weights=1, expected_num_non_trainable_weights=0)


def test_is_a_true_transposed_conv():
    """groups=1 equals TF's own conv2d_transpose (k4, s2, 'same' = PyTorch padding 1)."""
    layer = _layer()
    x = tf.random.stateless_normal([2, 5, 4, 12], seed=[1, 1])
    y = layer(x, out_channels=16, groups=1)
    w = np.asarray(layer.kernel)  # [ky, kx, in, out]: out[2i - 1 + ky] += x[i] * w[ky]
    # tf.nn.conv2d_transpose uses the same tap order, with [k, k, out, in] layout.
    tf_kernel = np.transpose(w, (0, 1, 3, 2))
    ref = tf.nn.conv2d_transpose(x, tf_kernel, [2, 10, 8, 16], 2, "SAME")
    assert y.shape == (2, 10, 8, 16)
    assert_close(y, ref, 1e-5)


def test_groups_act_per_group():
    layer = _layer()
    x = tf.random.stateless_normal([1, 4, 4, 8], seed=[2, 2])
    y = layer(x, out_channels=8, groups=2)
    w = np.asarray(layer.kernel)[:, :, :4, :8]
    for g in range(2):
        wg = np.transpose(w[:, :, :, 4 * g : 4 * g + 4], (0, 1, 3, 2))
        ref = tf.nn.conv2d_transpose(x[..., 4 * g : 4 * g + 4], wg, [1, 8, 8, 4], 2, "SAME")
        assert_close(y[..., 4 * g : 4 * g + 4], ref, 1e-5)


@pytest.mark.parametrize("in_ch,out,groups", [(12, 16, 1), (8, 8, 8), (12, 12, 4)])
def test_static_subpixel_twin_matches(in_ch, out, groups):
    layer = _layer()
    x = tf.random.stateless_normal([2, 3, 5, in_ch], seed=[3, 3])
    y = layer(x, out_channels=out, groups=groups)
    inp = keras.Input((3, 5, in_ch))
    model = keras.Model(inp, static_ops.subpixel_deconv(inp, out, groups, "dec"))
    for static in model.layers:
        if static.weights:
            static.set_weights(layer.export_weights(static, static.name.split("__")[1]))
    assert_close(y, model(x), 1e-5)
