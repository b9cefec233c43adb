"""Latency lookup table: units, lowering parity, build/load round trip, prediction =
sum of entries + overhead, unknown keys (clear error or lazy measurement), and
predicted vs measured TFLite latency on two tiny archs (loose bound: the machine is
shared). 64x64 inputs keep it fast (units convert in ~0.3 s each)."""
import collections
import json

import numpy as np
import pytest

from vipnas_tf import litert
from vipnas_tf.arch import get_space, parse_arch
from vipnas_tf.models.static_builders import build_static
from vipnas_tf.search import latency as lat
from vipnas_tf.export.lowering import deployed as latency_lowering
from vipnas_tf.search import latency_units as units_lib
from vipnas_tf.testing.weights import randomize_weights

SIZE = (64, 64)
SPACE = get_space("mobilenetv3")
# Two small archs of the space: the smallest one with a third (repeated) block in
# stage 2, and one differing in kernels, groups and SE.
TINY_A = SPACE.min().replace_stage(1, depth=3)
TINY_B = parse_arch("mobilenetv3/stem_c16_k3/d1_c16_e1_k3_g16_att/d2_c24_e3_k7_g72/d2_c40_e3_k5_g60_att/"
                    "d2_c80_e3_k3_g60/d2_c112_e3_k3_g84_att/d2_c160_e3_k3_g60/head_c160_g160")


def _layer_signature(model):
    """Multiset of (layer type, weight shapes) of a model, ignoring the input layer."""
    sig = collections.Counter()
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer" or layer.name == "heatmaps":
            continue
        sig[(type(layer).__name__, tuple(tuple(w.shape) for w in layer.weights))] += 1
    return sig


def test_units_add_up_to_build_static():
    """The table's unit models are the static model's layers, unit by unit (TINY_B has
    every kind of block: expansion or not, each kernel, grouped and depthwise, SE)."""
    arch = TINY_B
    SPACE.validate(arch)
    total = collections.Counter()
    for u in units_lib.arch_units(arch, SIZE, "float32"):
        total += _layer_signature(units_lib.unit_model(u))
    assert total == _layer_signature(build_static(arch, SIZE))


def test_unit_keys_round_trip_and_cover_space():
    units = units_lib.space_units(SPACE, SIZE, "int8")
    keys = {u.key for u in units}
    assert len(keys) == len(units)
    for u in units:
        assert units_lib.parse_unit_key(u.key).key == u.key
    rng = np.random.default_rng(0)
    for arch in SPACE.sample(rng, 50) + [SPACE.max(), SPACE.min()]:
        assert {u.key for u in units_lib.arch_units(arch, SIZE, "int8")} <= keys
    with pytest.raises(ValueError, match="bad latency-table key"):
        units_lib.parse_unit_key("block/in8x8x16/c16_k3")


@pytest.mark.parametrize("quantization", ["float32", "int8"])
def test_lowering_is_the_same_function(quantization):
    static = randomize_weights(build_static(TINY_B, SIZE), seed=1)
    lowered = latency_lowering.lower_static_model(static, quantization)
    names = {type(layer).__name__ for layer in lowered.layers}
    assert "BatchNormalization" not in names
    x = np.random.default_rng(0).standard_normal((1,) + SIZE + (3,)).astype(np.float32)
    ref = np.asarray(static(x, training=False))
    got = np.asarray(lowered(x, training=False))
    assert np.abs(ref).max() > 1e-2
    np.testing.assert_allclose(got, ref, atol=1e-4)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """A float32 table holding only TINY_A's units (built once for the module)."""
    path = tmp_path_factory.mktemp("latency") / "tiny_fp32.json"
    units = units_lib.arch_units(TINY_A, SIZE, "float32")
    model = lat.LatencyModel.build("mobilenetv3", SIZE, "float32", path, progress=False, runs=15,
                                   units=units)
    return model, path


