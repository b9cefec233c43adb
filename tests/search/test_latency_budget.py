"""Latency budgets: a table from another CPU, LiteRT version, input size, thread count,
precision or export lowering is refused (naming field, table value, asked value) or re-measured; a
budget below the space's cheapest predicted latency is refused before any search
starts, naming that latency (spatial and temporal); the cheapest architecture and the
per-frame latency of a schedule follow the table. Tables here are written by hand
(no TFLite measurement), so these tests take well under a second each."""
import json
import os

import numpy as np
import pytest

from vipnas_tf import litert
from vipnas_tf.arch import get_space
from vipnas_tf.arch.presets import resolve_arch
from vipnas_tf.export.lowering import deployed as lowering_lib
from vipnas_tf.search import latency as lat
from vipnas_tf.search import latency_budget as lb
from vipnas_tf.search import latency_units as units_lib
from vipnas_tf.search.latency_check import LatencyCheckConfig, check_latency_model
from vipnas_tf.search.spatial import SearchError, SpatialSearchConfig, run_spatial_search
from vipnas_tf.search.temporal import TemporalSearch
from vipnas_tf.temporal.frame_arch import FrameArch

SIZE = (64, 64)
SPACE = get_space("mobilenetv3_quick")
DENSE = get_space("mobilenetv3_dense")


def _write_table(path, space, entries_ms=None, threads=1, input_size=SIZE, quantization="float32", machine=None,
                 overhead_ms=0.05, lowering=lowering_lib.LOWERING_VERSION):
    """A table JSON for `space` with every unit of the space at `entries_ms(unit)` ms."""
    here = litert.machine_info()
    table = {"format": lat.FORMAT, "space": space.name, "family": space.family, "input_size": list(input_size),
             "quantization": quantization, "threads": threads, "clock": "cpu" if threads == 1 else "wall",
             "overhead_ms": overhead_ms, "machine": dict(here, **(machine or {})), "lowering": lowering,
             "entries": {}}
    if entries_ms is not None:
        for u in units_lib.space_units(space, input_size, quantization):
            table["entries"][u.key] = {"ms": entries_ms(u)}
    path.write_text(json.dumps(table))
    return path


def _asked(**kw):
    return dict(dict(space=SPACE, input_size=SIZE, quantization="float32", threads=1), **kw)


@pytest.mark.parametrize("field,table_kw,asked_kw,table_value,asked_value", [
    ("cpu", dict(machine={"cpu": "Other CPU 9000"}), {}, "Other CPU 9000", None),
    ("cpu_flags_hash", dict(machine={"cpu_flags_hash": "0123456789ab"}), {}, "0123456789ab", None),
    ("litert_version", dict(machine={"ai_edge_litert": "0.0.1"}), {}, "0.0.1", None),
    ("input_size", dict(input_size=(128, 96)), {}, [128, 96], [64, 64]),
    ("threads", dict(threads=2), {}, 2, 1),
    ("quantization", {}, dict(quantization="int8"), "float32", "int8"),
    ("lowering", dict(lowering="latency_lowering/v0"), {}, "latency_lowering/v0", None),
])
def test_table_of_other_conditions_is_refused(tmp_path, field, table_kw, asked_kw, table_value, asked_value):
    path = _write_table(tmp_path / "t.json", SPACE, **table_kw)
    with pytest.raises(lb.LatencyTableMismatch) as e:
        lb.open_table(path, **_asked(**asked_kw))
    msg = str(e.value)
    assert str(path) in msg and f"{field}: table {table_value!r}" in msg
    if asked_value is not None:
        assert f"asked {asked_value!r}" in msg
    else:  # this machine's value
        assert f"asked {lb.machine_provenance()[field]!r}" in msg
    assert json.loads(path.read_text())["machine"]  # refused, not touched


def test_table_without_provenance_is_refused(tmp_path):
    path = _write_table(tmp_path / "t.json", SPACE)
    d = json.loads(path.read_text())
    del d["machine"]["cpu_flags_hash"]
    path.write_text(json.dumps(d))
    with pytest.raises(lb.LatencyTableMismatch, match=r"cpu_flags_hash: table '\(not recorded\)'"):
        lb.open_table(path, **_asked())


