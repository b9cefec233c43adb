"""The architecture value: what a sub-network of a search space looks like.

An `Arch` is a small frozen value passed between search, training, export,
`describe.py` and the video runner. It knows nothing of TensorFlow.

Compact string form (in the spirit of timm's block strings), one token per part,
separated by '/':

    mobilenetv3/stem_c16_k3/d1_c16_e1_k3_g8_att/d4_c24_e5_k7_g120_att/.../head_c160_g160

- `stem_cW_kK`: stem conv width W, kernel K.
- `dD_cW_eE_kK_gG[_att]`: a stage of depth D, width W, expansion E, kernel K,
  G groups in its grouped conv, attention on when `_att` is present.
  Static presets may append `_m<mid>,<mid>,...` with per-block mid channels.
- `head_cW_gG[_kK][_nN]`: N deconv layers (default 3) of width W, G groups,
  kernel K (default 4).
- `pad_symmetric` (optional last token): the network pads like PyTorch (see
  `Arch.padding`); absent for the default TF 'same' padding.
"""
import dataclasses
import json
import re
from typing import Optional, Tuple

from vipnas_tf.utils import io as io_utils

# How convolutions (and the ResNet stem's max-pool) pad their input:
# - "same": TensorFlow's SAME (at stride 2 on an even size it pads one row/column
#   less before than after); what the super-networks compute.
# - "symmetric": PyTorch's `padding=k // 2` on every side (max-pool: 1), as in every
#   mmpose network. Stride-1 convs with odd kernels pad the same either way; at
#   stride 2 the sampling grid moves by one pixel, so weights trained with one
#   padding give other outputs with the other.
PADDINGS = ("same", "symmetric")


@dataclasses.dataclass(frozen=True)
class StageArch:
    """Choices of one stage (all blocks of a stage share them, as in the paper).

    Attributes:
      depth: number of active blocks (the first `depth` blocks run).
      width: output channels of the stage's blocks.
      expansion: MobileNetV3: mid = width * expansion. ResNet: mid = width // expansion.
      kernel: kernel size of the searched (middle) conv.
      groups: group number of the searched conv; 0 means depthwise (static presets).
      attention: whether the block's attention module (SE or GC) is used.
      mid_channels: per-block mid channels overriding `expansion` (static presets only,
        e.g. MobileNetV3-Large whose expansion varies inside a stage).
    """

    depth: int = 1
    width: int = 16
    expansion: int = 1
    kernel: int = 3
    groups: int = 1
    attention: bool = False
    mid_channels: Tuple[int, ...] = ()

    def to_dict(self):
        d = dataclasses.asdict(self)
        if not self.mid_channels:
            d.pop("mid_channels")
        else:
            d["mid_channels"] = list(self.mid_channels)
        return d


@dataclasses.dataclass(frozen=True)
class HeadArch:
    """Choices of the deconvolution head (stage-wise: all deconvs share them)."""

    width: int = 256
    groups: int = 1
    kernel: int = 4
    num_layers: int = 3

    def to_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Arch:
    """A whole network: stem, backbone stages, deconv head.

    Attributes:
      space: name of the search space (or family, for static presets) it belongs to.
      stem: the stem conv (only `width` and `kernel` are used).
      stages: one `StageArch` per backbone stage (HRNet: one per stage and branch).
      head: the deconvolution head.
      padding: "same" (default) or "symmetric" (PyTorch `k // 2`, mmpose's networks;
        static models only, see `PADDINGS`). Does not change sizes or cost.
    """

    space: str
    stem: StageArch
    stages: Tuple[StageArch, ...]
    head: HeadArch
    padding: str = "same"

    def __post_init__(self):
        if self.padding not in PADDINGS:
            raise ValueError(f"architecture padding {self.padding!r}: expected one of {', '.join(PADDINGS)}")

    # ---- dict / JSON -------------------------------------------------------
    def to_dict(self):
        d = {
            "space": self.space,
            "stem": {"width": self.stem.width, "kernel": self.stem.kernel},
            "stages": [s.to_dict() for s in self.stages],
            "head": self.head.to_dict(),
        }
        if self.padding != "same":
            d["padding"] = self.padding
        return d

    @classmethod
    def from_dict(cls, d, source="<dict>"):
        """Builds an Arch from `to_dict()` output; names the missing/bad key on error."""
        if not isinstance(d, dict):
            raise ValueError(f"{source}: an architecture must be a JSON object, got {type(d).__name__}")
        if "arch" in d and isinstance(d["arch"], (dict, str)) and "stages" not in d:
            inner = d["arch"]  # a search summary or best_arch.json wrapper
            return parse_arch(inner) if isinstance(inner, str) else cls.from_dict(inner, source)
        for key in ("space", "stem", "stages", "head"):
            if key not in d:
                raise ValueError(f"{source}: architecture is missing key '{key}'")
        try:
            stem = StageArch(width=int(d["stem"]["width"]), kernel=int(d["stem"]["kernel"]))
            stages = []
            for i, s in enumerate(d["stages"]):
                unknown = set(s) - {f.name for f in dataclasses.fields(StageArch)}
                if unknown:
                    raise ValueError(f"stage {i + 1}: unknown field(s) {sorted(unknown)}")
                kw = dict(s)
                if "mid_channels" in kw:
                    kw["mid_channels"] = tuple(int(m) for m in kw["mid_channels"])
                for f in ("depth", "width", "expansion", "kernel", "groups"):
                    if f in kw:
                        kw[f] = int(kw[f])
                if "attention" in kw:
                    kw["attention"] = bool(kw["attention"])
                stages.append(StageArch(**kw))
            head = HeadArch(**{k: int(v) for k, v in d["head"].items()})
        except (KeyError, TypeError) as e:
            raise ValueError(f"{source}: malformed architecture: {e}") from None
        padding = d.get("padding", "same")
        if padding not in PADDINGS:
            raise ValueError(f"{source}: architecture field 'padding' is {padding!r}, expected one of "
                             f"{', '.join(PADDINGS)}")
        return cls(space=str(d["space"]), stem=stem, stages=tuple(stages), head=head, padding=padding)

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2)

    # ---- compact string ----------------------------------------------------
    def to_string(self):
        parts = [self.space, f"stem_c{self.stem.width}_k{self.stem.kernel}"]
        for s in self.stages:
            tok = f"d{s.depth}_c{s.width}_e{s.expansion}_k{s.kernel}_g{s.groups}"
            if s.attention:
                tok += "_att"
            if s.mid_channels:
                tok += "_m" + ",".join(str(m) for m in s.mid_channels)
            parts.append(tok)
        h = self.head
        tok = f"head_c{h.width}_g{h.groups}"
        if h.kernel != 4:
            tok += f"_k{h.kernel}"
        if h.num_layers != 3:
            tok += f"_n{h.num_layers}"
        parts.append(tok)
        if self.padding != "same":
            parts.append(f"pad_{self.padding}")
        return "/".join(parts)

    def __str__(self):
        return self.to_string()

    def replace_stage(self, index, **changes):
        """Returns a copy with stage `index` (0-based) changed."""
        stages = list(self.stages)
        stages[index] = dataclasses.replace(stages[index], **changes)
        return dataclasses.replace(self, stages=tuple(stages))