@pytest.mark.slow
def test_build_load_round_trip(table):
    model, path = table
    loaded = lat.LatencyModel.load(path)
    assert loaded.entries == model.entries
    assert loaded.overhead_ms == pytest.approx(model.overhead_ms, abs=1e-4)
    assert (loaded.space, tuple(loaded.input_size), loaded.quantization) == ("mobilenetv3", SIZE, "float32")
    assert loaded.meta["lowering"] == latency_lowering.LOWERING_VERSION
    assert not loaded.meta["complete"]  # only TINY_A's units, not the whole space
    d = json.loads(path.read_text())
    assert d["format"] == lat.FORMAT and d["num_entries"] == len(model.entries)
    assert all(e["p50_ms"] > 0 for e in d["entries"].values())


@pytest.mark.slow
def test_prediction_is_sum_of_entries_plus_overhead(table):
    model, _ = table
    keys = [u.key for u in units_lib.arch_units(TINY_A, SIZE, "float32")]
    assert model.scale == 1.0  # built from `units`: not calibrated
    expected = model.overhead_ms + sum(model.entries[k]["ms"] for k in keys)
    assert model.predict_ms(TINY_A) == pytest.approx(expected)
    assert model.raw_predict_ms(TINY_A) == pytest.approx(expected)
    bd = model.breakdown(TINY_A)
    assert bd[0][0] == "overhead" and [k for k, _ in bd[1:]] == keys
    assert sum(ms for _, ms in bd) == pytest.approx(model.predict_ms(TINY_A))
    # Repeated blocks share a key: the same entry counts once per block.
    assert len(set(keys)) < len(keys)
    assert model.predict_ms(TINY_A) > 0


@pytest.fixture(scope="module")
def filled(table, tmp_path_factory):
    """A copy of `table` loaded lazily, TINY_B's units measured on demand: (path, raw ms)."""
    _, path = table
    copy = tmp_path_factory.mktemp("latency_lazy") / "lazy.json"
    copy.write_text(path.read_text())
    lazy = lat.LatencyModel.load(copy, lazy=True)
    assert lazy.missing(TINY_B)
    return copy, lazy.raw_predict_ms(TINY_B)


@pytest.mark.slow
def test_unknown_key_error_and_lazy_fill(table, filled):
    _, path = table
    strict = lat.LatencyModel.load(path)
    assert strict.missing(TINY_B)
    with pytest.raises(KeyError, match="no entry for .* unit"):
        strict.predict_ms(TINY_B)
    copy, raw = filled
    assert raw > 0
    # The measured units were saved: a fresh strict load predicts the same.
    loaded = lat.LatencyModel.load(copy)
    assert not loaded.missing(TINY_B)
    assert loaded.raw_predict_ms(TINY_B) == pytest.approx(raw, abs=1e-4)


def test_bad_table_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="not a latency table"):
        lat.LatencyModel.load(bad)
    bad.write_text(json.dumps({"format": lat.FORMAT, "space": "mobilenetv3", "input_size": [64, 64],
                               "quantization": "float32", "overhead_ms": 0.01,
                               "entries": {"stem/in64x64x3/c16_k3_s2_hswish": {"p50_ms": 1}}}))
    with pytest.raises(ValueError, match="has no numeric 'ms'"):
        lat.LatencyModel.load(bad)


@pytest.mark.slow
def test_predicted_vs_measured_tiny_archs_and_calibration(filled):
    """calibrate() on two tiny archs fits scale = median(measured /
    sum of their units re-timed in the same session), which predict_ms and breakdown
    apply and the file keeps."""
    copy, _ = filled
    model = lat.LatencyModel.load(copy, lazy=True)
    archs = [TINY_A, TINY_B]
    assert not model.missing(TINY_B)  # measured lazily by the fixture
    raw = [model.raw_predict_ms(a) for a in archs]
    scale = model.calibrate(archs=archs, runs=20)
    cal = lat.LatencyModel.load(copy).meta["calibration"]
    assert cal["raw_predicted_ms"] == pytest.approx(raw, abs=1e-3)
    assert all(m > 0 for m in cal["measured_ms"]) and all(f > 0 for f in cal["session_units_ms"])
    assert scale == pytest.approx(float(np.median(np.divide(cal["measured_ms"], cal["session_units_ms"]))),
                                  rel=1e-3)
    # A sanity bound only: units and networks are timed in the same session, so load
    # cancels out of the ratio; the model's accuracy is scripts/bench_latency_model.py's
    # to report, not a timed unit test's.
    assert 0.5 < scale < 2.0
    loaded = lat.LatencyModel.load(copy)
    assert loaded.scale == pytest.approx(scale)
    assert loaded.predict_ms(TINY_B) == pytest.approx(scale * raw[1], rel=1e-3)
    assert sum(ms for _, ms in loaded.breakdown(TINY_B)) == pytest.approx(loaded.predict_ms(TINY_B))