def test_remeasure_sets_the_old_table_aside_and_starts_a_fresh_one(tmp_path):
    path = _write_table(tmp_path / "t.json", SPACE, lambda u: 1.0, machine={"cpu": "Other CPU 9000"})
    model = lb.open_table(path, **_asked(threads=2), remeasure=True)
    assert os.path.exists(str(path) + ".replaced.json")
    assert model.entries == {} and model.lazy
    assert lb.table_provenance(model) == dict(lb.machine_provenance(), input_size=[64, 64], threads=2,
                                              quantization="float32")
    assert model.meta["clock"] == "wall"  # more than one thread: the calling thread's CPU time is not the latency
    assert lb.open_table(path, **_asked(threads=2)).path == str(path)  # it fits now


def test_matching_table_is_used(tmp_path):
    path = _write_table(tmp_path / "t.json", SPACE, lambda u: 0.5)
    model = lb.open_table(path, **_asked())
    assert len(model.entries) > 0 and model.path == str(path)


def test_budget_below_the_cheapest_is_refused_naming_it(tmp_path):
    model = lb.open_table(_write_table(tmp_path / "t.json", SPACE, lambda u: 0.25), **_asked())
    cheapest = 0.05 + 0.25 * len(units_lib.arch_units(SPACE.min(), SIZE))
    assert lb.check_latency_budget(SPACE, model, cheapest + 0.01) == pytest.approx(cheapest)
    with pytest.raises(lb.LatencyBudgetError, match=f"cheapest predicted latency is {cheapest:.3f} ms"):
        lb.check_latency_budget(SPACE, model, cheapest - 0.01)


def test_cheapest_arch_takes_dense_convs_where_the_table_says_they_are_faster(tmp_path):
    """On a CPU where dense convs are fast the space's most-grouped network is not the
    cheapest: the budget check must find the faster one."""
    def ms(u):
        return 0.1 if u.kind == "block" and u.get("groups") == 1 else 1.0

    model = lb.open_table(_write_table(tmp_path / "t.json", DENSE, ms), **_asked(space=DENSE))
    arch, best = lb.cheapest_arch(DENSE, model)
    assert all(s.groups == 1 for s in arch.stages)
    assert best < model.predict_ms(DENSE.min())


def _fake_run(tmp_path, **config):
    model_dir = tmp_path / "run"
    model_dir.mkdir()
    (model_dir / "run_config.json").write_text(json.dumps(config))
    return str(model_dir)


def test_spatial_search_refuses_a_budget_below_the_cheapest_before_it_starts(tmp_path):
    """Through the search's entry point, on a run whose data does not even exist: the
    budget is refused first."""
    table = _write_table(tmp_path / "t.json", SPACE, lambda u: 0.25)
    model_dir = _fake_run(tmp_path, mode="supernet", space=SPACE.name, input_size=list(SIZE),
                          train_ann="/nonexistent.json")
    config = SpatialSearchConfig(model_dir, str(tmp_path / "out"), max_latency_ms=0.3, latency_table=str(table))
    with pytest.raises(SearchError, match=r"cheapest predicted latency is \d+\.\d{3} ms"):
        run_spatial_search(config)
    assert not (tmp_path / "out").exists()
    other = _write_table(tmp_path / "t2.json", SPACE, lambda u: 0.25, threads=2)
    config = SpatialSearchConfig(model_dir, str(tmp_path / "out"), max_latency_ms=30, latency_table=str(other))
    with pytest.raises(SearchError, match="threads: table 2, asked 1"):
        run_spatial_search(config)


def test_spatial_search_at_a_deployment_size_other_than_the_supernets(tmp_path):
    """A 64x64 super-network searched under a 256x192 latency budget: the table must be
    of the size asked with latency_input_size, not of the super-network's."""
    deploy = (256, 192)
    table = _write_table(tmp_path / "t.json", SPACE, lambda u: 0.25, input_size=deploy)
    model_dir = _fake_run(tmp_path, mode="supernet", space=SPACE.name, input_size=list(SIZE),
                          train_ann="/nonexistent.json")
    config = SpatialSearchConfig(model_dir, str(tmp_path / "out"), max_latency_ms=30, latency_table=str(table))
    with pytest.raises(SearchError, match=r"input_size: table \[256, 192\], asked \[64, 64\]"):
        run_spatial_search(config)
    cheapest = 0.05 + 0.25 * len(units_lib.arch_units(SPACE.min(), deploy))
    config = SpatialSearchConfig(model_dir, str(tmp_path / "out"), max_latency_ms=cheapest - 0.01,
                                 latency_table=str(table), latency_input_size=deploy)
    with pytest.raises(SearchError, match=f"cheapest predicted latency is {cheapest:.3f} ms"):
        run_spatial_search(config)  # the 256x192 table was accepted and its cheapest network named
    assert not (tmp_path / "out").exists()


