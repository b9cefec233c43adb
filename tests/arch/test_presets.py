"""Shipped presets: the latency-searched architectures of `vipnas_tf/arch/shipped`."""
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
