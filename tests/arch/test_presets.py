"""Shipped presets and schedules: the latency-searched architectures of `vipnas_tf/arch/shipped` and `configs/schedules`."""
import json
import os

from vipnas_tf.arch import get_space, list_presets, resolve_arch
from vipnas_tf.arch.presets import SHIPPED_DIR, SHIPPED_PRESET_FORMAT


def test_shipped_presets_are_presets_of_their_space_and_resolve_by_path():
    """They register on first use; their files also resolve by path, and carry the
    provenance a user needs (the budget and the latency table's machine)."""
    for name in ("fast_mbv3_float32", "fast_mbv3_int8"):
        assert name in list_presets()
        arch = resolve_arch(name)
        get_space(arch.space).validate(arch)
        path = os.path.join(SHIPPED_DIR, f"{name}.json")
        assert resolve_arch(path) == arch
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
        assert d["format"] == SHIPPED_PRESET_FORMAT
        table = d["provenance"]["latency_table"]
        assert table["cpu"] and table["litert_version"] and table["threads"] == 1
        assert d["provenance"]["budget"]["kind"] == "latency_ms"


def test_shipped_schedule_is_a_valid_architecture_only_schedule():
    """configs/schedules/*.json load as schedules with no model directories, every frame
    inside the temporal space its key bounds, provenance beside each."""
    from vipnas_tf.temporal.frame_arch import TemporalSpace
    from vipnas_tf.temporal.schedule import Schedule

    folder = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                          "configs", "schedules")
    names = sorted(f for f in os.listdir(folder) if f.endswith(".json") and not f.endswith(".provenance.json"))
    assert "fast_mbv3_T3_int8.json" in names
    for name in names:
        schedule = Schedule.load(os.path.join(folder, name))
        assert schedule.model_dir is None and schedule.key_model_dir is None
        tspace = TemporalSpace(schedule.space, max_arch=schedule.key_arch)
        for frame in schedule.frames:
            tspace.validate(frame)
        assert os.path.isfile(os.path.join(folder, name[:-len(".json")] + ".provenance.json"))
