"""Multi-frame propagation: the recurrence of eq. 2, the loss of eq. 1, sandwich
sampling of per-frame architectures."""
import numpy as np
import pytest
import tensorflow as tf

from vipnas_tf.models import build_supernet
from vipnas_tf.temporal import TemporalSpace
from vipnas_tf.temporal.propagation import (
    PropagationModel,
    multi_frame_loss,
    sample_frame_archs,
    sandwich_frame_archs,
)
from vipnas_tf.temporal.supernet import TemporalSuperNetwork
from vipnas_tf.testing.weights import randomize_weights

INPUT = (64, 64)
T = 3


@pytest.fixture(scope="module")
def models():
    spatial = build_supernet("mobilenetv3", INPUT)
    randomize_weights(spatial, seed=1)
    key_arch = spatial.space.max()
    key = spatial.extract(key_arch)
    tnet = TemporalSuperNetwork.from_spatial(spatial)
    randomize_weights(tnet.fusion, seed=2)
    return spatial, key, tnet


def _clips(n=2):
    return tf.random.stateless_normal([n, T + 1, *INPUT, 3], seed=[4, 5])


def test_loss_matches_numpy():
    rng = np.random.default_rng(0)
    pred = rng.uniform(size=(2, T, 4, 3, 5)).astype(np.float32)
    target = rng.uniform(size=(2, T, 4, 3, 5)).astype(np.float32)
    weight = (rng.uniform(size=(2, T, 5)) > 0.3).astype(np.float32)
    per_frame = [np.mean(0.5 * weight[:, t, None, None, :] * (pred[:, t] - target[:, t]) ** 2) for t in range(T)]
    assert float(multi_frame_loss(pred, target, weight)) == pytest.approx(sum(per_frame), rel=1e-5)
    assert float(multi_frame_loss(pred, target, weight, "mean")) == pytest.approx(np.mean(per_frame), rel=1e-5)
    assert float(multi_frame_loss(pred, target)) == pytest.approx(
        sum(np.mean(0.5 * (pred[:, t] - target[:, t]) ** 2) for t in range(T)), rel=1e-5)
    assert float(multi_frame_loss(pred, pred, weight)) == 0.0
    # a joint with zero weight does not count
    target2 = target.copy()
    target2[..., 0] += 10.0 * (weight[:, :, None, None, 0] == 0)
    assert float(multi_frame_loss(pred, target2, weight)) == pytest.approx(sum(per_frame), rel=1e-5)
    with pytest.raises(ValueError, match=r"\[N, T, h, w, K\]"):
        multi_frame_loss(pred[:, 0], target[:, 0])


def test_recurrence(models):
    """H^0 = S(I^0), H^t = T(I^t, H^(t-1); arch^t), key frame optional in the output."""
    _, key, tnet = models
    clips = _clips()
    v = sample_frame_archs(tnet.temporal_space, np.random.default_rng(0), T, "random")
    out = PropagationModel(tnet, key, include_key=True)(clips, v, training=False).numpy()
    assert out.shape == (2, T + 1, 16, 16, 17)
    h = key(clips[:, 0], training=False)
    np.testing.assert_allclose(out[:, 0], h, atol=1e-6)
    for t in range(1, T + 1):
        h = tnet(clips[:, t], h, arch=v[t - 1], training=False)
        np.testing.assert_allclose(out[:, t], h, atol=1e-5)
    nonkey = PropagationModel(tnet, key)(clips, v, training=False).numpy()
    np.testing.assert_allclose(nonkey, out[:, 1:], atol=1e-6)
    # the tf.while_loop form computes the same
    looped = PropagationModel(tnet, key, unroll=False, include_key=True)(clips, tf.constant(v), training=False)
    np.testing.assert_allclose(looped, out, atol=1e-5)
    # the concrete (FrameArch list) path too
    archs = tnet.temporal_space.decode_many(v)
    np.testing.assert_allclose(PropagationModel(tnet, key)(clips, frame_archs=archs, training=False), nonkey, atol=1e-5)


def test_key_model_is_frozen_and_gradients_reach_every_frame(models):
    spatial, key, tnet = models
    model = PropagationModel(tnet, key)
    assert not key.trainable
    assert all(w is not None for w in model.trainable_weights)
    assert {id(w) for w in model.trainable_weights} == {id(w) for w in tnet.trainable_weights}
    clips = _clips()
    v = sample_frame_archs(tnet.temporal_space, np.random.default_rng(1), T, "max")
    target = tf.random.stateless_uniform([2, T, 16, 16, 17], seed=[1, 1])
    # every frame's fusion module (at its own stage) receives a gradient
    with tf.GradientTape() as tape:
        loss = multi_frame_loss(model(clips, v, training=True), target)
    grads = dict(zip([w.path for w in tnet.trainable_weights], tape.gradient(loss, tnet.trainable_weights)))
    used = {int(s) for s in v[:, -1]}
    for s in used:
        g = grads[f"fusion/s{s}_conv1_kernel"]
        assert g is not None and float(tf.reduce_max(tf.abs(g))) > 0
    # SuperNetwork key model with a key architecture works the same
    via_supernet = PropagationModel(tnet, spatial, key_arch=spatial.space.max())
    np.testing.assert_allclose(via_supernet.key_heatmaps(clips[:, 0]), key(clips[:, 0]), atol=1e-5)


def test_bad_frame_archs(models):
    _, key, tnet = models
    v = sample_frame_archs(tnet.temporal_space, np.random.default_rng(0), 2, "random")
    with pytest.raises(ValueError, match="T=3"):
        PropagationModel(tnet, key)(_clips(1), v)
    with pytest.raises(ValueError, match="TemporalSuperNetwork"):
        PropagationModel(key, key)


def test_sample_frame_archs_sandwich():
    ts = TemporalSpace("mobilenetv3")
    rng = np.random.default_rng(0)
    for mode, spatial in (("max", ts.spatial.max()), ("min", ts.spatial.min())):
        draws = [ts.decode_many(sample_frame_archs(ts, rng, 4, mode)) for _ in range(5)]
        assert all(fa.spatial == spatial for d in draws for fa in d)
        # temporal choices are random (paper 3.4.2), per frame
        assert len({(fa.fusion_op, fa.fusion_stage) for d in draws for fa in d}) > 3
    v = sample_frame_archs(ts, rng, 4, "random")
    assert v.shape == (4, ts.encoding_size) and v.dtype == np.int32
    assert len({fa.spatial for fa in ts.decode_many(v)}) == 4
    members = sandwich_frame_archs(ts, rng, 3, num_random=2)
    assert len(members) == 4 and ts.decode(members[0][0]).spatial == ts.spatial.max()
    with pytest.raises(ValueError, match="at least one non-key frame"):
        sample_frame_archs(ts, rng, 0)
    with pytest.raises(ValueError, match="mode must be"):
        sample_frame_archs(ts, rng, 3, "biggest")
