"""The most important tests of the foundation: a super-network under architecture A and
the model extracted for A compute the same function."""
import numpy as np
import pytest
import tensorflow as tf
import keras

from vipnas_tf.arch.presets import PRESETS
from vipnas_tf.layers import GroupedConv2D
from vipnas_tf.models import build_supernet
from vipnas_tf.testing.weights import randomize_weights

pytestmark = pytest.mark.slow  # traces super-networks / runs the real commands

INPUT = (64, 64)
SPACES = ["mobilenetv3", "resnet50"]


@pytest.fixture(scope="module", params=SPACES)
def net(request):
    net = build_supernet(request.param, input_size=INPUT)
    randomize_weights(net, seed=11)
    return net


def _archs(net):
    rng = np.random.default_rng(5)
    archs = {"max": net.space.max(), "min": net.space.min()}
    archs.update({f"random{i}": a for i, a in enumerate(net.space.sample(rng, 3))})
    archs.update({p.name: p.arch for p in PRESETS.values() if p.in_space and p.arch.space == net.space.name})
    return archs


def test_extraction_parity(net):
    x = tf.random.stateless_normal([2, *INPUT, 3], seed=[1, 2])
    for label, arch in _archs(net).items():
        want = net(x, arch=net.encode(arch), training=False)
        static = net.extract(arch)
        got = static(x, training=False)
        scale = float(tf.reduce_max(tf.abs(want)))
        assert scale > 1e-2, f"{label}: output too small for a meaningful comparison"
        diff = float(tf.reduce_max(tf.abs(want - got)))
        assert diff <= 1e-4, f"{label}: max abs diff {diff}"
        # only standard Keras layers in the extracted model (and GroupedConv2D, a Conv2D)
        for layer in static.layers:
            assert layer.__class__.__module__.startswith("keras.") or isinstance(layer, GroupedConv2D), layer


def test_different_archs_give_different_outputs(net):
    x = tf.random.stateless_normal([1, *INPUT, 3], seed=[3, 4])
    a = net(x, arch=net.encode(net.space.max()))
    b = net(x, arch=net.encode(net.space.min()))
    assert float(tf.reduce_max(tf.abs(a - b))) > 1e-3


def test_set_active_equals_arch_argument(net):
    arch = net.space.sample(np.random.default_rng(9))
    x = tf.random.stateless_normal([1, *INPUT, 3], seed=[5, 6])
    net.set_active(arch)
    assert net.get_active() == arch
    np.testing.assert_allclose(net(x), net(x, arch=net.encode(arch)), atol=1e-6)
    np.testing.assert_allclose(net(x), net(x, arch=arch), atol=1e-5)  # concrete-arch path
    net.set_active(net.space.max())


def test_no_retrace_across_architectures(net):
    traces = []

    @tf.function
    def step(x, arch):
        traces.append(1)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(net(x, arch=arch, training=True)))
        return loss, tape.gradient(loss, net.trainable_weights[0])

    x = tf.random.stateless_normal([2, *INPUT, 3], seed=[7, 8])
    for arch in net.space.sample(np.random.default_rng(1), 4):
        step(x, tf.constant(net.encode(arch)))
    assert len(traces) == 1


def test_extracted_model_saves_and_reloads(net, tmp_path):
    arch = net.space.sample(np.random.default_rng(2))
    static = net.extract(arch)
    path = tmp_path / "m.keras"
    static.save(path)
    revived = keras.models.load_model(path)
    x = tf.random.stateless_normal([1, *INPUT, 3], seed=[9, 9])
    np.testing.assert_allclose(static(x), revived(x), atol=1e-6)


def test_supernet_config_round_trip(net):
    config = net.get_config()
    clone = net.__class__.from_config(config)
    assert clone.space.name == net.space.name and clone.input_size == net.input_size
    assert len(clone.weights) == len(net.weights)


def test_bn_recalibration_helpers(net):
    net.reset_bn_statistics()
    bns = net.batch_norm_layers()
    assert bns and all(np.all(np.asarray(b.moving_mean) == 0) for b in bns)
    net.set_bn_momentum(0.5)
    assert all(float(b.momentum_var) == 0.5 for b in bns)
    net.set_bn_momentum(0.9)
    randomize_weights(net, seed=11)


def test_extract_rejects_out_of_space_arch(net):
    arch = net.space.max().replace_stage(1, kernel=9)
    with pytest.raises(ValueError, match="stage 2: kernel=9"):
        net.extract(arch)
