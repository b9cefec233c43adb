# Over 450 lines for one idea: the T-ViPNet architecture value, its space (sample, mutate, encode) and its cost belong together.
"""The temporal architecture value: a non-key frame's T-ViPNet (paper Sec. 3.3).

A `FrameArch` is a spatial `Arch` plus the two temporal choices of the fusion module:
the fusion op (Add, Mul, Cat) and the backbone stage whose features it fuses with the
previous frame's heatmaps. Like `Arch` it is a small frozen value with no TensorFlow
in it, passed between training, search, the schedule file and the video runner.

Compact string form: the spatial string, '|', then `fuse_<op>_s<stage>`:

    mobilenetv3/stem_c16_k3/.../head_c160_g160|fuse_cat_s3

Fusion stages are the outputs of the backbone stages, 1-based (the paper's F1..F4):
MobileNetV3 has 6, ResNet-50 4, HRNet 4 (HRNet stage s = the end of stage s, fused on
branch 1, the highest-resolution branch the head reads). `fusion_stages(space)` lists
them with the feature stride and the `Arch.stages` entry whose width they carry.

`TemporalSpace` is the space of `FrameArch`s over a spatial space, optionally bounded
by a `max_arch` (paper Sec. 3.4.2: the T-ViPNet super-network shares S-ViPNet's
architecture as its biggest network): every choice is then no bigger than the
bound's (depth, width, mid channels, kernel, attention, channels per group).
Its integer encoding is the spatial encoding followed by [fusion_op, fusion_stage]
(op as its index in `FUSION_OPS`), what `TemporalSuperNetwork` takes as a tensor.
"""
import dataclasses
import re
from typing import Optional, Tuple

import numpy as np

from vipnas_tf.arch import cost as cost_lib
from vipnas_tf.arch.arch import Arch, HeadArch, StageArch, parse_arch
from vipnas_tf.arch.describe import arch_cost
from vipnas_tf.arch.hrnet_space import stage_entries
from vipnas_tf.arch.space import SearchSpace, get_space

FUSION_OPS = ("add", "mul", "cat")
HEATMAP_STRIDE = 4  # the heatmaps of every family are at 1/4 of the input

# Stride of the stem (input -> stage 1's input) per family.
_STEM_STRIDE = {"mobilenetv3": 2, "resnet": 4, "hrnet": 4}


@dataclasses.dataclass(frozen=True)
class FusionStage:
    """One place the fusion module can sit.

    Attributes:
      index: 1-based fusion stage (`FrameArch.fusion_stage`).
      arch_index: the `Arch.stages` entry whose width the features have.
      stride: feature stride with respect to the input crop.
      widths: the space's width choices of those features.
      label: how errors name it.
    """

    index: int
    arch_index: int
    stride: int
    widths: Tuple[int, ...]
    label: str


def fusion_stages(space) -> Tuple[FusionStage, ...]:
    """The fusion stages of a space (object or name), in order."""
    space = get_space(space) if isinstance(space, str) else space
    family = space.family
    if family == "hrnet":
        out = []
        for s in (1, 2, 3, 4):
            i = stage_entries(s)[0]
            out.append(FusionStage(s, i, 4, tuple(space.stages[i].width), f"stage {s} (branch 1)"))
        return tuple(out)
    if family not in _STEM_STRIDE:
        raise ValueError(f"no temporal fusion stages defined for family {family!r}")
    stride, out = _STEM_STRIDE[family], []
    for i, st in enumerate(space.stages):
        stride *= st.stride
        out.append(FusionStage(i + 1, i, stride, tuple(st.width), st.label or f"stage {i + 1}"))
    return tuple(out)


