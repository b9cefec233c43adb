"""Latency budgets (ms) of the spatial and temporal searches, and the table they read.

A latency table (`vipnas_tf.search.latency.LatencyModel`) holds what one CPU model did
with one LiteRT version, input size, thread count and precision, timing the models of
one export lowering. The search asks for all six; a table measured under any other
value is refused (`LatencyTableMismatch`,
naming the field, the table's value and the asked value) or, with `remeasure`, set
aside and measured again on this machine, never silently used:

    model = open_table("runs/latency/mbv3_256x192_int8_1t.json", "mobilenetv3", (256, 192),
                       "int8", threads=1)
    cheapest = check_latency_budget(get_space("mobilenetv3"), model, max_ms=12.0)

The provenance of a table (`table_provenance`) is the `machine` block it was built
with: the CPU model name of /proc/cpuinfo, a hash of its CPU flags (two CPUs of one
name can differ in AVX-512 / AMX, which decide the int8 speed), the LiteRT
(`ai_edge_litert`) version; plus the table's input size, threads and precision, and
the export lowering it timed (`LOWERING_VERSION` of
`vipnas_tf.export.lowering.deployed`: the deployed model a table predicts is the one
this package's export emits, so a table of another lowering predicts other models).

`check_latency_budget` refuses, before any search starts, a budget below the
cheapest architecture of the space (`cheapest_arch`: the space's smallest network
with, stage by stage, the group number of the lowest predicted latency: with dense
convs on a VNNI / AMX CPU the most-grouped choice need not be the fastest).

Temporal schedules (`schedule_ms_per_frame`): one cycle is the key frame plus T
non-key frames, so the budget is on (key ms + sum of the T frame networks' ms) /
(T + 1). A frame network's latency is its spatial network's from the table plus its
fusion module's, estimated at the spatial network's own ms per MAC (the fusion
module's convs are not table units); measure the chosen schedule with
`tflite/benchmark.py` to confirm it.
"""
import dataclasses
import logging
import os
from typing import Dict, List, Optional, Sequence, Tuple

from vipnas_tf import litert
from vipnas_tf.arch import arch_cost
from vipnas_tf.arch import cost as cost_lib
from vipnas_tf.arch.arch import Arch
from vipnas_tf.arch.space import SearchSpace
from vipnas_tf.export.lowering import deployed as lowering_lib
from vipnas_tf.search.latency import LatencyModel
from vipnas_tf.temporal.frame_arch import fusion_conv_costs

log = logging.getLogger(__name__)

PROVENANCE_FIELDS = ("cpu", "cpu_flags_hash", "litert_version", "input_size", "threads", "quantization",
                     "lowering")
NOT_RECORDED = "(not recorded)"


class LatencyBudgetError(ValueError):
    """A latency budget the search cannot meet, or a table it must not use."""


class LatencyTableMismatch(LatencyBudgetError):
    """A latency table measured under other conditions than the search asks for."""


def machine_provenance() -> Dict:
    """This machine's and this package's side of a table's provenance: cpu,
    cpu_flags_hash, litert_version, and the export's lowering."""
    machine = litert.machine_info()
    return {"cpu": machine["cpu"], "cpu_flags_hash": machine["cpu_flags_hash"],
            "litert_version": machine["ai_edge_litert"], "lowering": lowering_lib.LOWERING_VERSION}


def table_provenance(model: LatencyModel) -> Dict:
    """The PROVENANCE_FIELDS of a table (NOT_RECORDED for what an older table lacks)."""
    machine = model.meta.get("machine") or {}
    return {"cpu": machine.get("cpu", NOT_RECORDED),
            "cpu_flags_hash": machine.get("cpu_flags_hash", NOT_RECORDED),
            "litert_version": machine.get("ai_edge_litert", NOT_RECORDED),
            "input_size": list(model.input_size), "threads": int(model.meta.get("threads", 1)),
            "quantization": model.quantization, "lowering": model.meta.get("lowering", NOT_RECORDED)}


def provenance_mismatches(model: LatencyModel, input_size, quantization: str, threads: int,
                          machine: Optional[Dict] = None) -> List[Tuple[str, object, object]]:
    """[(field, table value, asked value)] where the table differs from the search."""
    asked = dict(machine or machine_provenance())
    asked.update(input_size=list(cost_lib.check_input_size(input_size)), threads=int(threads),
                 quantization=quantization)
    have = table_provenance(model)
    return [(f, have[f], asked[f]) for f in PROVENANCE_FIELDS if have[f] != asked[f]]


SEARCH_REMEDY = "build a table for them (scripts/build_latency_table.py) or re-measure it (--remeasure_latency)"


