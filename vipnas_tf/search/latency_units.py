"""The units of a deployed static network, as keys of the latency table.

A network is cut into units at block boundaries: the stem (conv + BN + activation;
ResNet: + max-pool), each backbone block (MobileNetV3: expand 1x1 -> k x k grouped
conv -> SE -> project 1x1 [+ residual]; ResNet: the bottleneck 1x1 -> k x k grouped
-> 1x1 [+ GC] + shortcut [projection on a stage's first block] + ReLU), each head deconv (sub-pixel deconv + BN + ReLU) and the final 1x1
conv. Every unit is timed as a tiny TFLite model of its own, lowered and converted
exactly as the whole network is (`vipnas_tf.export.lowering.deployed.convert`).

A unit's key is a string that holds everything its speed depends on: kind, input
shape and the layer choices, e.g.

    stem/in128x96x3/c16_k3_s2_hswish
    block/in32x24x24/c24_m96_k7_g24_s1_relu_se        (residual: s1 and in == out)
    stem/in256x192x3/c64_k7_s2_relu_pool              (ResNet)
    bottleneck/in64x48x64/c128_m128_k3_g1_s2_gc_proj  (ResNet)
    deconv/in4x3x160/c160_g160_k4
    final/in32x24x160/c17

For int8 there is also `io/...`: the QUANTIZE of the float input image and the
DEQUANTIZE of the heatmaps of the deployed (float I/O) model, which units timed with
integer I/O do not include.

The unit models are built from the same blocks as `vipnas_tf.models.static_builders`
(`vipnas_tf.models.static_blocks`), so they have the same layers (types, names,
shapes); a test checks that the units of an arch add up to `build_static(arch)` layer
for layer.
"""
import dataclasses
import functools
import re
from typing import Dict, Iterator, List, Tuple

import keras

from vipnas_tf.arch import cost as cost_lib
from vipnas_tf.arch import hrnet_space
from vipnas_tf.arch.arch import Arch, StageArch, parse_arch
from vipnas_tf.arch.space import SearchSpace, get_space
from vipnas_tf.models import static_blocks as blocks
from vipnas_tf.models.static_builders import build_static


@dataclasses.dataclass(frozen=True)
class Unit:
    """One unit of a network.

    Attributes:
      kind: "stem", "block", "deconv", "final" or "io".
      in_shape: (H, W, C) of the unit's input.
      params: the choices (sorted (name, value) pairs), see `unit_key`.
      name: where it sits in the network (e.g. "stage3_block2"), informative only.
      cut: for units cut out of a whole static network (ResNet, HRNet):
        (arch string, H, W, inputs, outputs), inputs ((layer name, "input" |
        "output"), ...) the tensors the unit starts from, outputs the layer names
        whose outputs it returns; () for units built from `static_blocks` directly.
        Not part of the key.
    """

    kind: str
    in_shape: Tuple[int, int, int]
    params: Tuple[Tuple[str, object], ...]
    name: str = ""
    cut: Tuple = dataclasses.field(default=(), compare=False)

    @property
    def key(self) -> str:
        return unit_key(self.kind, self.in_shape, dict(self.params))

    def get(self, field):
        return dict(self.params)[field]


def unit_key(kind: str, in_shape, p: Dict) -> str:
    h, w, c = in_shape
    head = f"{kind}/in{h}x{w}x{c}/"
    if kind == "stem":
        return head + f"c{p['out']}_k{p['kernel']}_s{p['stride']}_{p['act']}" + ("_pool" if p.get("pool") else "")
    if kind == "bottleneck":
        tail = f"c{p['out']}_m{p['mid']}_k{p['kernel']}_g{p['groups']}_s{p['stride']}"
        return head + tail + ("_gc" if p.get("gc") else "") + ("_se" if p.get("se") else "") + \
            ("_proj" if p["proj"] else "")
    if kind == "hrstem":
        return head + f"c{p['out']}_k{p['kernel']}"
    if kind == "transition":
        return head + f"c{p['out']}_s{p['stride']}"
    if kind == "basic":
        return head + f"c{p['out']}_k{p['kernel']}_g{p['groups']}" + ("_se" if p["se"] else "")
    if kind == "fusion":
        return head + "w" + "-".join(str(c) for c in p["widths"]) + f"_o{p['outputs']}"
    if kind == "block":
        tail = f"c{p['out']}_m{p['mid']}_k{p['kernel']}_g{p['groups']}_s{p['stride']}_{p['act']}"
        return head + tail + ("_se" if p["se"] else "")
    if kind == "deconv":
        return head + f"c{p['out']}_g{p['groups']}_k{p['kernel']}"
    if kind == "final":
        return head + f"c{p['out']}"
    if kind == "io":
        oh, ow, oc = p["out_shape"]
        return head + f"out{oh}x{ow}x{oc}"
    raise ValueError(f"unknown unit kind {kind!r}")