@dataclasses.dataclass(frozen=True)
class FrameArch:
    """A T-ViPNet: spatial architecture + fusion op + fusion stage (1-based)."""

    spatial: Arch
    fusion_op: str = "add"
    fusion_stage: int = 1

    @property
    def space(self):
        return self.spatial.space

    def to_dict(self):
        """The schedule's frame entry form: {"arch", "fusion_op", "fusion_stage"}."""
        return {"arch": self.spatial.to_string(), "fusion_op": self.fusion_op, "fusion_stage": int(self.fusion_stage)}

    @classmethod
    def from_dict(cls, d, source="<dict>"):
        if not isinstance(d, dict):
            raise ValueError(f"{source}: a frame architecture must be a JSON object, got {type(d).__name__}")
        for key in ("arch", "fusion_op", "fusion_stage"):
            if key not in d:
                raise ValueError(f"{source}: frame architecture is missing key '{key}'")
        arch = d["arch"]
        try:
            spatial = parse_arch(arch) if isinstance(arch, str) else Arch.from_dict(arch, source)
        except ValueError as e:
            raise ValueError(f"{source}: key 'arch': {e}") from None
        op = d["fusion_op"]
        if op not in FUSION_OPS:
            raise ValueError(f"{source}: key 'fusion_op' = {op!r}, expected one of {list(FUSION_OPS)}")
        stage = d["fusion_stage"]
        if isinstance(stage, bool) or not isinstance(stage, (int, np.integer)):
            raise ValueError(f"{source}: key 'fusion_stage' must be an integer (1-based stage), got {stage!r}")
        return cls(spatial, str(op), int(stage))

    def to_string(self):
        return f"{self.spatial.to_string()}|fuse_{self.fusion_op}_s{int(self.fusion_stage)}"

    def __str__(self):
        return self.to_string()


_FUSE_RE = re.compile(r"^fuse_(?P<op>[a-z]+)_s(?P<s>\d+)$")


def parse_frame_arch(text):
    """Parses '<spatial string>|fuse_<op>_s<stage>'; ValueError names the bad part."""
    spatial, sep, fuse = str(text).strip().rpartition("|")
    if not sep:
        raise ValueError(f"frame architecture {text!r}: expected '<arch>|fuse_<op>_s<stage>'")
    m = _FUSE_RE.match(fuse)
    if not m or m["op"] not in FUSION_OPS:
        raise ValueError(
            f"frame architecture: bad fusion token {fuse!r} (expected fuse_<op>_s<stage>, op in {list(FUSION_OPS)})"
        )
    return FrameArch(parse_arch(spatial), m["op"], int(m["s"]))


def resolve_frame_arch(spec):
    """A FrameArch from a FrameArch, its compact string or its dict form."""
    if isinstance(spec, FrameArch):
        return spec
    if isinstance(spec, dict):
        return FrameArch.from_dict(spec)
    return parse_frame_arch(spec)


