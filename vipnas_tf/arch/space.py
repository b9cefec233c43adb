"""Search spaces as data: per-stage choices, validation, sampling, encoding.

A `SearchSpace` lists, for the stem, every stage and the head, the allowed values of
each elastic dimension (paper Sec. 3.2, Appendix A.2: choices are stage-wise). Group
choices depend on the channels they split, so each space supplies a rule.

The space also fixes the integer encoding of an `Arch` that the super-networks take
as a tensor (so that changing the architecture never re-traces a `tf.function`):

    [stem.width, stem.kernel,
     (depth, width, expansion, kernel, groups, attention) for each stage,
     head.width, head.groups]
"""
import dataclasses
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np

from vipnas_tf.arch.arch import Arch, HeadArch, StageArch

STAGE_FIELDS = ("depth", "width", "expansion", "kernel", "groups", "attention")
STEM_FIELDS = ("width", "kernel")
HEAD_FIELDS = ("width", "groups")


@dataclasses.dataclass(frozen=True)
class StageSpace:
    """Allowed values of one stage's choices plus its fixed structure.

    Attributes:
      depth, width, expansion, kernel, attention: allowed values (sorted ascending).
      stride: stride of the stage's first block.
      activation: "relu" or "hswish" (MobileNetV3 stages).
      label: how errors name the stage ("stage 3", "stage 3 branch 2").
    """

    depth: Tuple[int, ...]
    width: Tuple[int, ...]
    expansion: Tuple[int, ...]
    kernel: Tuple[int, ...]
    attention: Tuple[bool, ...] = (False, True)
    stride: int = 1
    activation: str = "relu"
    label: str = ""


@dataclasses.dataclass(frozen=True)
class HeadSpace:
    width: Tuple[int, ...]
    kernel: int = 4
    num_layers: int = 3


def _choices_text(values):
    values = list(values)
    if len(values) > 4 and all(isinstance(v, int) for v in values):
        steps = {b - a for a, b in zip(values, values[1:])}
        if len(steps) == 1:
            return f"[{values[0]}, {values[-1]}] step {steps.pop()}"
    return "{" + ", ".join(str(v) for v in values) + "}"