_KEY_RE = re.compile(r"^(?P<kind>\w+)/in(?P<h>\d+)x(?P<w>\d+)x(?P<c>\d+)/(?P<rest>.+)$")


def parse_unit_key(key: str) -> Unit:
    """Inverse of `unit_key` (used for lazy measurement of a key read from a table)."""
    m = _KEY_RE.match(key)
    if not m:
        raise ValueError(f"bad latency-table key {key!r}")
    kind, rest = m["kind"], m["rest"]
    shape = (int(m["h"]), int(m["w"]), int(m["c"]))
    try:
        if kind == "stem":
            c, k, s, act = re.match(r"^c(\d+)_k(\d+)_s(\d+)_(\w+)$", rest).groups()
            p = dict(out=int(c), kernel=int(k), stride=int(s), act=act)
        elif kind == "block":
            mm = re.match(r"^c(\d+)_m(\d+)_k(\d+)_g(\d+)_s(\d+)_([a-z]+)(_se)?$", rest)
            c, mid, k, g, s, act, se = mm.groups()
            p = dict(out=int(c), mid=int(mid), kernel=int(k), groups=int(g), stride=int(s), act=act, se=bool(se))
        elif kind == "deconv":
            c, g, k = re.match(r"^c(\d+)_g(\d+)_k(\d+)$", rest).groups()
            p = dict(out=int(c), groups=int(g), kernel=int(k))
        elif kind == "final":
            p = dict(out=int(re.match(r"^c(\d+)$", rest).group(1)))
        elif kind == "io":
            oh, ow, oc = re.match(r"^out(\d+)x(\d+)x(\d+)$", rest).groups()
            p = dict(out_shape=(int(oh), int(ow), int(oc)))
        else:
            raise ValueError(kind)
    except (AttributeError, ValueError):
        raise ValueError(f"bad latency-table key {key!r}") from None
    unit = Unit(kind, shape, tuple(sorted(p.items())))
    if unit.key != key:
        raise ValueError(f"bad latency-table key {key!r} (normalises to {unit.key!r})")
    return unit


def _unit(kind, in_shape, name="", cut=(), **params) -> Unit:
    return Unit(kind, tuple(int(v) for v in in_shape), tuple(sorted(params.items())), name, tuple(cut))


FAMILIES = ("mobilenetv3", "resnet", "hrnet")
# Families whose every unit `space_units` enumerates; the others' tables hold the units
# of the architectures they were built for and grow lazily.
ENUMERATED_FAMILIES = ("mobilenetv3", "resnet")


def _check_family(space: SearchSpace):
    if space.family not in FAMILIES:
        raise NotImplementedError(
            f"the latency table supports the {', '.join(FAMILIES)} families, not {space.family!r} "
            f"(space {space.name!r})")