def test_schedule_latency_per_frame_and_temporal_refusal(tmp_path):
    space = get_space("mobilenetv3")
    model = lb.open_table(_write_table(tmp_path / "t.json", space, lambda u: 0.5), **_asked(space=space))
    key = resolve_arch("s_vipnas_mbv3")
    frame = FrameArch(space.min(), "add", 2)
    spatial = model.predict_ms(frame.spatial)
    assert spatial < lb.frame_ms(model, frame) < 1.2 * spatial  # the fusion convs cost a little
    frames = (frame,) * 3
    per_frame = lb.schedule_ms_per_frame(model, key, frames)
    assert per_frame == pytest.approx((model.predict_ms(key) + 3 * lb.frame_ms(model, frame)) / 4)
    model_dir = _fake_run(tmp_path, mode="temporal", space=space.name, input_size=list(SIZE),
                          key_arch=key.to_string())
    with pytest.raises(SearchError, match=r"max_ms_per_frame=1: the cheapest predicted latency is \d+\.\d{3} ms"):
        TemporalSearch(model_dir, str(tmp_path / "out"), frames=3, max_ms_per_frame=1.0,
                       latency_table=str(tmp_path / "t.json"))
    with pytest.raises(SearchError, match="needs latency_table"):
        TemporalSearch(model_dir, str(tmp_path / "out"), frames=3, max_ms_per_frame=1.0)


def test_temporal_samples_meet_the_latency_budget(tmp_path):
    """Proposals of a latency-budget allocation search meet ms per frame <= budget, and a
    budget below the unconstrained schedules' latency constrains them (no evaluation:
    only proposals are drawn)."""
    space = get_space("mobilenetv3")

    def ms(u):  # per-unit ms growing with the unit's work
        return 1e-4 * (u.get("mid") if u.kind == "block" else 100) * (u.get("kernel") if u.kind == "block" else 1)

    table = _write_table(tmp_path / "t.json", space, ms)
    key = resolve_arch("s_vipnas_mbv3")
    for name in ("train_ann", "train_images", "val_ann", "val_images"):
        (tmp_path / name).write_text("")
    model_dir = _fake_run(tmp_path, mode="temporal", space=space.name, input_size=list(SIZE),
                          key_arch=key.to_string(), keypoint_layout="posetrack18",
                          **{n: str(tmp_path / n) for n in ("train_ann", "train_images", "val_ann", "val_images")})
    free = TemporalSearch(model_dir, str(tmp_path / "free"), frames=3, max_total_gflops=1e9)
    rng = np.random.default_rng(0)
    free_ms = sorted(lb.schedule_ms_per_frame(lb.open_table(table, **_asked(space=space)), key, free._sample(rng))
                     for _ in range(20))
    budget = free_ms[5]
    search = TemporalSearch(model_dir, str(tmp_path / "out"), frames=3, max_ms_per_frame=budget,
                            latency_table=str(table))
    for _ in range(10):
        frames = search._sample(rng)
        assert search.admits(frames) and search.ms_per_frame(frames) <= budget
    assert search._latency_extra(frames)["latency_table"]["threads"] == 1
    # the same 64x64 temporal run allocated under a 256x192 budget: the table must be of that size
    deploy = (256, 192)
    big = _write_table(tmp_path / "t256.json", space, ms, input_size=deploy)
    with pytest.raises(SearchError, match=r"input_size: table \[256, 192\], asked \[64, 64\]"):
        TemporalSearch(model_dir, str(tmp_path / "out256"), frames=3, max_ms_per_frame=1e3, latency_table=str(big))
    search = TemporalSearch(model_dir, str(tmp_path / "out256"), frames=3, max_ms_per_frame=1e3,
                            latency_table=str(big), latency_input_size=deploy)
    frames = search._sample(rng)
    extra = search._latency_extra(frames)
    assert extra["latency_input_size"] == [256, 192] and extra["latency_table"]["input_size"] == [256, 192]


def test_latency_check_refuses_a_table_of_another_cpu(tmp_path):
    path = _write_table(tmp_path / "t.json", SPACE, lambda u: 0.5, machine={"cpu": "Other CPU 9000"})
    config = LatencyCheckConfig(str(path), space=SPACE.name, input_size=SIZE, num_archs=2)
    with pytest.raises(ValueError, match="cpu: table 'Other CPU 9000'.*build the table on this machine"):
        check_latency_model(config)
