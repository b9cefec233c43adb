"""The video schedule: which network runs on which frame (paper Sec. 3.1, 3.4.3).

Written by temporal search, read by export, the video runner and the benchmark
harness. Format "vipnas-tf/schedule/v1" (docs/schedule.md):

    {"format": "vipnas-tf/schedule/v1", "space": "mobilenetv3", "input_size": [H, W],
     "keypoint_layout": "posetrack18" | "coco", "num_frames": T,
     "key": {"arch": "<compact>", "model_dir": "<S-ViPNet model dir or null>",
             "paper_gflops": x, "macs": n},
     "frames": [{"arch": "<compact>", "fusion_op": "add"|"mul"|"cat",
                 "fusion_stage": i, "paper_gflops": x, "macs": n}, ... T entries],
     "model_dir": "<temporal model dir or null>", "key_frame_interval": T + 1,
     "avg_gflops": mean over the T + 1 frames, "avg_gflops_nonkey": mean over the T}

Costs are recomputed from the architectures by the cost model (`frame_cost`; the key
frame: `arch_cost`), never trusted from the file: `validate` reports a file whose
stored figures disagree. Relative model directories are relative to the schedule
file's folder. `keypoint_layout` says what each heatmap channel means; every network of
the schedule has it (`check_model_layouts` compares the file with its model
directories; a schedule without the key takes theirs). Other top-level keys (search metadata, e.g. the budget or the AP) are
kept as `extra` and written back.
"""
import dataclasses
import os
from typing import Optional, Tuple

from vipnas_tf.arch import cost as cost_lib
from vipnas_tf.arch.arch import Arch, parse_arch
from vipnas_tf.arch.describe import arch_cost
from vipnas_tf.arch.space import get_space
from vipnas_tf.codecs.dataset_info import DATASET_INFOS, require_same_layout
from vipnas_tf.data.formats import run_config_layout
from vipnas_tf.temporal.frame_arch import FUSION_OPS, FrameArch, TemporalSpace, frame_cost, fusion_conv_costs
from vipnas_tf.utils import io as io_utils

SCHEDULE_FORMAT = "vipnas-tf/schedule/v1"
_KNOWN_KEYS = ("format", "space", "input_size", "keypoint_layout", "num_frames", "key", "frames", "model_dir",
               "key_frame_interval", "avg_gflops", "avg_gflops_nonkey")
GFLOPS_TOLERANCE = 1e-3  # the file rounds GFLOPs to 4 decimals


