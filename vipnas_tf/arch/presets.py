"""Published architectures and baselines, by name.

- `s_vipnas_mbv3`: S-ViPNAS-MobileNetV3 as released in mmpose (`vipnas_mbv3.py`),
  including its 160-wide depthwise head. A point of the `mobilenetv3` space (whose head
  width choices include 160 for this reason; see `mobilenetv3_space`).
- `s_vipnas_res50`: S-ViPNAS-Res50 as released in mmpose (`vipnas_resnet.py`): a point of
  the `resnet50` space.
- `sbl_res50`: SimpleBaseline ResNet-50 (torchvision ResNet-50 without the classifier +
  3 deconvs of 256 + 1x1 conv). A *static* model: ResNet-50's bottleneck expansion of 4
  and widths 256-2048 lie outside Table A2.
- `sbl_mbv3`: SimpleBaseline on MobileNetV3-Large (mmpose `MobileNetV3(arch='big')`
  blocks, SE ratio 4, + 3 deconvs of 256 + 1x1 conv). A *static* model: its expansion
  varies inside a stage (per-block `mid_channels`), which the stage-wise space cannot
  express.

Static presets are built with fresh weights by `vipnas_tf.models.build_static`; points
of a space can also be extracted from a trained super-network.

Shipped presets: every `vipnas_tf/arch/shipped/NAME.json` (written by
`research/latency/ship.py` from a latency search, format `SHIPPED_PRESET_FORMAT`: name,
arch string, description, provenance) is a preset too, registered on first use; a file
of that format can also be given by path wherever an architecture is asked for.
"""
import dataclasses
import functools
import glob
import os
from typing import List

from vipnas_tf.arch.arch import Arch, HeadArch, StageArch, parse_arch
from vipnas_tf.arch.space import get_space
from vipnas_tf.utils import io as io_utils

SHIPPED_PRESET_FORMAT = "vipnas-tf/shipped-preset/v1"
SHIPPED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shipped")


@dataclasses.dataclass(frozen=True)
class Preset:
    name: str
    arch: Arch
    in_space: bool
    description: str


def _mbv3(stages, head):
    return Arch("mobilenetv3", StageArch(width=16, kernel=3), tuple(stages), head)


PRESETS = {
    "s_vipnas_mbv3": Preset(
        "s_vipnas_mbv3",
        _mbv3(
            [
                StageArch(1, 16, 1, 3, 8, True),
                StageArch(4, 24, 5, 7, 120, True),
                StageArch(4, 40, 4, 7, 20, False),
                StageArch(4, 80, 5, 5, 100, True),
                StageArch(4, 112, 5, 7, 280, True),
                StageArch(4, 160, 6, 5, 240, True),
            ],
            HeadArch(160, 160),
        ),
        True,
        "S-ViPNAS-MobileNetV3 (published searched model, mmpose)",
    ),
    "s_vipnas_res50": Preset(
        "s_vipnas_res50",
        Arch(
            "resnet50",
            StageArch(width=48, kernel=7),
            (
                StageArch(4, 80, 1, 3, 16, True),
                StageArch(6, 160, 1, 5, 16, False),
                StageArch(7, 304, 1, 5, 16, True),
                StageArch(3, 608, 1, 5, 16, True),
            ),
            HeadArch(144, 16),
        ),
        True,
        "S-ViPNAS-Res50 (published searched model, mmpose)",
    ),
    "sbl_res50": Preset(
        "sbl_res50",
        Arch(
            "resnet50",
            StageArch(width=64, kernel=7),
            (
                StageArch(3, 256, 4, 3, 1, False),
                StageArch(4, 512, 4, 3, 1, False),
                StageArch(6, 1024, 4, 3, 1, False),
                StageArch(3, 2048, 4, 3, 1, False),
            ),
            HeadArch(256, 1),
        ),
        False,
        "SimpleBaseline ResNet-50 (static baseline)",
    ),
    "sbl_mbv3": Preset(
        "sbl_mbv3",
        _mbv3(
            [
                StageArch(1, 16, 1, 3, 0, False, (16,)),
                StageArch(2, 24, 3, 3, 0, False, (64, 72)),
                StageArch(3, 40, 3, 5, 0, True, (72, 120, 120)),
                StageArch(4, 80, 3, 3, 0, False, (240, 200, 184, 184)),
                StageArch(2, 112, 6, 3, 0, True, (480, 672)),
                StageArch(3, 160, 6, 5, 0, True, (672, 960, 960)),
            ],
            HeadArch(256, 1),
        ),
        False,
        "SimpleBaseline on MobileNetV3-Large (static baseline)",
    ),
}


def list_presets():
    _register_shipped()
    return sorted(PRESETS)


def get_preset(name):
    _register_shipped()
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r} (presets: {', '.join(list_presets())})")
    return PRESETS[name]


def register_preset(preset: Preset):
    """Adds a preset (used by spaces defined in other modules, e.g. HRNet)."""
    PRESETS[preset.name] = preset
    return preset


def resolve_arch(spec):
    """An Arch from a preset name, a JSON file path, a compact string, or an Arch.

    Raises ValueError listing the presets when `spec` is none of these.
    """
    if isinstance(spec, Arch):
        return spec
    spec = str(spec).strip()
    _register_shipped()
    if spec in PRESETS:
        return PRESETS[spec].arch
    if spec.endswith(".json") or os.path.isfile(spec):
        if not os.path.isfile(spec):
            raise ValueError(f"architecture file {spec!r} not found")
        d = io_utils.read_json(spec)
        if isinstance(d, dict) and d.get("format") == SHIPPED_PRESET_FORMAT:
            return _preset_of(d, spec).arch
        return Arch.from_dict(d, source=spec)
    if "/" in spec and spec.split("/")[0] and not os.path.exists(spec):
        return parse_arch(spec)
    raise ValueError(
        f"unknown architecture {spec!r}: not a preset ({', '.join(list_presets())}), "
        "a JSON file or an architecture string"
    )


def preset_name_of(arch):
    """The preset name whose arch equals `arch`, or None."""
    _register_shipped()
    for name, p in PRESETS.items():
        if p.arch == arch:
            return name
    return None


def read_preset_file(path) -> Preset:
    """The Preset of a shipped preset file; a file of another format, a missing field or
    an architecture outside its space is a ValueError naming the file."""
    return _preset_of(io_utils.read_json(path), path)


def _preset_of(d, path) -> Preset:
    """The Preset of the JSON `d` of the shipped preset file `path`."""
    if not isinstance(d, dict) or d.get("format") != SHIPPED_PRESET_FORMAT:
        raise ValueError(f"{path}: not a shipped preset (expected \"format\": \"{SHIPPED_PRESET_FORMAT}\")")
    for field in ("name", "arch"):
        if not d.get(field):
            raise ValueError(f"{path}: missing field '{field}'")
    try:
        arch = parse_arch(d["arch"])
        get_space(arch.space).validate(arch)
    except ValueError as e:
        raise ValueError(f"{path}: field 'arch': {e}") from None
    return Preset(d["name"], arch, True, d.get("description", ""))


def register_preset_folder(folder) -> List[str]:
    """Registers every FOLDER/*.json shipped preset file as a preset; their names."""
    names = []
    for path in sorted(glob.glob(os.path.join(os.fspath(folder), "*.json"))):
        names.append(register_preset(read_preset_file(path)).name)
    return names


@functools.lru_cache(maxsize=None)
def _register_shipped():
    """Registers the package's shipped presets once, on first use (their architectures are
    validated against spaces, which register after this module is imported)."""
    register_preset_folder(SHIPPED_DIR)
