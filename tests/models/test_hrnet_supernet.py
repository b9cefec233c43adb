"""HRNet super-network: extraction parity, one trace for every architecture, API, errors.

Small input (64x64: branch 1 at 16x16, branch 4 at 2x2) to keep the module fast; the
graph is the same at 256x192.
"""
import keras
import numpy as np
import pytest
import tensorflow as tf

from vipnas_tf.arch.describe import arch_cost, conv_costs
from vipnas_tf.arch.hrnet_space import stage_entries
from vipnas_tf.models import build_supernet
from vipnas_tf.models.hrnet_supernet import HRNetSuperNet
from vipnas_tf.testing.weights import randomize_weights

pytestmark = pytest.mark.slow  # traces super-networks / runs the real commands

SIZE = (64, 64)


@pytest.fixture(scope="module")
def net():
    return randomize_weights(build_supernet("hrnet_w32", input_size=SIZE), seed=0)


@pytest.fixture(scope="module")
def images():
    return tf.constant(np.random.default_rng(0).normal(size=(2, *SIZE, 3)).astype("float32"))


@pytest.mark.parametrize("which", ["max", "min", "random1", "random2"])
def test_extraction_parity(net, images, which):
    space = net.space
    arch = {"max": space.max(), "min": space.min()}.get(which) or space.sample(np.random.default_rng(int(which[-1])))
    y = net(images, arch=space.encode(arch), training=False).numpy()
    static = net.extract(arch)
    # Both eagerly: graph-mode rewrites (grappler / oneDNN fusions) change the float32
    # rounding of the static model itself by ~1e-4 at these magnitudes (randomised
    # weights give heatmaps up to O(100)); that would measure TensorFlow, not extraction.
    y_static = static(images, training=False).numpy()
    assert y.shape == (2, SIZE[0] // 4, SIZE[1] // 4, 17)
    assert np.max(np.abs(y)) > 1.0  # a non-trivial output
    assert np.max(np.abs(y - y_static)) <= 1e-4, arch.to_string()
    # the static model is the cost model's network, layer for layer
    assert sum(int(np.prod(w.shape)) for w in static.trainable_weights) == arch_cost(arch, SIZE).params
    conv_names = {l.name for l in static.layers if isinstance(l, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D))}
    assert conv_names == {c.name for c in conv_costs(arch, SIZE)}


def test_one_trace_for_ten_architectures(net, images):
    space = net.space
    traces = []

    @tf.function
    def forward(x, arch):
        traces.append(1)
        return net(x, arch=arch, training=False)

    rng = np.random.default_rng(3)
    outputs = [forward(images, tf.constant(space.encode(a))) for a in [space.max(), space.min(), *space.sample(rng, 8)]]
    assert len(traces) == 1
    assert all(o.shape == (2, SIZE[0] // 4, SIZE[1] // 4, 17) for o in outputs)
    # The architecture reaches the graph as a tensor (nothing baked in at trace time):
    # the traced function gives each architecture's eager output. Graph rewrites change
    # float32 rounding, hence a tolerance relative to the output scale; a wrong
    # architecture would be off by O(1).
    for out, arch in zip(outputs[1:3], [space.min(), space.sample(np.random.default_rng(3))]):
        want = net(images, arch=space.encode(arch), training=False).numpy()
        assert np.max(np.abs(out.numpy() - want)) <= 1e-4 * max(1.0, np.max(np.abs(want)))
    assert not np.allclose(outputs[0], outputs[1])


def test_set_active_and_depth(net, images):
    space = net.space
    arch = space.min()
    net.set_active(arch)
    assert net.get_active() == arch
    np.testing.assert_array_equal(net(images, training=False), net(images, arch=space.encode(arch), training=False))
    # concrete-Arch path: Python ints, the graph specialised to `arch`
    np.testing.assert_allclose(net(images, arch=arch, training=False), net(images, training=False), atol=1e-5)
    deeper = arch
    for i in stage_entries(3):
        deeper = deeper.replace_stage(i, depth=9)  # a third module: one block + fusion
    assert not np.allclose(net(images, arch=space.encode(deeper)), net(images, arch=space.encode(arch)))
    net.set_active(space.max())


def test_config_round_trip(net):
    config = net.get_config()
    assert config["space"] == "hrnet_w32" and config["input_size"] == list(SIZE)
    assert keras.saving.get_registered_object("vipnas_tf>HRNetSuperNet") is HRNetSuperNet
    clone = HRNetSuperNet.from_config(config)
    assert [w.path for w in clone.weights] == [w.path for w in net.weights]


def test_bad_architecture_is_rejected(net):
    bad = net.space.max().replace_stage(stage_entries(3)[1], width=40)
    for action in (net.set_active, net.extract):
        with pytest.raises(ValueError, match=r"stage 3 branch 2: width=40 .*allowed: \{16, 32, 48, 64\}"):
            action(bad)
