"""T-ViPNet super-network: extraction parity, initialisation from S-ViPNet, one trace
for every frame architecture, config round trip."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from vipnas_tf.layers import GroupedConv2D
from vipnas_tf.models import build_supernet
from vipnas_tf.temporal import FrameArch
from vipnas_tf.temporal.supernet import TemporalSuperNetwork
from vipnas_tf.testing.weights import randomize_weights

pytestmark = pytest.mark.slow  # traces super-networks / runs the real commands

INPUT = (64, 64)


@pytest.fixture(scope="module", params=["mobilenetv3", "resnet50"])
def net(request):
    net = TemporalSuperNetwork(request.param, INPUT)
    randomize_weights(net, seed=7)
    return net


def _inputs(n=2, seed=0):
    x = tf.random.stateless_normal([n, *INPUT, 3], seed=[seed, 1])
    prev = tf.random.stateless_uniform([n, INPUT[0] // 4, INPUT[1] // 4, 17], seed=[seed, 2])
    return x, prev


def _frame_archs(net):
    ts = net.temporal_space
    rng = np.random.default_rng(5)
    archs = [ts.max(), ts.min()]
    # every stage, the ops in turn, random spatial choices (every op at every stage
    # and width is covered by tests/temporal/test_fusion.py)
    for i, stage in enumerate(ts.stages):
        archs.append(FrameArch(ts.sample(rng).spatial, ts.ops[i % len(ts.ops)], stage))
    return archs


def test_extraction_parity(net, monkeypatch):
    x, prev = _inputs()
    fused = []
    fuse = net.fusion.fuse
    monkeypatch.setattr(net.fusion, "fuse", lambda *a, **k: fused.append(fuse(*a, **k)) or fused[-1])
    for fa in _frame_archs(net):
        fused.clear()
        want = net(x, prev, arch=net.encode(fa), training=False)
        static = net.extract(fa)
        # The fused stage features themselves: a randomised network's output barely
        # depends on early stages, so the output alone would hide a fusion bug there.
        assert len(fused) == 1
        probe = keras.Model(static.inputs, static.get_layer(f"fusion__s{fa.fusion_stage}_conv2").output)
        got_fused = probe({"image": x, "prev_heatmaps": prev})
        scale = float(tf.reduce_max(tf.abs(fused[0])))
        assert float(tf.reduce_max(tf.abs(fused[0] - got_fused))) <= 1e-5 * max(1.0, scale), fa.to_string()
        assert [t.name for t in static.inputs] == ["image", "prev_heatmaps"]
        assert static.output.name.startswith("heatmaps") or static.layers[-1].name == "heatmaps"
        got = static({"image": x, "prev_heatmaps": prev}, training=False)
        scale = float(tf.reduce_max(tf.abs(want)))
        assert scale > 1e-2, fa.to_string()
        diff = float(tf.reduce_max(tf.abs(want - got)))
        assert diff <= 1e-5 * max(1.0, scale), f"{fa}: max abs diff {diff}"
        for layer in static.layers:
            assert layer.__class__.__module__.startswith("keras.") or isinstance(layer, GroupedConv2D), layer
    # the concrete-FrameArch path (specialised graph) computes the same
    fa = _frame_archs(net)[-1]
    np.testing.assert_allclose(net(x, prev, arch=fa), net(x, prev, arch=net.encode(fa)), atol=1e-5)


def test_previous_heatmaps_and_choices_matter(net):
    x, prev = _inputs(1, seed=3)
    ts = net.temporal_space
    spatial = ts.max().spatial
    # (a randomised network is nearly blind to early stages: compare at the last one)
    last = ts.stages[-1]
    base = net(x, prev, arch=net.encode(FrameArch(spatial, "add", last))).numpy()
    assert np.abs(base - net(x, prev * 0.0, arch=net.encode(FrameArch(spatial, "add", last))).numpy()).max() > 1e-3
    assert np.abs(base - net(x, prev, arch=net.encode(FrameArch(spatial, "cat", last))).numpy()).max() > 1e-3
    assert np.abs(base - net(x, prev, arch=net.encode(FrameArch(spatial, "add", last - 1))).numpy()).max() > 1e-4


def test_no_retrace_across_frame_architectures(net):
    if net.space_name != "mobilenetv3":
        pytest.skip("same hook machinery for every family; one trace test keeps the suite short")
    traces = []

    @tf.function
    def forward(x, prev, arch):
        traces.append(1)
        return net(x, prev, arch=arch, training=False)

    x, prev = _inputs(1)
    rng = np.random.default_rng(2)
    for fa in [net.temporal_space.max(rng), net.temporal_space.min(rng), *net.sample(rng, 3)]:
        got = forward(x, prev, tf.constant(net.encode(fa)))
        np.testing.assert_allclose(got, net(x, prev, arch=net.encode(fa)), atol=1e-5)
    assert len(traces) == 1


def test_from_spatial_starts_as_s_vipnet():
    """Paper 3.4.2: initialised from the spatial weights; with the fresh (identity)
    fusion module and zero heatmaps, Add and Cat frames reproduce the spatial net."""
    spatial = build_supernet("mobilenetv3", INPUT)
    randomize_weights(spatial, seed=3)
    arch = spatial.space.sample(np.random.default_rng(4))
    tnet = TemporalSuperNetwork.from_spatial(spatial, max_arch=arch)
    assert tnet.temporal_space.max().spatial == arch
    x, prev = _inputs(1)
    want = spatial(x, arch=spatial.encode(arch)).numpy()
    for op, stage in (("add", 2), ("cat", 5)):
        got = tnet(x, prev * 0.0, arch=tnet.encode(FrameArch(arch, op, stage))).numpy()
        np.testing.assert_allclose(got, want, atol=1e-5)
    # a copy: training the temporal network leaves the key frame network alone
    tnet.spatial.weights[3].assign(tnet.spatial.weights[3] + 1.0)
    assert not np.allclose(tnet.spatial.weights[3].numpy(), spatial.weights[3].numpy())
    with pytest.raises(ValueError, match="bigger than the temporal space's bound"):
        tnet.encode(tnet.temporal_space.max().__class__(spatial.space.max(), "add", 1))


def test_config_round_trip_and_active_arch():
    tnet = TemporalSuperNetwork("mobilenetv3", INPUT, max_arch=build_supernet("mobilenetv3", INPUT).space.min())
    clone = TemporalSuperNetwork.from_config(tnet.get_config())
    assert clone.temporal_space.max().spatial == tnet.temporal_space.max().spatial
    assert keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(tnet)).get_config() == tnet.get_config()
    fa = tnet.sample(np.random.default_rng(0))
    tnet.set_active(fa)
    assert tnet.get_active() == fa


@pytest.mark.slow
def test_hrnet_extraction_parity(monkeypatch):
    """HRNet: fusion on branch 1 at the end of a stage; one frame architecture (the
    HRNet super-network takes ~1 min to build and run here)."""
    net = TemporalSuperNetwork("hrnet_w32", INPUT)
    randomize_weights(net, seed=7)
    fused = []
    fuse = net.fusion.fuse
    monkeypatch.setattr(net.fusion, "fuse", lambda *a, **k: fused.append(fuse(*a, **k)) or fused[-1])
    x, prev = _inputs(1)
    fa = FrameArch(net.temporal_space.sample(np.random.default_rng(0)).spatial, "cat", 2)
    want = net(x, prev, arch=net.encode(fa))
    static = net.extract(fa)
    got = static({"image": x, "prev_heatmaps": prev})
    probe = keras.Model(static.inputs, static.get_layer("fusion__s2_conv2").output)
    assert len(fused) == 1
    np.testing.assert_allclose(probe({"image": x, "prev_heatmaps": prev}), fused[0], atol=1e-5)
    np.testing.assert_allclose(got, want, atol=1e-5 * max(1.0, float(tf.reduce_max(tf.abs(want)))))