_STAGE_RE = re.compile(
    r"^d(?P<d>\d+)_c(?P<c>\d+)_e(?P<e>\d+)_k(?P<k>\d+)_g(?P<g>\d+)(?P<att>_att)?(?:_m(?P<m>[\d,]+))?$"
)
_STEM_RE = re.compile(r"^stem_c(?P<c>\d+)_k(?P<k>\d+)$")
_HEAD_RE = re.compile(r"^head_c(?P<c>\d+)_g(?P<g>\d+)(?:_k(?P<k>\d+))?(?:_n(?P<n>\d+))?$")
_PAD_RE = re.compile(r"^pad_(?P<p>\w+)$")


def parse_arch(text):
    """Parses the compact string form; raises ValueError naming the bad token."""
    parts = text.strip().split("/")
    padding = "same"
    m = _PAD_RE.match(parts[-1]) if parts else None
    if m:
        padding = m["p"]
        if padding not in PADDINGS:
            raise ValueError(f"architecture string: bad padding token {parts[-1]!r} (expected "
                             f"{' or '.join('pad_' + p for p in PADDINGS if p != 'same')}, or none)")
        parts = parts[:-1]
    if len(parts) < 4:
        raise ValueError(f"architecture string {text!r}: expected 'space/stem_.../<stages>/head_...'")
    space = parts[0]
    m = _STEM_RE.match(parts[1])
    if not m:
        raise ValueError(f"architecture string: bad stem token {parts[1]!r} (expected stem_c<W>_k<K>)")
    stem = StageArch(width=int(m["c"]), kernel=int(m["k"]))
    stages = []
    for i, tok in enumerate(parts[2:-1]):
        m = _STAGE_RE.match(tok)
        if not m:
            raise ValueError(
                f"architecture string: bad token for stage {i + 1}: {tok!r} "
                "(expected d<D>_c<W>_e<E>_k<K>_g<G>[_att])"
            )
        mids = tuple(int(x) for x in m["m"].split(",")) if m["m"] else ()
        stages.append(
            StageArch(int(m["d"]), int(m["c"]), int(m["e"]), int(m["k"]), int(m["g"]), bool(m["att"]), mids)
        )
    m = _HEAD_RE.match(parts[-1])
    if not m:
        raise ValueError(f"architecture string: bad head token {parts[-1]!r} (expected head_c<W>_g<G>)")
    head = HeadArch(int(m["c"]), int(m["g"]), int(m["k"] or 4), int(m["n"] or 3))
    return Arch(space, stem, tuple(stages), head, padding)


def load_arch(path):
    """Loads an Arch from a JSON file (to_dict form or a search result wrapping it)."""
    return Arch.from_dict(io_utils.read_json(path), source=str(path))


def save_arch(arch, path, extra: Optional[dict] = None):
    """Writes `arch` as JSON (atomically); `extra` keys are stored beside it."""
    d = arch.to_dict()
    if extra:
        d = {**d, **{k: v for k, v in extra.items() if k not in d}}
    io_utils.write_json(path, d)