# ---- cost ---------------------------------------------------------------------------
def fusion_conv_costs(frame_arch, input_size=(256, 192), num_keypoints=None):
    """ConvCost records of the fusion module, named like the static model's layers:
    `fusion__s<i>_conv1` (K -> C, 1x1, at the heatmap resolution) and
    `fusion__s<i>_conv2` (C or 2C for Cat -> C, 1x1, at the stage's resolution)."""
    space = get_space(frame_arch.space)
    h, w = cost_lib.check_input_size(input_size)
    stage = _stage_of(space, frame_arch.fusion_stage)
    c = frame_arch.spatial.stages[stage.arch_index].width
    k = num_keypoints or space.num_keypoints
    i = stage.index
    c_in = 2 * c if frame_arch.fusion_op == "cat" else c
    return [
        cost_lib.ConvCost(f"fusion__s{i}_conv1", k, c, 1, 1, (h // HEATMAP_STRIDE, w // HEATMAP_STRIDE), bias=True),
        cost_lib.ConvCost(f"fusion__s{i}_conv2", c_in, c, 1, 1, (h // stage.stride, w // stage.stride), bias=True),
    ]


def frame_cost(frame_arch, input_size=(256, 192)) -> cost_lib.Cost:
    """Cost (paper_gflops, macs, params) of a T-ViPNet: spatial network + fusion module."""
    spatial = arch_cost(frame_arch.spatial, input_size)
    fusion = cost_lib.total_cost(fusion_conv_costs(frame_arch, input_size))
    return cost_lib.Cost(
        macs=spatial.macs + fusion.macs,
        params=spatial.params + fusion.params,
        paper_gflops=spatial.paper_gflops + fusion.paper_gflops,
    )


def describe_frame(spec, input_size=(256, 192)):
    """Dict with the frame's `arch`, `fusion_op`, `fusion_stage`, `frame_arch` (compact),
    `paper_gflops`, `macs`, `params` (spatial + fusion) and `fusion_paper_gflops`."""
    fa = resolve_frame_arch(spec)
    c = frame_cost(fa, input_size)
    fusion = cost_lib.total_cost(fusion_conv_costs(fa, input_size))
    return {
        **fa.to_dict(),
        "frame_arch": fa.to_string(),
        **c.to_dict(),
        "fusion_paper_gflops": round(fusion.paper_gflops, 6),
        "input_size": list(cost_lib.check_input_size(input_size)),
    }


def _stage_of(space, fusion_stage):
    stages = fusion_stages(space)
    if isinstance(fusion_stage, bool) or not 1 <= int(fusion_stage) <= len(stages):
        raise ValueError(
            f"{space.name}: fusion_stage={fusion_stage!r} is outside the space (allowed: 1..{len(stages)})"
        )
    return stages[int(fusion_stage) - 1]


# ---- the temporal space ------------------------------------------------------------------
class TemporalSpace:
    """The space of frame architectures over a spatial search space.

    Args:
      space: spatial search space (name or object).
      max_arch: optional bound (the S-ViPNet architecture): every spatial choice of a
        member is no bigger than the bound's.
      ops: allowed fusion ops (subset of `FUSION_OPS`).
      stages: allowed 1-based fusion stages (default all).
      padding: the padding of every spatial architecture (`Arch.padding`: the
        T-ViPNet super-network's; default `max_arch`'s, else "same"). Members drawn,
        decoded or bred carry it; `validate` refuses another.

    Example:
      >>> ts = TemporalSpace("mobilenetv3")
      >>> fa = ts.sample(np.random.default_rng(0))
      >>> v = ts.encode(fa)            # int32 [spatial encoding + 2]
      >>> ts.decode(v) == fa
      True
      >>> sandwich = [ts.max(rng), ts.min(rng), *ts.sample(rng, 2)]
    """

    def __init__(self, space, max_arch: Optional[Arch] = None, ops=FUSION_OPS, stages=None, padding=None):
        self.spatial = get_space(space) if isinstance(space, str) else space
        if not isinstance(self.spatial, SearchSpace):
            raise ValueError(f"TemporalSpace: expected a search space, got {type(space).__name__}")
        self.name = self.spatial.name
        self.fusion_stages = fusion_stages(self.spatial)
        self.ops = tuple(ops)
        bad = [o for o in self.ops if o not in FUSION_OPS]
        if bad or not self.ops:
            raise ValueError(f"TemporalSpace: fusion ops {list(self.ops)} must be a non-empty subset of {list(FUSION_OPS)}")
        all_stages = tuple(s.index for s in self.fusion_stages)
        self.stages = all_stages if stages is None else tuple(int(s) for s in stages)
        if not self.stages or any(s not in all_stages for s in self.stages):
            raise ValueError(f"TemporalSpace {self.name}: fusion stages {list(self.stages)} must be in {list(all_stages)}")
        self.max_arch = max_arch
        self.padding = padding or (max_arch.padding if max_arch is not None else "same")
        if max_arch is not None:
            self.spatial.validate(max_arch)
            if max_arch.padding != self.padding:
                raise ValueError(f"TemporalSpace {self.name}: the bound {max_arch.to_string()} has padding "
                                 f"{max_arch.padding!r}, the space {self.padding!r}")
            self._check_bound(self.spatial.min(), "the space's smallest architecture")

    def _padded(self, spatial: Arch) -> Arch:
        return spatial if spatial.padding == self.padding else dataclasses.replace(spatial, padding=self.padding)

    def __repr__(self):
        bound = f", max_arch={self.max_arch.to_string()!r}" if self.max_arch else ""
        return f"TemporalSpace({self.name!r}{bound}, ops={self.ops}, stages={self.stages})"

    @property
    def num_keypoints(self):
        return self.spatial.num_keypoints

    # ---- validation ---------------------------------------------------------------
    def validate(self, frame_arch):
        """Raises ValueError naming the field (spatial field, fusion_op, fusion_stage)."""
        if not isinstance(frame_arch, FrameArch):
            raise ValueError(f"{self.name}: expected a FrameArch, got {type(frame_arch).__name__}")
        self.spatial.validate(frame_arch.spatial)
        if frame_arch.spatial.padding != self.padding:
            raise ValueError(f"{self.name}: frame architecture has padding={frame_arch.spatial.padding!r}, the "
                             f"temporal space (its super-network) {self.padding!r}")
        if frame_arch.fusion_op not in self.ops:
            raise ValueError(f"{self.name}: fusion_op={frame_arch.fusion_op!r} is outside the space (allowed: {list(self.ops)})")
        if isinstance(frame_arch.fusion_stage, bool) or frame_arch.fusion_stage not in self.stages:
            raise ValueError(
                f"{self.name}: fusion_stage={frame_arch.fusion_stage!r} is outside the space (allowed: {list(self.stages)})"
            )
        if self.max_arch is not None:
            self._check_bound(frame_arch.spatial, "frame architecture")

    def contains(self, frame_arch) -> bool:
        try:
            self.validate(frame_arch)
            return True
        except ValueError:
            return False

    def _mid(self, i, s, in_ch):
        return self.spatial.mid_channels(i, s, in_ch)

    def _check_bound(self, arch, what):
        b = self.max_arch

        def fail(where, field, value, bound):
            raise ValueError(
                f"{self.name} {where}: {what} has {field}={value!r}, bigger than the temporal space's bound "
                f"(the S-ViPNet architecture has {bound!r})"
            )

        if arch.stem.width > b.stem.width:
            fail("stem", "width", arch.stem.width, b.stem.width)
        if arch.stem.kernel > b.stem.kernel:
            fail("stem", "kernel", arch.stem.kernel, b.stem.kernel)
        for i, (s, bs, sp) in enumerate(zip(arch.stages, b.stages, self.spatial.stages)):
            where = sp.label or f"stage {i + 1}"
            for field in ("depth", "width", "kernel"):
                if getattr(s, field) > getattr(bs, field):
                    fail(where, field, getattr(s, field), getattr(bs, field))
            if s.attention and not bs.attention:
                fail(where, "attention", s.attention, bs.attention)
            in_ch = self.spatial.stage_in_channels(arch, i)
            b_in = self.spatial.stage_in_channels(b, i)
            mid, b_mid = self._mid(i, s, in_ch), self._mid(i, bs, b_in)
            if mid > b_mid:
                fail(where, "expansion (mid channels)", f"{s.expansion} ({mid})", f"{bs.expansion} ({b_mid})")
            if mid / s.groups > b_mid / bs.groups:
                fail(where, "groups (channels per group)", f"{s.groups} ({mid // s.groups})",
                     f"{bs.groups} ({b_mid // bs.groups})")
        h, bh = arch.head, b.head
        if h.width > bh.width:
            fail("head", "width", h.width, bh.width)
        if h.width and bh.width and h.width / h.groups > bh.width / bh.groups:
            fail("head", "groups (channels per group)", h.groups, bh.groups)

    # ---- construction ------------------------------------------------------------
    def _build_spatial(self, rng, base=None, prob=1.0):
        """A spatial architecture within the bound: each choice drawn uniformly from
        the bounded allowed values, or kept from `base` (with probability 1 - prob,
        and only when still allowed)."""
        sp_space, b = self.spatial, self.max_arch

        def pick(values, old=None):
            values = list(values)
            if not values:
                raise RuntimeError("empty choice list")  # excluded by _check_bound(min) in __init__
            if base is not None and old in values and rng.random() >= prob:
                return old
            return values[int(rng.integers(len(values)))]

        def bounded(values, limit):
            return [v for v in values if limit is None or v <= limit]

        base_stem = base.stem if base else None
        stem = StageArch(
            width=pick(bounded(sp_space.stem_width, b and b.stem.width), base_stem and base_stem.width),
            kernel=pick(bounded(sp_space.stem_kernel, b and b.stem.kernel), base_stem and base_stem.kernel),
        )
        stages = []
        for i, sp in enumerate(sp_space.stages):
            bs = b.stages[i] if b else None
            old = base.stages[i] if base else None
            in_ch = stem.width if i == 0 else stages[-1].width
            b_mid = self._mid(i, bs, sp_space.stage_in_channels(b, i)) if b else None
            for attempt in range(100):
                # A width whose group choices all exceed the bound's channels per group
                # (ResNet: 272 takes only 16 groups) is drawn again.
                keep = old if attempt == 0 else None
                depth = pick(bounded(sp.depth, bs and bs.depth), keep and keep.depth)
                width = pick(bounded(sp.width, bs and bs.width), keep and keep.width)
                exps = [e for e in sp.expansion if b_mid is None or self._mid(i, StageArch(1, width, e), in_ch) <= b_mid]
                if not exps:
                    continue
                expansion = pick(exps, keep and keep.expansion)
                kernel = pick(bounded(sp.kernel, bs and bs.kernel), keep and keep.kernel)
                attention = pick([a for a in sp.attention if bs is None or a <= bs.attention], keep and keep.attention)
                s = StageArch(depth, width, expansion, kernel, 1, attention)
                mid = self._mid(i, s, in_ch)
                allowed = sp_space.group_choices(i, s, in_ch)
                if b is not None:
                    allowed = [g for g in allowed if mid / g <= b_mid / bs.groups]
                if allowed:
                    break
            else:  # the space's smallest stage is within the bound (checked in __init__)
                s = sp_space.min().stages[i]
                allowed = [s.groups]
            stages.append(dataclasses.replace(s, groups=pick(allowed, old and old.groups)))
        bh = b.head if b else None
        oh = base.head if base else None
        for attempt in range(100):
            keep = oh if attempt == 0 else None
            hw = pick(bounded(sp_space.head.width, bh and bh.width), keep and keep.width)
            proto = Arch(self.name, stem, tuple(stages), HeadArch(hw, 1, sp_space.head.kernel, sp_space.head.num_layers))
            allowed = sp_space.head_group_choices(hw, sp_space.head_in_channels(proto))
            if bh is not None and hw and bh.width:
                allowed = [g for g in allowed if hw / g <= bh.width / bh.groups]
            if allowed:
                break
        else:
            head_min = sp_space.min().head
            proto = Arch(self.name, stem, tuple(stages), head_min)
            allowed = [head_min.groups]
        head = dataclasses.replace(proto.head, groups=pick(allowed, oh and oh.groups))
        arch = dataclasses.replace(proto, head=head)
        if hasattr(sp_space, "tie_depths"):  # HRNet: branches share the stage depth
            arch = sp_space.tie_depths(arch)
        return self._padded(arch)

    def _temporal(self, rng, op=None, stage=None):
        if op is None:
            op = self.ops[int(rng.integers(len(self.ops)))]
        if stage is None:
            stage = self.stages[int(rng.integers(len(self.stages)))]
        return op, int(stage)

    def max(self, rng=None) -> FrameArch:
        """The biggest spatial network (the bound, or the space's max). Temporal
        choices: random when `rng` is given (the sandwich rule's biggest network,
        paper Sec. 3.4.2), else the costliest fusion: the last op ("cat" when allowed)
        at the first (highest-resolution) allowed stage."""
        spatial = self.max_arch if self.max_arch is not None else self._padded(self.spatial.max())
        if rng is not None:
            return FrameArch(spatial, *self._temporal(rng))
        return FrameArch(spatial, self.ops[-1], self.stages[0])

    def min(self, rng=None) -> FrameArch:
        """The smallest spatial network; temporal choices random with `rng`, else the
        first op ("add") at the last allowed stage."""
        if rng is not None:
            return FrameArch(self._padded(self.spatial.min()), *self._temporal(rng))
        return FrameArch(self._padded(self.spatial.min()), self.ops[0], self.stages[-1])

    def sample(self, rng, n=None):
        """A frame architecture with every spatial and temporal choice uniform (or `n`)."""
        if n is not None:
            return [self.sample(rng) for _ in range(n)]
        spatial = self._padded(self.spatial.sample(rng)) if self.max_arch is None else self._build_spatial(rng)
        return FrameArch(spatial, *self._temporal(rng))

    def mutate(self, frame_arch, rng, prob=0.2) -> FrameArch:
        """Resamples each spatial and temporal choice with probability `prob`."""
        if self.max_arch is None:
            spatial = self._padded(self.spatial.mutate(frame_arch.spatial, rng, prob))
        else:
            spatial = self._build_spatial(rng, base=frame_arch.spatial, prob=prob)
        op = self.ops[int(rng.integers(len(self.ops)))] if rng.random() < prob else frame_arch.fusion_op
        stage = self.stages[int(rng.integers(len(self.stages)))] if rng.random() < prob else frame_arch.fusion_stage
        return FrameArch(spatial, op, int(stage))

    def crossover(self, a, b, rng) -> FrameArch:
        """Stem / stages / head and each temporal choice from either parent."""
        spatial = self._padded(self.spatial.crossover(a.spatial, b.spatial, rng))
        if self.max_arch is not None:
            spatial = self._build_spatial(rng, base=spatial, prob=0.0)  # re-picks only out-of-bound groups
        op = a.fusion_op if rng.random() < 0.5 else b.fusion_op
        stage = a.fusion_stage if rng.random() < 0.5 else b.fusion_stage
        return FrameArch(spatial, op, int(stage))

    # ---- encoding ------------------------------------------------------------------
    @property
    def encoding_size(self) -> int:
        return self.spatial.encoding_size + 2

    def encode(self, frame_arch) -> np.ndarray:
        """int32 [spatial encoding, fusion op index, fusion stage] (validated)."""
        self.validate(frame_arch)
        v = self.spatial.encode(frame_arch.spatial)
        return np.concatenate([v, np.asarray([FUSION_OPS.index(frame_arch.fusion_op), frame_arch.fusion_stage], np.int32)])

    def decode(self, vector) -> FrameArch:
        v = np.asarray(vector).reshape(-1)
        if len(v) != self.encoding_size:
            raise ValueError(f"{self.name}: encoded frame architecture has {len(v)} values, expected {self.encoding_size}")
        op = int(v[-2])
        if not 0 <= op < len(FUSION_OPS):
            raise ValueError(f"{self.name}: encoded fusion op {op} is not an index of {list(FUSION_OPS)}")
        fa = FrameArch(self.spatial.decode(v[:-2], padding=self.padding), FUSION_OPS[op], int(v[-1]))
        self.validate(fa)
        return fa

    def encode_many(self, frame_archs) -> np.ndarray:
        """int32 [T, L] for a list of T frame architectures."""
        return np.stack([self.encode(fa) for fa in frame_archs]).astype(np.int32)

    def decode_many(self, vectors):
        return [self.decode(v) for v in np.asarray(vectors)]