@dataclasses.dataclass(frozen=True)
class Schedule:
    """A key-frame S-ViPNet and T per-frame T-ViPNets.

    Attributes:
      space: spatial search space name.
      input_size: (H, W) of the crops.
      key_arch: the S-ViPNet architecture (key frame, every T + 1 frames).
      frames: the T non-key frame architectures, in order.
      key_model_dir: S-ViPNet model directory (as written; may be relative).
      model_dir: temporal (T-ViPNet super-network) model directory.
      extra: other top-level keys of the file.
      base_dir: the folder relative model directories are resolved against.
      keypoint_layout: "coco" | "posetrack18" (None: not stated, see
        `check_model_layouts`).

    Example:
      >>> s = Schedule.load("out/schedule.json")
      >>> s.validate(space="mobilenetv3", input_size=(256, 192))
      >>> s.num_frames, s.avg_gflops, s.describe()["frames"][0]["paper_gflops"]
    """

    space: str
    input_size: Tuple[int, int]
    key_arch: Arch
    frames: Tuple[FrameArch, ...]
    key_model_dir: Optional[str] = None
    model_dir: Optional[str] = None
    extra: dict = dataclasses.field(default_factory=dict)
    base_dir: Optional[str] = None
    keypoint_layout: Optional[str] = None

    def __post_init__(self):
        object.__setattr__(self, "input_size", cost_lib.check_input_size(self.input_size))
        object.__setattr__(self, "frames", tuple(self.frames))
        if len(self.frames) < 1:
            raise ValueError("schedule: num_frames=0: a schedule needs at least one non-key frame (T >= 1)")

    # ---- derived values ---------------------------------------------------------------
    @property
    def num_frames(self):
        """T, the non-key frames between two key frames."""
        return len(self.frames)

    @property
    def key_frame_interval(self):
        return self.num_frames + 1

    @property
    def key_model_path(self):
        """`key_model_dir` resolved against the schedule's folder (None if unset)."""
        return self._resolve(self.key_model_dir)

    @property
    def model_path(self):
        return self._resolve(self.model_dir)

    def _resolve(self, path):
        if not path:
            return None
        if os.path.isabs(path) or not self.base_dir:
            return path
        return os.path.normpath(os.path.join(self.base_dir, path))

    def describe(self):
        """Costs recomputed by the cost model: {"key": {...}, "frames": [{...}] * T (each
        with its `fusion_paper_gflops` share), "avg_gflops", "avg_gflops_nonkey",
        "avg_macs", "total_gflops_nonkey"}; with a `budget_total_gflops` in `extra` (the
        search's budget), also that and `within_budget` (unrounded non-key total <= it)."""
        key = arch_cost(self.key_arch, self.input_size)
        frames = [frame_cost(f, self.input_size) for f in self.frames]
        fusion = [cost_lib.total_cost(fusion_conv_costs(f, self.input_size)).paper_gflops for f in self.frames]
        nonkey = sum(c.paper_gflops for c in frames)
        d = {
            "key": {"arch": self.key_arch.to_string(), **key.to_dict()},
            "frames": [{**f.to_dict(), **c.to_dict(), "fusion_paper_gflops": round(g, 6)}
                       for f, c, g in zip(self.frames, frames, fusion)],
            "avg_gflops": round((key.paper_gflops + nonkey) / self.key_frame_interval, 4),
            "avg_gflops_nonkey": round(nonkey / self.num_frames, 4),
            "avg_macs": int(round((key.macs + sum(c.macs for c in frames)) / self.key_frame_interval)),
            "total_gflops_nonkey": round(nonkey, 6),
        }
        budget = self.extra.get("budget_total_gflops")
        if budget is not None:
            d["budget_total_gflops"] = float(budget)
            d["within_budget"] = bool(nonkey <= float(budget) + 1e-9)
        return d

    @property
    def avg_gflops(self):
        return self.describe()["avg_gflops"]

    @property
    def avg_gflops_nonkey(self):
        return self.describe()["avg_gflops_nonkey"]

    def frame_arch(self, position):
        """The network of position `position` in the cycle: 0 -> None (key frame, see
        `key_arch`), 1..T -> the FrameArch of that non-key frame."""
        if not 0 <= position <= self.num_frames:
            raise ValueError(f"schedule: position {position} outside the cycle 0..{self.num_frames}")
        return None if position == 0 else self.frames[position - 1]

    def with_frames(self, frames):
        """A copy with other non-key frames (e.g. a different T)."""
        return dataclasses.replace(self, frames=tuple(frames))

    # ---- (de)serialisation ------------------------------------------------------------------
    def to_dict(self):
        d = self.describe()
        out = {
            "format": SCHEDULE_FORMAT,
            "space": self.space,
            "input_size": list(self.input_size),
            "keypoint_layout": self.keypoint_layout,
            "num_frames": self.num_frames,
            "key": {"arch": self.key_arch.to_string(), "model_dir": self.key_model_dir,
                    "paper_gflops": d["key"]["paper_gflops"], "macs": d["key"]["macs"]},
            "frames": [{k: f[k] for k in ("arch", "fusion_op", "fusion_stage", "paper_gflops", "macs")}
                       for f in d["frames"]],
            "model_dir": self.model_dir,
            "key_frame_interval": self.key_frame_interval,
            "avg_gflops": d["avg_gflops"],
            "avg_gflops_nonkey": d["avg_gflops_nonkey"],
        }
        if self.keypoint_layout is None:
            del out["keypoint_layout"]
        out.update({k: v for k, v in self.extra.items() if k not in out})
        return out

    def save(self, path):
        """Writes the schedule atomically; returns the path."""
        io_utils.write_json(path, self.to_dict())
        return os.fspath(path)

    @classmethod
    def from_dict(cls, d, source="<schedule>", base_dir=None):
        """Parses the file's dict; ValueError names the source and the field."""

        def fail(field, msg):
            raise ValueError(f"{source}: field '{field}': {msg}")

        if not isinstance(d, dict):
            raise ValueError(f"{source}: a schedule must be a JSON object, got {type(d).__name__}")
        fmt = d.get("format")
        if fmt != SCHEDULE_FORMAT:
            fail("format", f"{fmt!r}, expected {SCHEDULE_FORMAT!r}")
        for key in ("space", "input_size", "key", "frames"):
            if key not in d:
                fail(key, "missing")
        space = d["space"]
        if not isinstance(space, str):
            fail("space", f"must be a space name, got {space!r}")
        try:
            input_size = cost_lib.check_input_size(d["input_size"])
        except ValueError as e:
            fail("input_size", str(e))
        key = d["key"]
        if not isinstance(key, dict) or "arch" not in key:
            fail("key", "must be an object with 'arch'")
        try:
            key_arch = parse_arch(key["arch"]) if isinstance(key["arch"], str) else Arch.from_dict(key["arch"])
        except ValueError as e:
            fail("key.arch", str(e))
        frames = d["frames"]
        if not isinstance(frames, list):
            fail("frames", f"must be a list, got {type(frames).__name__}")
        t = d.get("num_frames", len(frames))
        if isinstance(t, bool) or not isinstance(t, int) or t < 1:
            fail("num_frames", f"T={t!r}: a schedule needs at least one non-key frame (T >= 1)")
        if len(frames) != t:
            fail("frames", f"has {len(frames)} entries but num_frames={t}")
        parsed = []
        for i, f in enumerate(frames):
            try:
                parsed.append(FrameArch.from_dict(f, source=f"frames[{i}]"))
            except ValueError as e:
                raise ValueError(f"{source}: field 'frames[{i}]': {e}") from None
        interval = d.get("key_frame_interval", t + 1)
        if interval != t + 1:
            fail("key_frame_interval", f"{interval!r}, expected num_frames + 1 = {t + 1}")
        for field, value in (("key.model_dir", key.get("model_dir")), ("model_dir", d.get("model_dir"))):
            if value is not None and not isinstance(value, str):
                fail(field, f"must be a path or null, got {value!r}")
        layout = d.get("keypoint_layout")
        if layout is not None and layout not in DATASET_INFOS:
            fail("keypoint_layout", f"{layout!r} is not a keypoint layout; expected one of {list(DATASET_INFOS)}")
        schedule = cls(space, input_size, key_arch, tuple(parsed), key.get("model_dir"), d.get("model_dir"),
                       {k: v for k, v in d.items() if k not in _KNOWN_KEYS}, base_dir, layout)
        object.__setattr__(schedule, "_stored", d)  # for validate's cost check
        object.__setattr__(schedule, "_source", source)
        return schedule

    @classmethod
    def load(cls, path):
        """Reads a schedule file; relative model dirs resolve against its folder."""
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: no such schedule file")
        return cls.from_dict(io_utils.read_json(path), source=path,
                             base_dir=os.path.dirname(os.path.abspath(path)))

    @classmethod
    def from_archs(cls, key_arch, frames, input_size, key_model_dir=None, model_dir=None, extra=None,
                   keypoint_layout=None):
        """A schedule of a key architecture and T frame architectures (search output)."""
        return cls(key_arch.space, input_size, key_arch, tuple(frames), key_model_dir, model_dir, dict(extra or {}),
                   keypoint_layout=keypoint_layout)

    # ---- keypoint layout ------------------------------------------------------------------
    def check_model_layouts(self, source=None, required=True):
        """The schedule's keypoint layout, checked against its model directories.

        The key frame's S-ViPNet (`key.model_dir`) and the T-ViPNets' temporal run
        (`model_dir`), when they exist, must have the file's `keypoint_layout` and each
        other's (LayoutMismatchError naming both and the files). A schedule without the
        field takes its model directories' layout; with neither, ValueError says how to
        state it.

        Returns:
          "coco" | "posetrack18".
        """
        where = source or getattr(self, "_source", None) or "schedule"
        found = []  # (layout, what)
        if self.keypoint_layout is not None:
            found.append((self.keypoint_layout, f"{where} (field 'keypoint_layout')"))
        for field, path in (("key.model_dir", self.key_model_path), ("model_dir", self.model_path)):
            config_file = os.path.join(path, "run_config.json") if path else None
            if config_file and os.path.isfile(config_file):
                layout = run_config_layout(io_utils.read_json(config_file), config_file)
                found.append((layout, f"{where} field '{field}' {path}"))
        if not found and not required:
            return None
        if not found:
            raise ValueError(f"{where}: field 'keypoint_layout' is missing and neither 'key.model_dir' nor "
                             f"'model_dir' names an existing model directory to take it from; add "
                             f"\"keypoint_layout\": \"posetrack18\" or \"coco\" (the layout the networks "
                             f"were trained on) to {where}")
        for layout, what in found[1:]:
            require_same_layout(found[0][0], found[0][1], layout, what, what="run this schedule")
        return found[0][0]

    # ---- validation -----------------------------------------------------------------------
    def validate(self, space=None, input_size=None, temporal_space=None, source=None):
        """Checks the schedule against a space, an input size and (optionally) the
        temporal space of the model that will run it; ValueError names the field.

        Args:
          space: expected spatial space (name or object); default the schedule's own.
          input_size: expected (H, W); default not checked.
          temporal_space: a `TemporalSpace` (e.g. the temporal model's, with its
            S-ViPNet bound) the frames must belong to.
          source: how errors name the schedule (default its file or "schedule").

        Returns:
          self.
        """
        where = source or getattr(self, "_source", None) or "schedule"
        name = space if isinstance(space, str) or space is None else space.name
        if name is not None and self.space != name:
            raise ValueError(f"{where}: field 'space': {self.space!r} does not match the model's space {name!r}")
        sp = get_space(self.space)
        if input_size is not None and tuple(int(v) for v in input_size) != self.input_size:
            raise ValueError(f"{where}: field 'input_size': {list(self.input_size)} does not match the model's "
                             f"input size {list(input_size)}")
        if self.key_arch.space != self.space:
            raise ValueError(f"{where}: field 'key.arch': belongs to space {self.key_arch.space!r}, "
                             f"the schedule's space is {self.space!r}")
        try:
            sp.validate(self.key_arch)
        except ValueError as e:
            raise ValueError(f"{where}: field 'key.arch': {e}") from None
        ts = temporal_space or TemporalSpace(sp, padding=self.key_arch.padding)  # frames pad as the key
        for i, f in enumerate(self.frames):
            try:
                if f.space != self.space:
                    raise ValueError(f"belongs to space {f.space!r}, the schedule's space is {self.space!r}")
                if f.fusion_op not in FUSION_OPS:
                    raise ValueError(f"fusion_op={f.fusion_op!r} not in {list(FUSION_OPS)}")
                ts.validate(f)
            except ValueError as e:
                raise ValueError(f"{where}: field 'frames[{i}]': {e}") from None
        self._check_stored_costs(where)
        return self

    def _check_stored_costs(self, where):
        stored = getattr(self, "_stored", None)
        if not stored:
            return
        d = self.describe()
        checks = [("key.paper_gflops", stored["key"].get("paper_gflops"), d["key"]["paper_gflops"])]
        checks += [(f"frames[{i}].paper_gflops", f.get("paper_gflops"), g["paper_gflops"])
                   for i, (f, g) in enumerate(zip(stored["frames"], d["frames"]))]
        checks += [("avg_gflops", stored.get("avg_gflops"), d["avg_gflops"]),
                   ("avg_gflops_nonkey", stored.get("avg_gflops_nonkey"), d["avg_gflops_nonkey"])]
        for field, value, want in checks:
            if value is None:
                continue
            if not isinstance(value, (int, float)) or abs(float(value) - want) > GFLOPS_TOLERANCE:
                raise ValueError(f"{where}: field '{field}': stored {value!r} but the cost model gives {want} "
                                 f"at input size {list(self.input_size)} (architecture or input size edited?)")