@pytest.mark.slow
def test_measure_arch_ms_with_given_static_model():
    static = build_static(TINY_A, SIZE)
    ms = lat.measure_arch_ms(TINY_A, SIZE, "int8", weights=static, runs=5, warmup=1)
    assert ms > 0
    with pytest.raises(ValueError, match="takes 64x64 inputs"):
        lat.measure_arch_ms(TINY_A, (96, 64), "float32", weights=static)
    with pytest.raises(ValueError, match="quantization must be one of"):
        lat.measure_arch_ms(TINY_A, SIZE, "float16")


@pytest.mark.slow
def test_resnet_units_add_up_and_time_with_two_threads(tmp_path):
    """ResNet-family units are cut out of build_static by layer name: they add up to the
    whole network layer for layer; a 2-thread table times them on the wall clock and
    records its provenance."""
    space = get_space("resnet50_dense")
    arch = space.min().replace_stage(1, groups=1)
    units = units_lib.arch_units(arch, SIZE, "float32")
    total = collections.Counter()
    for u in units:
        total += _layer_signature(units_lib.unit_model(u))
    assert total == _layer_signature(build_static(arch, SIZE))
    keys = [u.key for u in units]
    assert keys[0].endswith("_relu_pool") and "bottleneck/in16x16x32/c64_m64_k3_g64_s1_proj" in keys
    assert any("_g1_s2_proj" in k for k in keys)  # the dense stage 2
    with pytest.raises(ValueError, match="clock='cpu' measures the calling thread"):
        lat.LatencyModel.build(space, SIZE, "float32", None, progress=False, threads=2, units=units[:1])
    model = lat.LatencyModel.build(space, SIZE, "float32", tmp_path / "res.json", progress=False, runs=3, warmup=1,
                                   threads=2, clock="wall", units=units)
    assert model.meta["threads"] == 2 and model.meta["clock"] == "wall"
    assert model.meta["machine"]["cpu_flags_hash"] == litert.cpu_flags_hash()
    assert set(keys) <= set(model.entries) and all(e["p50_ms"] > 0 for e in model.entries.values())
    assert model.predict_ms(arch) > model.overhead_ms


@pytest.mark.slow
def test_hrnet_units_add_up_to_build_static():
    """HRNet units (stem, bottlenecks, transitions, BasicBlocks, multi-input fusions, final
    conv) are cut out of build_static: they add up to it layer for layer; the space's
    units are not enumerated, so a table is built from given architectures' units."""
    space = get_space("hrnet_w32")
    arch = space.min()
    units = units_lib.arch_units(arch, SIZE, "float32")
    total = collections.Counter()
    for u in units:
        total += _layer_signature(units_lib.unit_model(u))
    assert total == _layer_signature(build_static(arch, SIZE))
    fusions = [u for u in units if u.kind == "fusion"]
    assert [u.key for u in fusions[:1]] == ["fusion/in16x16x8/w8-16_o2"] and fusions[-1].get("outputs") == 1
    assert len(units_lib.unit_model(fusions[-1]).inputs) == 4
    with pytest.raises(ValueError, match="not enumerated"):
        lat.LatencyModel.build(space, SIZE, "float32", None, progress=False)