class SearchSpace:
    """Base class of the search spaces; subclasses define stages and group rules.

    Args:
      name: registry name (e.g. "mobilenetv3").
      stem_width, stem_kernel: allowed stem values.
      stages: one `StageSpace` per stage.
      head: the `HeadSpace`.
      num_keypoints: K, the heatmap channels.

    Example:
      >>> space = get_space("mobilenetv3")
      >>> arch = space.sample(np.random.default_rng(0))
      >>> space.validate(arch)
      >>> members = [space.max(), space.min(), *space.sample(rng, 2)]
    """

    family = "base"  # which super-network / static builder family

    def __init__(self, name, stem_width, stem_kernel, stages, head, num_keypoints=17):
        self.name = name
        self.stem_width = tuple(stem_width)
        self.stem_kernel = tuple(stem_kernel)
        self.stages = tuple(stages)
        self.head = head
        self.num_keypoints = num_keypoints

    # ---- group rules (override) --------------------------------------------
    def mid_channels(self, stage_index, stage: StageArch, in_channels: int) -> int:
        """Channels of the stage's searched (grouped) conv."""
        raise NotImplementedError

    def group_choices(self, stage_index, stage: StageArch, in_channels: int) -> Tuple[int, ...]:
        """Allowed group numbers of the searched conv, ascending."""
        raise NotImplementedError

    def head_group_choices(self, width: int, in_channels: int) -> Tuple[int, ...]:
        raise NotImplementedError

    def stage_in_channels(self, arch: Arch, stage_index: int) -> int:
        """Input channels of a stage's first block."""
        return arch.stem.width if stage_index == 0 else arch.stages[stage_index - 1].width

    def head_in_channels(self, arch: Arch) -> int:
        return arch.stages[-1].width

    # ---- validation ----------------------------------------------------------
    def _fail(self, where, field, value, allowed):
        raise ValueError(
            f"{self.name} {where}: {field}={value!r} is outside the search space "
            f"(allowed: {_choices_text(allowed)})"
        )

    def validate(self, arch: Arch):
        """Raises ValueError naming field, stage, value and allowed range."""
        if not isinstance(arch, Arch):
            raise ValueError(f"{self.name}: expected an Arch, got {type(arch).__name__}")
        if arch.space != self.name:
            raise ValueError(
                f"architecture belongs to space '{arch.space}', not '{self.name}' "
                f"(known spaces: {', '.join(sorted(SPACES))})"
            )
        if len(arch.stages) != len(self.stages):
            raise ValueError(
                f"{self.name}: wrong number of stages: got {len(arch.stages)}, "
                f"the space has {len(self.stages)}"
            )
        if arch.stem.width not in self.stem_width:
            self._fail("stem", "width", arch.stem.width, self.stem_width)
        if arch.stem.kernel not in self.stem_kernel:
            self._fail("stem", "kernel", arch.stem.kernel, self.stem_kernel)
        for i, (s, sp) in enumerate(zip(arch.stages, self.stages)):
            where = sp.label or f"stage {i + 1}"
            if s.mid_channels:
                raise ValueError(f"{self.name} {where}: per-block mid_channels are for static presets only")
            for field in ("depth", "width", "expansion", "kernel", "attention"):
                value = getattr(s, field)
                if value not in getattr(sp, field):
                    self._fail(where, field, value, getattr(sp, field))
            allowed = self.group_choices(i, s, self.stage_in_channels(arch, i))
            if s.groups not in allowed:
                self._fail(where, "groups", s.groups, allowed)
        h = arch.head
        if h.width not in self.head.width:
            self._fail("head", "width", h.width, self.head.width)
        if h.kernel != self.head.kernel:
            self._fail("head", "kernel", h.kernel, (self.head.kernel,))
        if h.num_layers != self.head.num_layers:
            self._fail("head", "num_layers", h.num_layers, (self.head.num_layers,))
        allowed = self.head_group_choices(h.width, self.head_in_channels(arch))
        if h.groups not in allowed:
            self._fail("head", "groups", h.groups, allowed)

    def contains(self, arch: Arch) -> bool:
        try:
            self.validate(arch)
            return True
        except ValueError:
            return False

    # ---- construction --------------------------------------------------------
    def _build(self, pick: Callable[[Sequence], object], pick_group: Callable[[Sequence], int]):
        stem = StageArch(width=pick(self.stem_width), kernel=pick(self.stem_kernel))
        stages = []
        for i, sp in enumerate(self.stages):
            s = StageArch(
                depth=pick(sp.depth),
                width=pick(sp.width),
                expansion=pick(sp.expansion),
                kernel=pick(sp.kernel),
                groups=1,
                attention=pick(sp.attention),
            )
            in_ch = stem.width if i == 0 else stages[-1].width
            s = dataclasses.replace(s, groups=pick_group(self.group_choices(i, s, in_ch)))
            stages.append(s)
        width = pick(self.head.width)
        groups = pick_group(self.head_group_choices(width, stages[-1].width))
        head = HeadArch(width, groups, self.head.kernel, self.head.num_layers)
        return Arch(self.name, stem, tuple(stages), head)

    def max(self) -> Arch:
        """The biggest sub-network: largest of everything, fewest groups, attention on."""
        return self._build(lambda c: max(c), lambda g: min(g))

    def min(self) -> Arch:
        """The smallest sub-network: smallest of everything, most groups, attention off."""
        return self._build(lambda c: min(c), lambda g: max(g))

    def sample(self, rng, n: Optional[int] = None):
        """One uniformly sampled architecture per stage choice, or a list of `n`."""
        if n is not None:
            return [self.sample(rng) for _ in range(n)]
        pick = lambda c: c[int(rng.integers(len(c)))]  # noqa: E731
        return self._build(pick, pick)

    def repair(self, arch: Arch, rng) -> Arch:
        """Re-picks group numbers made invalid by a change of another field."""
        stages = []
        for i, s in enumerate(arch.stages):
            in_ch = arch.stem.width if i == 0 else stages[-1].width
            allowed = self.group_choices(i, s, in_ch)
            if s.groups not in allowed:
                s = dataclasses.replace(s, groups=allowed[int(rng.integers(len(allowed)))])
            stages.append(s)
        head = arch.head
        allowed = self.head_group_choices(head.width, stages[-1].width)
        if head.groups not in allowed:
            head = dataclasses.replace(head, groups=allowed[int(rng.integers(len(allowed)))])
        return dataclasses.replace(arch, stages=tuple(stages), head=head)

    def mutate(self, arch: Arch, rng, prob: float = 0.2) -> Arch:
        """Resamples each choice with probability `prob` (evolutionary search)."""
        pick = lambda c, v: c[int(rng.integers(len(c)))] if rng.random() < prob else v  # noqa: E731
        stem = StageArch(width=pick(self.stem_width, arch.stem.width), kernel=pick(self.stem_kernel, arch.stem.kernel))
        stages = []
        for i, (s, sp) in enumerate(zip(arch.stages, self.stages)):
            new = dataclasses.replace(
                s, **{f: pick(getattr(sp, f), getattr(s, f)) for f in ("depth", "width", "expansion", "kernel", "attention")}
            )
            in_ch = stem.width if i == 0 else stages[-1].width
            allowed = self.group_choices(i, new, in_ch)
            groups = pick(allowed, new.groups)
            stages.append(dataclasses.replace(new, groups=groups))
        head = dataclasses.replace(arch.head, width=pick(self.head.width, arch.head.width))
        head = dataclasses.replace(head, groups=pick(self.head_group_choices(head.width, stages[-1].width), head.groups))
        return self.repair(dataclasses.replace(arch, stem=stem, stages=tuple(stages), head=head), rng)

    def crossover(self, a: Arch, b: Arch, rng) -> Arch:
        """Takes stem, each stage and head from either parent with equal probability."""
        take = lambda x, y: x if rng.random() < 0.5 else y  # noqa: E731
        child = Arch(
            self.name,
            take(a.stem, b.stem),
            tuple(take(x, y) for x, y in zip(a.stages, b.stages)),
            take(a.head, b.head),
        )
        return self.repair(child, rng)

    # ---- tensor encoding -----------------------------------------------------
    @property
    def encoding_size(self) -> int:
        return len(STEM_FIELDS) + len(STAGE_FIELDS) * len(self.stages) + len(HEAD_FIELDS)

    def stage_offset(self, stage_index: int) -> int:
        return len(STEM_FIELDS) + len(STAGE_FIELDS) * stage_index

    @property
    def head_offset(self) -> int:
        return self.stage_offset(len(self.stages))

    def encode(self, arch: Arch) -> np.ndarray:
        """int32 vector of the architecture (validated) for the super-network. The
        padding is not part of it: it is the super-network's (`check_supernet_padding`)."""
        self.validate(arch)
        v = [arch.stem.width, arch.stem.kernel]
        for s in arch.stages:
            v += [s.depth, s.width, s.expansion, s.kernel, s.groups, int(s.attention)]
        v += [arch.head.width, arch.head.groups]
        return np.asarray(v, np.int32)

    def decode(self, vector, padding="same") -> Arch:
        """The Arch of an encoded vector; `padding` is the network's (not encoded)."""
        v = [int(x) for x in np.asarray(vector).reshape(-1)]
        if len(v) != self.encoding_size:
            raise ValueError(f"{self.name}: encoded architecture has {len(v)} values, expected {self.encoding_size}")
        stem = StageArch(width=v[0], kernel=v[1])
        stages = []
        for i in range(len(self.stages)):
            o = self.stage_offset(i)
            d, w, e, k, g, a = v[o : o + 6]
            stages.append(StageArch(d, w, e, k, g, bool(a)))
        o = self.head_offset
        head = HeadArch(v[o], v[o + 1], self.head.kernel, self.head.num_layers)
        arch = Arch(self.name, stem, tuple(stages), head, padding)
        self.validate(arch)
        return arch

    def size(self) -> float:
        """Number of distinct architectures in the space (stage-wise), for docs."""
        total = float(len(self.stem_width) * len(self.stem_kernel))
        for i, sp in enumerate(self.stages):
            n = 0
            for w in sp.width:
                for e in sp.expansion:
                    s = StageArch(1, w, e, 3, 1, False)
                    in_ch = max(self.stem_width) if i == 0 else max(self.stages[i - 1].width)
                    n += len(self.group_choices(i, s, in_ch))
            total *= n * len(sp.depth) * len(sp.kernel) * len(sp.attention)
        return total * sum(len(self.head_group_choices(w, max(self.stages[-1].width))) for w in self.head.width)


SPACES: Dict[str, SearchSpace] = {}


def check_supernet_padding(arch: Arch, padding: str = "same"):
    """A super-network pads every architecture it runs one way, fixed when it is built
    (`SuperNetwork(padding=...)`): raises ValueError when `arch.padding` is another."""
    if arch.padding != padding:
        raise ValueError(
            f"{arch.to_string()}: padding={arch.padding!r}, but this super-network was built with "
            f"padding={padding!r}; build it with padding={arch.padding!r} (build_supernet(..., "
            f"padding={arch.padding!r})), or use the architecture with padding={padding!r}"
        )


def register_space(space: SearchSpace) -> SearchSpace:
    """Adds a space instance to the registry (a real seam: spaces and super-networks)."""
    SPACES[space.name] = space
    return space


def get_space(name: str) -> SearchSpace:
    """Looks up a registered space (`vipnas_tf.arch` registers every space on import);
    unknown names list the known ones."""
    if name not in SPACES:
        raise ValueError(f"unknown search space {name!r} (known: {', '.join(sorted(SPACES))})")
    return SPACES[name]


def list_spaces():
    return sorted(SPACES)