def arch_units(arch: Arch, input_size, quantization: str = "float32") -> List[Unit]:
    """The units of `arch` at `input_size`, in network order."""
    space = get_space(arch.space)
    _check_family(space)
    h, w = cost_lib.check_input_size(input_size)
    units = []
    if quantization == "int8":
        units.append(_unit("io", (h, w, 3), "io", out_shape=(h // 4, w // 4, space.num_keypoints)))
    if space.family == "resnet":
        return units + _resnet_units(arch, space, (h, w))
    if space.family == "hrnet":
        return units + _hrnet_units(arch, space, (h, w))
    units.append(_unit("stem", (h, w, 3), "stem", out=arch.stem.width, kernel=arch.stem.kernel, stride=2,
                       act="hswish"))
    h, w = cost_lib.conv_out(h, 2), cost_lib.conv_out(w, 2)
    in_ch = arch.stem.width
    for i, (s, sp) in enumerate(zip(arch.stages, space.stages)):
        for j in range(s.depth):
            mid = s.mid_channels[j] if s.mid_channels else s.width * s.expansion
            groups = mid if s.groups == 0 else s.groups
            stride = sp.stride if j == 0 else 1
            units.append(_unit("block", (h, w, in_ch), f"stage{i + 1}_block{j + 1}", out=s.width, mid=mid,
                               kernel=s.kernel, groups=groups, stride=stride, act=sp.activation,
                               se=bool(s.attention)))
            h, w = cost_lib.conv_out(h, stride), cost_lib.conv_out(w, stride)
            in_ch = s.width
    return units + _head_units(arch, space, (h, w), in_ch)


def _head_units(arch, space, hw, in_ch):
    h, w = hw
    units = []
    head = arch.head
    for n in range(head.num_layers):
        groups = head.width if head.groups == 0 else head.groups
        units.append(_unit("deconv", (h, w, in_ch), f"head_deconv{n + 1}", out=head.width, groups=groups,
                           kernel=head.kernel))
        h, w, in_ch = 2 * h, 2 * w, head.width
    units.append(_unit("final", (h, w, in_ch), "head_final_conv", out=space.num_keypoints))
    return units


# ---- ResNet family --------------------------------------------------------------------


def _resnet_units(arch, space, input_size):
    """Stem (conv + BN + ReLU + max-pool), every bottleneck, head: cut out of
    `build_static(arch)` by layer name (`Unit.cut`), so each unit has exactly the
    layers of the whole network."""
    h0, w0 = input_size
    src = arch.to_string()
    units = [_unit("stem", (h0, w0, 3), "stem", cut=_cut(src, h0, w0, "stem_conv", "stem_pool"), out=arch.stem.width,
                   kernel=arch.stem.kernel, stride=2, act="relu", pool=True)]
    h, w = cost_lib.conv_out(cost_lib.conv_out(h0, 2), 2), cost_lib.conv_out(cost_lib.conv_out(w0, 2), 2)
    in_ch = arch.stem.width
    for i, (s, sp) in enumerate(zip(arch.stages, space.stages)):
        for j in range(s.depth):
            name = f"stage{i + 1}_block{j + 1}"
            mid = s.width // s.expansion
            stride = sp.stride if j == 0 else 1
            units.append(_unit("bottleneck", (h, w, in_ch), name, cut=_cut(src, h0, w0, f"{name}_conv1", f"{name}_out"),
                               out=s.width, mid=mid, kernel=s.kernel, groups=mid if s.groups == 0 else s.groups,
                               stride=stride, gc=bool(s.attention), proj=j == 0))
            h, w = cost_lib.conv_out(h, stride), cost_lib.conv_out(w, stride)
            in_ch = s.width
    return units + _head_units(arch, space, (h, w), in_ch)


def _cut(src, h, w, first, last):
    """`Unit.cut` of the layers from `first` (its input) to `last` (its output)."""
    return (src, h, w, ((first, "input"),), (last,))


# ---- HRNet family ----------------------------------------------------------------------


def _hrnet_units(arch, space, input_size):
    """Stem (two 3x3/2 convs), stage-1 bottlenecks, transitions, every BasicBlock of
    every branch, every fusion (inputs: the module's branches; outputs: its fused
    branches) and the final conv, cut out of `build_static(arch)` (`Unit.cut`)."""
    h0, w0 = input_size
    src = arch.to_string()
    units = [_unit("hrstem", (h0, w0, 3), "stem", cut=_cut(src, h0, w0, "stem_conv1", "stem_relu2"),
                   out=arch.stem.width, kernel=arch.stem.kernel)]
    h, w = h0 // 4, w0 // 4
    s1 = arch.stages[0]
    in_ch = arch.stem.width
    for j in range(s1.depth):
        name = f"stage1_block{j + 1}"
        mid = s1.width // s1.expansion
        units.append(_unit("bottleneck", (h, w, in_ch), name, cut=_cut(src, h0, w0, f"{name}_conv1", f"{name}_out"),
                           out=s1.width, mid=mid, kernel=s1.kernel, groups=mid if s1.groups == 0 else s1.groups,
                           stride=1, se=bool(s1.attention), proj=j == 0))
        in_ch = s1.width
    shapes = [(h, w, in_ch)]  # (H, W, C) of each branch
    for stage in (2, 3, 4):
        entries = [arch.stages[i] for i in hrnet_space.stage_entries(stage)]
        new_shapes = []
        for b, s in enumerate(entries):
            if b < len(shapes) and shapes[b][2] == s.width:
                new_shapes.append(shapes[b])
                continue
            new = b >= len(shapes)
            source = shapes[-1] if new else shapes[b]
            name = f"transition{stage}_branch{b + 1}"
            units.append(_unit("transition", source, name, cut=_cut(src, h0, w0, f"{name}_conv", f"{name}_relu"),
                               out=s.width, stride=2 if new else 1))
            sh, sw = (cost_lib.conv_out(source[0], 2), cost_lib.conv_out(source[1], 2)) if new else source[:2]
            new_shapes.append((sh, sw, s.width))
        shapes = new_shapes
        depth = entries[0].depth
        modules = hrnet_space.num_modules(depth)
        for m in range(modules):
            blocks_of_module = range(hrnet_space.BLOCKS_PER_MODULE * m,
                                     min(hrnet_space.BLOCKS_PER_MODULE * (m + 1), depth))
            for j in blocks_of_module:
                for b, s in enumerate(entries):
                    name = f"stage{stage}_branch{b + 1}_block{j + 1}"
                    units.append(_unit("basic", shapes[b], name, cut=_cut(src, h0, w0, f"{name}_conv1", f"{name}_out"),
                                       out=s.width, kernel=s.kernel, groups=s.width if s.groups == 0 else s.groups,
                                       se=bool(s.attention)))
            last = stage == 4 and m == modules - 1
            outputs = [0] if last else list(range(len(entries)))
            prefix = f"stage{stage}_module{m + 1}_fuse"
            j = blocks_of_module[-1]
            cut = (src, h0, w0, tuple((f"stage{stage}_branch{b + 1}_block{j + 1}_out", "output")
                                      for b in range(len(entries))),
                   tuple(f"{prefix}_b{i + 1}_relu" for i in outputs))
            units.append(_unit("fusion", shapes[0], prefix, cut=cut, widths=tuple(sh[2] for sh in shapes),
                               outputs=len(outputs)))
    h, w, c = shapes[0]
    units.append(_unit("final", (h, w, c), "head_final_conv", out=space.num_keypoints))
    return units


def space_units(space: SearchSpace, input_size, quantization: str = "float32") -> Iterator[Unit]:
    """Every distinct unit the space can produce at `input_size` (stage-wise choices);
    NotImplementedError for a family outside ENUMERATED_FAMILIES."""
    _check_family(space)
    if space.family not in ENUMERATED_FAMILIES:
        raise NotImplementedError(f"the units of a {space.family!r} space (space {space.name!r}) are not enumerated: "
                                  "build its table from the units of given architectures")
    seen = set()

    def emit(u):
        if u.key not in seen:
            seen.add(u.key)
            return [u]
        return []

    h0, w0 = cost_lib.check_input_size(input_size)
    out = []
    # Build representative archs stage by stage: a unit depends only on its stage's
    # choices and the input channels (the previous stage's width).
    for width in space.stem_width:
        for kernel in space.stem_kernel:
            arch = _arch_with(space, stem=StageArch(width=width, kernel=kernel))
            for u in arch_units(arch, (h0, w0), quantization):
                if u.kind in ("io", "stem"):
                    out += emit(u)
    prev_widths = sorted(set(space.stem_width))
    for i, sp in enumerate(space.stages):
        for in_ch in prev_widths:
            for width in sp.width:
                for exp in sp.expansion:
                    for kernel in sp.kernel:
                        for att in sp.attention:
                            probe = StageArch(depth=max(sp.depth), width=width, expansion=exp, kernel=kernel,
                                              groups=1, attention=att)
                            for g in space.group_choices(i, probe, in_ch):
                                stage = dataclasses.replace(probe, groups=g)
                                out += [u for u in _stage_units(space, i, stage, in_ch, (h0, w0), quantization)
                                        if u.key not in seen and not seen.add(u.key)]
        prev_widths = sorted(set(sp.width))
    for width in space.head.width:
        for in_ch in prev_widths:
            for g in space.head_group_choices(width, in_ch):
                arch = _arch_with(space, last_width=in_ch, head=(width, g))
                for u in arch_units(arch, (h0, w0), quantization):
                    if u.kind in ("deconv", "final"):
                        out += emit(u)
    return out


def _arch_with(space, stem=None, last_width=None, head=None) -> Arch:
    """The space's max arch with some parts replaced (for enumerating units)."""
    base = space.max()
    stages = list(base.stages)
    if last_width is not None:
        stages[-1] = dataclasses.replace(stages[-1], width=last_width)
    new = dataclasses.replace(base, stem=stem or base.stem, stages=tuple(stages))
    if head is not None:
        new = dataclasses.replace(new, head=dataclasses.replace(base.head, width=head[0], groups=head[1]))
    return new


def _stage_units(space, index, stage: StageArch, in_ch, input_size, quantization):
    """Units of stage `index` (first and repeated block) for the given choices."""
    base = space.max()
    stages = list(base.stages)
    stages[index] = stage
    if index > 0:
        stages[index - 1] = dataclasses.replace(stages[index - 1], width=in_ch)
        stem = base.stem
    else:
        stem = dataclasses.replace(base.stem, width=in_ch)
    arch = dataclasses.replace(base, stem=stem, stages=tuple(stages))
    prefix = f"stage{index + 1}_"
    return [u for u in arch_units(arch, input_size, quantization) if u.name.startswith(prefix)]


# ---- unit models ----------------------------------------------------------------------


def unit_model(unit: Unit) -> keras.Model:
    """A static Keras model of one unit (random init, same layers as build_static)."""
    if unit.cut:
        return _cut_model(unit)
    p = dict(unit.params)
    x_in = keras.Input(unit.in_shape, name="x")
    x = x_in
    if unit.kind == "stem":
        x = blocks.stem(x, p["out"], p["kernel"], p["act"], strides=p["stride"])
    elif unit.kind == "block":
        x = blocks.inverted_residual(x, unit.name or "block", p["out"], p["mid"], p["kernel"], p["groups"],
                                     p["stride"], p["act"], p["se"])
    elif unit.kind == "deconv":
        name = unit.name or "head_deconv1"
        n = name[len("head_deconv"):] if name.startswith("head_deconv") else "1"
        x = blocks.head_deconv(x, p["out"], p["groups"], n)
    elif unit.kind == "final":
        x = blocks.final_conv(x, p["out"])
    elif unit.kind == "io":
        # Image in, heatmap-shaped out, next to no compute: with float I/O an int8
        # model adds QUANTIZE / DEQUANTIZE of exactly these tensors.
        oh, ow, oc = p["out_shape"]
        stride = unit.in_shape[0] // oh
        x = keras.layers.Conv2D(oc, 1, strides=stride, name="io_conv")(x)
    else:
        raise ValueError(f"unknown unit kind {unit.kind!r}")
    return keras.Model(x_in, x, name=f"unit_{unit.kind}")


@functools.lru_cache(maxsize=2)
def _static_network(src, h, w):
    """The whole static network units are cut from (consecutive units share it)."""
    return build_static(parse_arch(src), (h, w))


def _cut_model(unit: Unit) -> keras.Model:
    """The layers `unit.cut` names, cut out of the whole static network."""
    src, h, w, inputs, outputs = unit.cut
    model = _static_network(src, h, w)
    ins = [getattr(model.get_layer(name), which) for name, which in inputs]
    outs = [model.get_layer(name).output for name in outputs]
    sub = keras.Model(ins if len(ins) > 1 else ins[0], outs if len(outs) > 1 else outs[0], name=f"unit_{unit.kind}")
    if tuple(int(d) for d in sub.inputs[0].shape[1:]) != tuple(unit.in_shape):
        raise ValueError(f"latency unit {unit.key}: the cut {inputs}..{outputs} of {src} takes "
                         f"{sub.inputs[0].shape[1:]} inputs")
    return sub


def overhead_model(quantization: str = "float32") -> keras.Model:
    """The near-empty model: one 1x1 conv of 8 channels on a 1x1 input.

    Its time is the fixed cost of one `invoke()` (interpreter, delegate dispatch,
    Python call); every unit's time includes it once, a whole network also once.
    """
    del quantization
    x_in = keras.Input((1, 1, 8), name="x")
    return keras.Model(x_in, keras.layers.Conv2D(8, 1, name="overhead_conv")(x_in), name="overhead")
