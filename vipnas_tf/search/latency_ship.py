"""Ship what a latency search found: a preset file or a schedule file, provenance beside it.

    ship_preset("runs/search_mbv3_dense_ms_int8", "fast_mbv3_int8", "vipnas_tf/arch/shipped")
    ship_schedule("runs/schedule_fast_mbv3_T3_int8", "configs/schedules/fast_mbv3_T3_int8.json")
    register_preset_folder("my_presets")   # vipnas_tf.arch.presets: each NAME.json becomes preset NAME

A preset file `NAME.json` holds `{"format": SHIPPED_PRESET_FORMAT, "name", "arch", "description",
"provenance"}`; a shipped schedule is the search's `schedule.json` with its model
directories and Keras files dropped (an architecture: `tflite/convert.py --schedule=...`
converts it with random weights, as any architecture-only schedule, or with weights
from `--model_dir`), and `NAME.provenance.json` beside it. Provenance: the budget, the
latency table (path, CPU model, CPU flags hash, LiteRT version, input size, threads,
precision), the predicted latency, the super-network's AP, the super-network or
temporal model directory the search ran on, and the date.
"""
import datetime
import os
from typing import Dict, Optional

from vipnas_tf.arch.arch import parse_arch
from vipnas_tf.arch.presets import SHIPPED_PRESET_FORMAT
from vipnas_tf.arch.space import get_space
from vipnas_tf.search import latency_budget
from vipnas_tf.search.latency import LatencyModel
from vipnas_tf.utils import io as io_utils


def _read(path: str) -> Dict:
    if not os.path.exists(path):
        raise ValueError(f"{path} does not exist (not a finished search folder?)")
    return io_utils.read_json(path)


def _table_provenance(path: Optional[str]) -> Dict:
    if not path:
        return {}
    return {"path": path, **latency_budget.table_provenance(LatencyModel.load(path))}


def _today(date: Optional[str]) -> str:
    return date or datetime.date.today().isoformat()


def ship_preset(search_dir: str, name: str, out_dir: str, latency_table: Optional[str] = None,
                date: Optional[str] = None, note: str = "") -> str:
    """Writes OUT_DIR/NAME.json from a spatial search's best_arch.json and summary.json;
    returns its path. `latency_table` (default: none recorded) adds the table's provenance;
    `note` (what the super-network was trained on, how far to trust its AP) is appended
    to the description."""
    summary = _read(os.path.join(search_dir, "summary.json"))
    best = _read(os.path.join(search_dir, "best_arch.json"))
    arch_text = summary.get("arch")
    if not arch_text:
        raise ValueError(f"{os.path.join(search_dir, 'summary.json')}: no field 'arch'")
    arch = parse_arch(arch_text)
    get_space(arch.space).validate(arch)
    budget = summary.get("budget", {})
    provenance = {"budget": budget, "predicted_ms": summary.get("latency_ms"), "supernet_ap": summary.get("ap"),
                  "paper_gflops": summary.get("paper_gflops"), "input_size": summary.get("input_size"),
                  "latency_input_size": summary.get("latency_input_size", summary.get("input_size")),
                  "supernet": best.get("supernet"), "search": os.path.abspath(search_dir),
                  "latency_table": _table_provenance(latency_table), "date": _today(date)}
    desc = (f"latency-searched in {arch.space} under {budget.get('kind')} <= {budget.get('limit')} "
            f"({provenance['date']}); beyond the paper" + (f". {note}" if note else ""))
    path = os.path.join(out_dir, f"{name}.json")
    io_utils.write_json(path, {"format": SHIPPED_PRESET_FORMAT, "name": name, "arch": arch.to_string(), "description": desc,
                               "provenance": provenance})
    return path


def ship_schedule(search_dir: str, out_path: str, latency_table: Optional[str] = None,
                  date: Optional[str] = None, note: str = "") -> str:
    """Writes OUT_PATH (the schedule, architecture only) and OUT_PATH's .provenance.json
    from a temporal search folder; returns OUT_PATH. `note`: what the temporal model was
    trained on, how far to trust its mAP."""
    schedule = _read(os.path.join(search_dir, "schedule.json"))
    summary = _read(os.path.join(search_dir, "summary.json"))
    shipped = {k: v for k, v in schedule.items() if k not in ("model_dir", "keras_models", "key_model_dir")}
    shipped["model_dir"] = None
    if isinstance(shipped.get("key"), dict):
        shipped["key"] = dict(shipped["key"], model_dir=None)
    io_utils.write_json(out_path, shipped)
    table = latency_table or (summary.get("latency_table") or {}).get("path")
    provenance = {"budget": summary.get("budget"), "predicted_ms_per_frame": summary.get("predicted_ms_per_frame"),
                  "predicted_ms_per_cycle": summary.get("predicted_ms_per_cycle"),
                  "sum_ap_nonkey": summary.get("sum_ap_nonkey"), "map_nonkey": summary.get("map_nonkey"),
                  "temporal_model": schedule.get("model_dir"), "search": os.path.abspath(search_dir),
                  "latency_input_size": summary.get("latency_input_size", summary.get("input_size")),
                  "latency_table": _table_provenance(table), "date": _today(date), **({"note": note} if note else {})}
    io_utils.write_json(os.path.splitext(out_path)[0] + ".provenance.json", provenance)
    return out_path