def describe_mismatches(path, mismatches, remedy: str = SEARCH_REMEDY) -> str:
    parts = "; ".join(f"{f}: table {t!r}, asked {a!r}" for f, t, a in mismatches)
    return f"latency table {path} was measured under other conditions than asked for ({parts}); {remedy}"


def check_table(model: LatencyModel, space: SearchSpace, input_size, quantization: str, threads: int,
                machine: Optional[Dict] = None):
    """Raises LatencyTableMismatch unless the table fits the space (family) and every
    provenance field (see module doc)."""
    family = model.meta.get("family")
    if model.space != space.name and family != space.family:
        raise LatencyTableMismatch(f"latency table {model.path}: field 'space' = {model.space!r}, the search "
                                   f"asks for space {space.name!r}")
    mismatches = provenance_mismatches(model, input_size, quantization, threads, machine)
    if mismatches:
        raise LatencyTableMismatch(describe_mismatches(model.path, mismatches))


def open_table(path, space: SearchSpace, input_size, quantization: str, threads: int = 1,
               remeasure: bool = False, machine: Optional[Dict] = None) -> LatencyModel:
    """The lazy latency table at `path` for this search.

    A missing table is started empty (units are measured as the search meets them).
    A table that does not fit (`check_table`) is refused, or with `remeasure` moved
    aside to `<path>.replaced.json` and measured again from scratch.
    """
    input_size = cost_lib.check_input_size(input_size)
    clock = "cpu" if int(threads) == 1 else "wall"
    if os.path.exists(path):
        model = LatencyModel.load(path, lazy=True)
        try:
            check_table(model, space, input_size, quantization, threads, machine)
            return model
        except LatencyTableMismatch as e:
            if not remeasure:
                raise
            aside = os.fspath(path) + ".replaced.json"
            log.warning("%s; re-measuring (the old table is kept as %s)", e, aside)
            os.replace(path, aside)
    return LatencyModel.build(space, input_size, quantization, path, progress=False, threads=int(threads),
                              units=[], lazy=True, clock=clock, resume=False)


# ---- budgets -------------------------------------------------------------------------


def cheapest_arch(space: SearchSpace, model: LatencyModel) -> Tuple[Arch, float]:
    """The space's smallest network with, stage by stage, the group number of lowest
    predicted latency (other stages fixed), and its predicted ms."""
    arch = space.min()
    best = model.predict_ms(arch)
    for i, stage in enumerate(arch.stages):
        in_ch = space.stage_in_channels(arch, i)
        for g in space.group_choices(i, stage, in_ch):
            if g == stage.groups:
                continue
            stages = list(arch.stages)
            stages[i] = dataclasses.replace(stage, groups=g)
            cand = dataclasses.replace(arch, stages=tuple(stages))
            if not space.contains(cand):
                continue
            ms = model.predict_ms(cand)
            if ms < best:
                arch, best = cand, ms
    return arch, float(best)


def check_latency_budget(space: SearchSpace, model: LatencyModel, max_ms: float) -> float:
    """The cheapest predicted ms of the space; LatencyBudgetError when `max_ms` is below it."""
    if not max_ms > 0:
        raise LatencyBudgetError(f"latency budget must be positive, got max_ms={max_ms}")
    arch, ms = cheapest_arch(space, model)
    if ms > max_ms:
        h, w = model.input_size
        raise LatencyBudgetError(
            f"no architecture of space {space.name!r} at {h}x{w} ({model.quantization}, "
            f"{model.meta.get('threads', 1)} thread(s)) meets max_ms={max_ms:g}: the cheapest predicted latency "
            f"is {ms:.3f} ms ({arch.to_string()}; table {model.path})")
    return ms


# ---- temporal schedules ----------------------------------------------------------------


def frame_ms(model: LatencyModel, frame_arch) -> float:
    """Predicted ms of a T-ViPNet frame network: its spatial network's (table) plus its
    fusion module's at the spatial network's ms per MAC."""
    spatial_ms = model.predict_ms(frame_arch.spatial)
    size = tuple(model.input_size)
    spatial_macs = arch_cost(frame_arch.spatial, size).macs
    fusion_macs = cost_lib.total_cost(fusion_conv_costs(frame_arch, size)).macs
    return float(spatial_ms * (1.0 + fusion_macs / max(spatial_macs, 1)))


def schedule_ms_per_frame(model: LatencyModel, key_arch: Arch, frames: Sequence) -> float:
    """(key ms + sum of the T frame networks' ms) / (T + 1): the latency per video frame."""
    total = model.predict_ms(key_arch) + sum(frame_ms(model, f) for f in frames)
    return float(total / (len(frames) + 1))
