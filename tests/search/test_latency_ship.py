"""Shipping latency-search results: a preset file (registered as a preset) and an
architecture-only schedule, each with its provenance (budget, table, model, date).
Search folders are written by hand: no search runs here."""
import json

import pytest

from vipnas_tf import litert
from vipnas_tf.arch import get_space
from vipnas_tf.arch.presets import PRESETS, register_preset_folder, resolve_arch
from vipnas_tf.export.lowering import deployed as lowering_lib
from vipnas_tf.search import latency as lat
from vipnas_tf.search import latency_ship
from vipnas_tf.temporal.frame_arch import FrameArch
from vipnas_tf.temporal.schedule import Schedule


def _table(path):
    path.write_text(json.dumps({"format": lat.FORMAT, "space": "mobilenetv3_dense", "family": "mobilenetv3",
                                "input_size": [256, 192], "quantization": "int8", "threads": 1, "clock": "cpu",
                                "overhead_ms": 0.01, "machine": litert.machine_info(),
                                "lowering": lowering_lib.LOWERING_VERSION, "entries": {}}))
    return str(path)


def test_ship_preset_and_register_it(tmp_path):
    space = get_space("mobilenetv3_dense")
    arch = space.min().replace_stage(3, groups=1)
    search = tmp_path / "search"
    search.mkdir()
    (search / "summary.json").write_text(json.dumps({
        "arch": arch.to_string(), "ap": 61.2, "paper_gflops": 0.4, "latency_ms": 14.9, "input_size": [256, 192],
        "budget": {"kind": "latency_ms", "limit": 15.4, "floor": 0.0}}))
    (search / "best_arch.json").write_text(json.dumps({"supernet": "/runs/mbv3_dense_supernet"}))
    path = latency_ship.ship_preset(str(search), "fast_mbv3_test_int8", str(tmp_path / "presets"),
                                    latency_table=_table(tmp_path / "t.json"), date="2026-12-01")
    d = json.loads(open(path).read())
    prov = d["provenance"]
    assert d["arch"] == arch.to_string() and prov["budget"]["limit"] == 15.4 and prov["date"] == "2026-12-01"
    assert prov["latency_table"]["threads"] == 1 and prov["latency_table"]["quantization"] == "int8"
    assert prov["supernet"] == "/runs/mbv3_dense_supernet" and "beyond the paper" in d["description"]
    try:
        assert register_preset_folder(str(tmp_path / "presets")) == ["fast_mbv3_test_int8"]
        assert resolve_arch("fast_mbv3_test_int8") == arch
    finally:
        PRESETS.pop("fast_mbv3_test_int8", None)
    (tmp_path / "presets" / "bad.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(ValueError, match="bad.json: not a shipped preset"):
        register_preset_folder(str(tmp_path / "presets"))


def test_ship_schedule_drops_model_dirs_and_keeps_provenance(tmp_path):
    key = resolve_arch("s_vipnas_mbv3")
    frames = [FrameArch(get_space("mobilenetv3").min(), "add", 2)] * 3
    search = tmp_path / "sched"
    search.mkdir()
    Schedule.from_archs(key, frames, (256, 192), key_model_dir="/runs/key", model_dir="/runs/temporal",
                        extra={"keras_models": {"key": "key.keras"}, "budget_ms_per_frame": 8.0}).save(
        str(search / "schedule.json"))
    (search / "summary.json").write_text(json.dumps({"budget": {"max_ms_per_frame": 8.0},
                                                     "predicted_ms_per_frame": 7.5, "sum_ap_nonkey": 150.0}))
    out = latency_ship.ship_schedule(str(search), str(tmp_path / "configs" / "fast_T3.json"), date="2026-12-01")
    shipped = Schedule.load(out)
    assert shipped.key_arch == key and list(shipped.frames) == frames
    assert shipped.model_dir is None and shipped.key_model_dir is None
    assert "keras_models" not in json.loads(open(out).read())
    prov = json.loads((tmp_path / "configs" / "fast_T3.provenance.json").read_text())
    assert prov["budget"] == {"max_ms_per_frame": 8.0} and prov["temporal_model"] == "/runs/temporal"
    assert prov["predicted_ms_per_frame"] == 7.5 and prov["date"] == "2026-12-01"
