"""ElasticFusion: each op against a numpy reference, tensor choices = Python choices,
stage selection, width slicing (Cat rows), static twin parity, serialisation."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.layers.helpers import assert_close
from tests.testcase import run_serialization_test
from vipnas_tf.temporal.fusion import ElasticFusion, static_fusion
from vipnas_tf.testing.weights import randomize_weights

K = 5
CHANNELS = [8, 12, 16]


@pytest.fixture(scope="module")
def fusion():
    layer = ElasticFusion(K, CHANNELS, name="fusion")
    layer.build(None)
    randomize_weights(layer, seed=4)
    return layer


def _inputs(c, hs, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, hs, hs, c)).astype(np.float32)
    prev = rng.uniform(size=(2, 8, 8, K)).astype(np.float32)
    return x, prev


def _reference(layer, x, prev, stage, op, c):
    i = stage - 1
    cmax = CHANNELS[i]
    k1 = np.asarray(layer.conv1_kernels[i])[0, 0, :, :c]
    b1 = np.asarray(layer.conv1_biases[i])[:c]
    h = prev @ k1 + b1
    h = tf.image.resize(h, x.shape[1:3], method="bilinear").numpy()
    k2 = np.asarray(layer.conv2_kernels[i])[0, 0]
    b2 = np.asarray(layer.conv2_biases[i])[:c]
    if op == "add":
        return (x + h) @ k2[:c, :c] + b2
    if op == "mul":
        return (x * h) @ k2[:c, :c] + b2
    return x @ k2[:c, :c] + h @ k2[cmax:cmax + c, :c] + b2


@pytest.mark.parametrize("op", ["add", "mul", "cat"])
@pytest.mark.parametrize("stage,c,hs", [(1, 8, 16), (2, 8, 8), (3, 16, 4), (3, 12, 4)])
def test_ops_match_reference(fusion, op, stage, c, hs):
    x, prev = _inputs(c, hs)
    want = _reference(fusion, x, prev, stage, op, c)
    assert float(np.abs(want).max()) > 1e-2
    assert_close(fusion(x, prev, stage=stage, op=op), want, atol=1e-4)
    # tensors: op index and selected stage as int32 scalars, width as a tensor
    got = fusion(x, prev, stage=stage, op=tf.constant(["add", "mul", "cat"].index(op)),
                 channels=tf.constant(c), selected_stage=tf.constant(stage))
    assert_close(got, want, atol=1e-4)


def test_other_stage_passes_features_through(fusion):
    x, prev = _inputs(8, 8)
    assert_close(fusion(x, prev, stage=2, op="cat", selected_stage=3), x, atol=0)
    assert_close(fusion(x, prev, stage=2, op=tf.constant(2), selected_stage=tf.constant(3)), x, atol=0)


def test_ops_differ_and_heatmaps_matter(fusion):
    x, prev = _inputs(12, 4, seed=1)
    outs = [fusion(x, prev, stage=3, op=op).numpy() for op in ("add", "mul", "cat")]
    assert np.abs(outs[0] - outs[1]).max() > 1e-2 and np.abs(outs[0] - outs[2]).max() > 1e-2
    other = fusion(x, prev * 0.0, stage=3, op="cat").numpy()
    assert np.abs(outs[2] - other).max() > 1e-2


def test_identity_initialisation_passes_features():
    """A fresh module with zero heatmaps returns the features for Add and Cat (so a
    T-ViPNet initialised from S-ViPNet starts as S-ViPNet)."""
    layer = ElasticFusion(K, CHANNELS)
    x, prev = _inputs(12, 4)
    for op in ("add", "cat"):
        assert_close(layer(x, np.zeros_like(prev), stage=3, op=op, channels=12), x, atol=1e-6)


@pytest.mark.parametrize("op", ["add", "mul", "cat"])
def test_static_twin_matches(fusion, op):
    """static_fusion (standard Keras layers) with export_weights = the elastic layer,
    at a narrower width than the maximum (Cat: rows [:C] + [Cmax:Cmax+C])."""
    c, hs, stage = 12, 4, 3
    x, prev = _inputs(c, hs, seed=2)
    fin = keras.Input((hs, hs, c))
    pin = keras.Input((8, 8, K))
    model = keras.Model([fin, pin], static_fusion(fin, pin, stage, op, name="fusion"))
    for layer in model.layers:
        if layer.weights:
            assert layer.name.startswith("fusion__s3_")
            layer.set_weights(fusion.export_weights(layer, layer.name.split("__")[1]))
        assert layer.__class__.__module__.startswith("keras.")
    assert_close(model([x, prev]), fusion(x, prev, stage=stage, op=op, channels=c), atol=1e-5)


def test_serialization(fusion):
    clone = run_serialization_test(fusion)
    assert clone.stage_channels == CHANNELS and clone.num_keypoints == K


def test_bad_arguments(fusion):
    x, prev = _inputs(8, 8)
    with pytest.raises(ValueError, match="stage must be a Python int in 1..3"):
        fusion(x, prev, stage=4, op="add")
    with pytest.raises(ValueError, match="fusion op 'sub'"):
        fusion(x, prev, stage=1, op="sub")
