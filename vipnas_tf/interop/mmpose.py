# Over 450 lines for one idea: every mmpose key of the three architectures is mapped here, with the checks that name the key that fails.
"""Import mmpose top-down heatmap checkpoints (.pth) as vipnas-tf model directories.

The only trained ViPNAS weights are mmpose's public COCO checkpoints (256x192):
S-ViPNAS-MobileNetV3 (`ViPNAS_MobileNetV3` + `ViPNASHead`), S-ViPNAS-Res50
(`ViPNAS_ResNet` + `ViPNASHead`) and SimpleBaseline-Res50 (`ResNet(depth=50)` +
`HeatmapHead`). `import_checkpoint` reads one, checks every tensor against the
architecture, fills the static Keras model (`vipnas_tf.models.build_static`) and writes
a model directory of mode "static" that `tflite/convert.py --model_dir` and
`scripts/export_savedmodel.py --model_dir` take.

What mmpose computes, and how the static model computes the same:
- Padding: every PyTorch conv pads `k // 2` on each side and the ResNet max-pool pads
  1; TF 'same' pads one less before than after at stride 2. The imported
  architecture has `padding="symmetric"` (recorded in its string as `pad_symmetric`),
  which the static builders implement with ZeroPadding2D + 'valid' convs at stride 2.
  Sizes and cost are unchanged.
- Layouts: conv weights OIHW (grouped `[O, I/G, kh, kw]`) -> Keras `[kh, kw, I/G, O]`
  (depthwise `[kh, kw, C, 1]`); `ConvTranspose2d(k=4, s=2, p=1, groups=G)` weights
  `[I, O/G, 4, 4]` -> the four 2x2 sub-pixel phase convs of
  `static_ops.subpixel_deconv` (phase a uses kernel rows `phase_taps(a)`).
- BatchNorm: PyTorch's eps 1e-5, as the static models; `num_batches_tracked` is not
  needed. GC blocks (mmcv `ContextBlock`, ratio max(1/16, 16/C), LayerNorm over the
  bottleneck channels) and the SE squeeze width int(C / 4) match the static ops.
- SE gate: mmpose's ViPNAS-MobileNetV3 uses mmcv `HSigmoid(bias=1, divisor=2)`,
  clip((z + 1) / 2, 0, 1), while the static SE uses Keras' hard_sigmoid,
  clip((z + 3) / 6, 0, 1). Since clip((z + 1) / 2) = hard_sigmoid(3 z) exactly, the
  importer multiplies the SE expand conv's kernel and bias by 3: the same function,
  the same layers, cost and export path.
- HSwish, ReLU, the inverted-residual shortcut (stride 1 and equal channels), the
  bottleneck's projection shortcut (first block of each stage), the 1x1 heatmap conv
  with bias: the same definitions.
- Input: RGB crops normalised with mean (123.675, 116.28, 103.53) and std
  (58.395, 57.12, 57.375) on 0-255, as the project's pipeline and SavedModel do.

Reading .pth files needs PyTorch (`pip install "vipnas-tf[torch]"`); nothing else in
the project imports it. Files are read with `torch.load(weights_only=True)`: tensors
and plain containers only, never arbitrary pickled code.
"""
import dataclasses
import hashlib
import os
import shutil
import tempfile
from typing import Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf

from vipnas_tf.arch.arch import Arch
from vipnas_tf.arch.mobilenetv3_space import se_channels
from vipnas_tf.arch.presets import get_preset
from vipnas_tf.arch.resnet50_space import gc_channels
from vipnas_tf.arch.space import get_space
from vipnas_tf.data.transforms import IMAGENET_MEAN_RGB, IMAGENET_STD_RGB
from vipnas_tf.layers.elastic_deconv2d import PHASES, phase_taps
from vipnas_tf.models import build_static
from vipnas_tf.training.model_dir import CKPT_SUBDIR, RUN_CONFIG, model_checkpoint
from vipnas_tf.utils import io as io_utils

# The networks mmpose publishes checkpoints of, by preset name (mmpose's COCO val AP
# of its checkpoint, as published by mmpose; not measured here).
MMPOSE_MODELS = {
    "s_vipnas_mbv3": ("ViPNAS_MobileNetV3 + ViPNASHead", 0.700),
    "s_vipnas_res50": ("ViPNAS_ResNet + ViPNASHead", 0.711),
    "sbl_res50": ("ResNet(depth=50) + HeatmapHead (SimpleBaseline)", 0.718),
}
INPUT_SIZE = (256, 192)
# mmcv HSigmoid(bias=1, divisor=2)(z) = clip((z + 1) / 2, 0, 1) = hard_sigmoid(3 z).
SE_GATE_SCALE = 3.0
TORCH_MISSING = ("reading mmpose .pth checkpoints needs PyTorch, which is not installed: "
                 "pip install \"vipnas-tf[torch]\" (a CPU build is enough, e.g. "
                 "pip install torch --index-url https://download.pytorch.org/whl/cpu)")


class MmposeImportError(ValueError):
    """A checkpoint that cannot be imported (names the file and the tensor)."""


def mmpose_arch(name: str) -> Arch:
    """The architecture of mmpose's network `name` (a preset with PyTorch padding)."""
    if name not in MMPOSE_MODELS:
        raise ValueError(f"no mmpose network {name!r} (known: {', '.join(MMPOSE_MODELS)})")
    return dataclasses.replace(get_preset(name).arch, padding="symmetric")


# ------------------------------------------------------------------------------
# The tensors an architecture expects, in mmpose's key names.


@dataclasses.dataclass(frozen=True)
class _Param:
    """One Keras layer's weights and the mmpose tensors that give them.

    kind: "conv" (Conv2D / DepthwiseConv2D, optional bias), "bn", "ln" (LayerNorm
    [P, 1, 1] in PyTorch) or "deconv" (ConvTranspose2d -> 4 phase convs `layer__pAB`).
    """

    kind: str
    layer: str
    prefix: str
    out_ch: int = 0
    in_ch: int = 0
    kernel: int = 1
    groups: int = 1
    bias: bool = False
    scale: float = 1.0

    def tensors(self) -> Dict[str, Tuple[int, ...]]:
        p = self.prefix
        if self.kind == "conv":
            shapes = {f"{p}.weight": (self.out_ch, self.in_ch // self.groups, self.kernel, self.kernel)}
            if self.bias:
                shapes[f"{p}.bias"] = (self.out_ch,)
            return shapes
        if self.kind == "bn":
            return {f"{p}.{n}": (self.out_ch,) for n in ("weight", "bias", "running_mean", "running_var")}
        if self.kind == "ln":
            return {f"{p}.{n}": (self.out_ch, 1, 1) for n in ("weight", "bias")}
        if self.kind == "deconv":
            return {f"{p}.weight": (self.in_ch, self.out_ch // self.groups, 4, 4)}
        raise AssertionError(self.kind)

    def keras_weights(self, state) -> Dict[str, List[np.ndarray]]:
        """{Keras layer name: weights in `layer.get_weights()` order}."""
        p = self.prefix
        if self.kind == "conv":
            w = state[f"{p}.weight"] * np.float32(self.scale)
            depthwise = self.groups > 1 and self.groups == self.in_ch == self.out_ch
            kernel = w.transpose(2, 3, 0, 1) if depthwise else w.transpose(2, 3, 1, 0)
            weights = [kernel]
            if self.bias:
                weights.append(state[f"{p}.bias"] * np.float32(self.scale))
            return {self.layer: weights}
        if self.kind == "bn":
            return {self.layer: [state[f"{p}.{n}"] for n in ("weight", "bias", "running_mean", "running_var")]}
        if self.kind == "ln":
            return {self.layer: [state[f"{p}.{n}"].reshape(-1) for n in ("weight", "bias")]}
        # ConvTranspose2d(k=4, s=2, p=1): output phase (a, b) is a 2x2 conv over input
        # rows (m - 1 + a, m + a) with kernel rows phase_taps(a) (see elastic_deconv2d).
        w = state[f"{p}.weight"]  # [I, O/G, 4, 4]
        g, in_pg, out_pg = self.groups, self.in_ch // self.groups, self.out_ch // self.groups
        depthwise = g > 1 and g == self.in_ch == self.out_ch
        out = {}
        for a, b in PHASES:
            ta, tb = list(phase_taps(a)), list(phase_taps(b))
            taps = w[:, :, ta][:, :, :, tb]  # [I, O/G, 2, 2]
            if depthwise:
                kernel = taps.transpose(2, 3, 0, 1)  # [2, 2, C, 1]
            else:
                # Keras grouped kernel [2, 2, I/G, O], output o = group * O/G + local.
                kernel = (taps.reshape(g, in_pg, out_pg, 2, 2)
                          .transpose(3, 4, 1, 0, 2).reshape(2, 2, in_pg, g * out_pg))
            out[f"{self.layer}__p{a}{b}"] = [np.ascontiguousarray(kernel)]
        return out


def _conv_bn(params, layer, bn_layer, prefix, bn_prefix, out_ch, in_ch, kernel, groups=1):
    params.append(_Param("conv", layer, prefix, out_ch, in_ch, kernel, groups))
    params.append(_Param("bn", bn_layer, bn_prefix, out_ch))


def _mobilenetv3_params(arch: Arch) -> List[_Param]:
    """mmpose ViPNAS_MobileNetV3: conv1 (ConvModule), layer1..layerN (InvertedResidual)."""
    params: List[_Param] = []
    _conv_bn(params, "stem_conv", "stem_bn", "backbone.conv1.conv", "backbone.conv1.bn",
             arch.stem.width, 3, arch.stem.kernel)
    in_ch, index = arch.stem.width, 0
    for i, s in enumerate(arch.stages):
        for j in range(s.depth):
            index += 1
            name, t = f"stage{i + 1}_block{j + 1}", f"backbone.layer{index}"
            mid = s.mid_channels[j] if s.mid_channels else s.width * s.expansion
            groups = mid if s.groups == 0 else s.groups
            if mid != in_ch:
                _conv_bn(params, f"{name}_expand_conv", f"{name}_expand_bn", f"{t}.expand_conv.conv",
                         f"{t}.expand_conv.bn", mid, in_ch, 1)
            _conv_bn(params, f"{name}_mid_conv", f"{name}_mid_bn", f"{t}.depthwise_conv.conv",
                     f"{t}.depthwise_conv.bn", mid, mid, s.kernel, groups)
            if s.attention:
                sq = se_channels(mid)
                params.append(_Param("conv", f"{name}_se__reduce", f"{t}.se.conv1.conv", sq, mid, 1, bias=True))
                params.append(_Param("conv", f"{name}_se__expand", f"{t}.se.conv2.conv", mid, sq, 1, bias=True,
                                     scale=SE_GATE_SCALE))
            _conv_bn(params, f"{name}_project_conv", f"{name}_project_bn", f"{t}.linear_conv.conv",
                     f"{t}.linear_conv.bn", s.width, mid, 1)
            in_ch = s.width
    return params + _head_params(arch, in_ch)


def _resnet_params(arch: Arch) -> List[_Param]:
    """mmpose ResNet / ViPNAS_ResNet: conv1 + bn1, layer{i}.{j} bottlenecks."""
    params: List[_Param] = []
    _conv_bn(params, "stem_conv", "stem_bn", "backbone.conv1", "backbone.bn1", arch.stem.width, 3,
             arch.stem.kernel)
    in_ch = arch.stem.width
    for i, s in enumerate(arch.stages):
        for j in range(s.depth):
            name, t = f"stage{i + 1}_block{j + 1}", f"backbone.layer{i + 1}.{j}"
            mid = s.width // s.expansion
            groups = mid if s.groups == 0 else s.groups
            _conv_bn(params, f"{name}_conv1", f"{name}_bn1", f"{t}.conv1", f"{t}.bn1", mid, in_ch, 1)
            _conv_bn(params, f"{name}_conv2", f"{name}_bn2", f"{t}.conv2", f"{t}.bn2", mid, mid, s.kernel, groups)
            _conv_bn(params, f"{name}_conv3", f"{name}_bn3", f"{t}.conv3", f"{t}.bn3", s.width, mid, 1)
            if s.attention:
                p, a = gc_channels(s.width), f"{t}.attention"
                params.append(_Param("conv", f"{name}_gc__mask", f"{a}.conv_mask", 1, s.width, 1, bias=True))
                params.append(_Param("conv", f"{name}_gc__add1", f"{a}.channel_add_conv.0", p, s.width, 1, bias=True))
                params.append(_Param("ln", f"{name}_gc__ln", f"{a}.channel_add_conv.1", p))
                params.append(_Param("conv", f"{name}_gc__add2", f"{a}.channel_add_conv.3", s.width, p, 1, bias=True))
            if j == 0:
                _conv_bn(params, f"{name}_downsample", f"{name}_downsample_bn", f"{t}.downsample.0",
                         f"{t}.downsample.1", s.width, in_ch, 1)
            in_ch = s.width
    return params + _head_params(arch, in_ch)


def _head_params(arch: Arch, in_ch: int) -> List[_Param]:
    """mmpose HeatmapHead / ViPNASHead: deconv_layers = [deconv, BN, ReLU] x N, final_layer."""
    h, params = arch.head, []
    if h.kernel != 4:
        raise ValueError(f"{arch.to_string()}: only kernel-4 deconvolutions are imported")
    for n in range(h.num_layers):
        groups = h.width if h.groups == 0 else h.groups
        params.append(_Param("deconv", f"head_deconv{n + 1}", f"head.deconv_layers.{3 * n}", h.width, in_ch,
                             4, groups))
        params.append(_Param("bn", f"head_bn{n + 1}", f"head.deconv_layers.{3 * n + 1}", h.width))
        in_ch = h.width
    k = get_space(arch.space).num_keypoints
    params.append(_Param("conv", "head_final_conv", "head.final_layer", k, in_ch, 1, bias=True))
    return params


def expected_params(arch: Arch) -> List[_Param]:
    """The mmpose tensors of `arch` (canonical 1.x key names), in network order."""
    family = get_space(arch.space).family
    if family == "mobilenetv3":
        return _mobilenetv3_params(arch)
    if family == "resnet":
        return _resnet_params(arch)
    raise ValueError(f"{arch.space}: no mmpose key mapping for family {family!r}")


def expected_shapes(arch: Arch) -> Dict[str, Tuple[int, ...]]:
    shapes = {}
    for p in expected_params(arch):
        shapes.update(p.tensors())
    return shapes


# ------------------------------------------------------------------------------
# Reading checkpoints.


@dataclasses.dataclass
class Checkpoint:
    """A checkpoint's tensors under canonical (mmpose 1.x) keys.

    Attributes:
      path: the file.
      tensors: canonical key -> float32 numpy array (`num_batches_tracked` dropped).
      original_keys: canonical key -> the key as stored in the file.
      layout: "mmpose 1.x" (`head.*`) or "mmpose 0.x" (`keypoint_head.*`).
      wrapped: whether the tensors sat under a "state_dict" entry.
      sha256: hex digest of the file.
    """

    path: str
    tensors: Dict[str, np.ndarray]
    original_keys: Dict[str, str]
    layout: str
    wrapped: bool
    sha256: str


def _import_torch():
    try:
        import torch  # pylint: disable=import-outside-toplevel  (optional dependency)
    except ImportError:
        raise MmposeImportError(TORCH_MISSING) from None
    return torch


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_checkpoint(path) -> Checkpoint:
    """Reads an mmpose top-down checkpoint (1.x or 0.x keys, with or without the
    "state_dict" wrapper). Raises MmposeImportError naming the file and the key."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise MmposeImportError(f"{path}: no such checkpoint file")
    torch = _import_torch()
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pylint: disable=broad-except  (torch raises many types here)
        text = str(e).splitlines()[0] if str(e) else type(e).__name__
        if "Unsupported global" in str(e):  # a valid pickle with objects weights_only refuses
            raise MmposeImportError(
                f"{path}: the checkpoint holds Python objects besides tensors, which "
                f"torch.load(weights_only=True) refuses to unpickle. If you trust the "
                "file, re-save its tensors: python -c \"import torch; c = torch.load('IN', "
                "weights_only=False); torch.save({'state_dict': c.get('state_dict', c)}, 'OUT')\""
            ) from None
        detail = next((line.strip() for line in str(e).splitlines() if "Unsupported" in line), text)
        raise MmposeImportError(f"{path}: not a readable PyTorch checkpoint (corrupt or truncated?): "
                                f"{type(e).__name__}: {detail[:300]}") from None
    wrapped = isinstance(obj, dict) and "state_dict" in obj
    state = obj["state_dict"] if wrapped else obj
    if not isinstance(state, dict) or not state:
        raise MmposeImportError(f"{path}: expected a state_dict (a dict of tensors, or a dict with "
                                f"'state_dict'), found {type(state).__name__}")
    keys = list(state)
    if all(str(k).startswith("module.") for k in keys):  # saved from DataParallel
        state = {str(k)[len("module."):]: v for k, v in state.items()}
    old = any(str(k).startswith("keypoint_head.") for k in state)
    new = any(str(k).startswith("head.") for k in state)
    if old and new:
        raise MmposeImportError(f"{path}: holds both 'head.*' (mmpose 1.x) and 'keypoint_head.*' "
                                "(mmpose 0.x) tensors")
    tensors, original = {}, {}
    for key, value in state.items():
        key = str(key)
        if key.endswith(".num_batches_tracked"):
            continue
        if not isinstance(value, torch.Tensor):
            raise MmposeImportError(f"{path}: entry {key!r} is a {type(value).__name__}, not a tensor")
        canonical = "head." + key[len("keypoint_head."):] if key.startswith("keypoint_head.") else key
        tensors[canonical] = value.detach().to(torch.float32).cpu().numpy()
        original[canonical] = key
    return Checkpoint(path, tensors, original, "mmpose 0.x" if old else "mmpose 1.x", wrapped,
                      file_sha256(path))


def _mismatches(ckpt: Checkpoint, shapes: Dict[str, Tuple[int, ...]]):
    found = {k: tuple(v.shape) for k, v in ckpt.tensors.items()}
    missing = [k for k in shapes if k not in found]
    unexpected = [k for k in found if k not in shapes]
    wrong = [(k, shapes[k], found[k]) for k in shapes if k in found and found[k] != shapes[k]]
    return missing, unexpected, wrong


def check_checkpoint(ckpt: Checkpoint, name: str) -> None:
    """Raises MmposeImportError unless `ckpt` holds exactly the tensors of mmpose's
    network `name` (every key, every shape, nothing else)."""
    missing, unexpected, wrong = _mismatches(ckpt, expected_shapes(mmpose_arch(name)))
    if not (missing or unexpected or wrong):
        return
    for other in MMPOSE_MODELS:
        if other != name and not any(_mismatches(ckpt, expected_shapes(mmpose_arch(other)))):
            raise MmposeImportError(
                f"{ckpt.path}: this is a checkpoint of {other} ({MMPOSE_MODELS[other][0]}; all "
                f"{len(ckpt.tensors)} tensors match it), not of {name}: pass --arch={other}")

    def orig(key):
        if key in ckpt.original_keys:
            return ckpt.original_keys[key]
        return "keypoint_head." + key[len("head."):] if ckpt.layout == "mmpose 0.x" and key.startswith("head.") \
            else key

    def more(items):
        return f" (and {len(items) - 1} more)" if len(items) > 1 else ""

    problems = []
    if missing:
        problems.append(f"missing key {orig(missing[0])!r}{more(missing)}")
    if unexpected:
        problems.append(f"unexpected key {orig(unexpected[0])!r}{more(unexpected)}")
    if wrong:
        k, want, got = wrong[0]
        problems.append(f"shape mismatch for {orig(k)!r}: expected {list(want)}, found {list(got)}{more(wrong)}")
    raise MmposeImportError(f"{ckpt.path}: not a {name} checkpoint ({MMPOSE_MODELS[name][0]}, "
                            f"{ckpt.layout} layout): " + "; ".join(problems))


# ------------------------------------------------------------------------------
# Building and writing.


def build_imported_model(ckpt: Checkpoint, name: str, input_size=INPUT_SIZE):
    """The static Keras model of mmpose's network `name` with `ckpt`'s weights."""
    check_checkpoint(ckpt, name)
    arch = mmpose_arch(name)
    model = build_static(arch, input_size, name=f"mmpose_{name}")
    assigned = set()
    for param in expected_params(arch):
        for layer_name, weights in param.keras_weights(ckpt.tensors).items():
            layer = model.get_layer(layer_name)
            current = layer.get_weights()
            shapes = [tuple(w.shape) for w in current]
            if shapes != [tuple(w.shape) for w in weights]:
                raise AssertionError(f"{layer_name}: Keras weights {shapes} vs converted "
                                     f"{[tuple(w.shape) for w in weights]}")
            layer.set_weights([np.asarray(w, np.float32) for w in weights])
            assigned.add(layer_name)
    left = [l.name for l in model.layers if l.weights and l.name not in assigned]
    if left:
        raise AssertionError(f"layers without imported weights: {left}")
    return model


def _write_model_dir(model, output, run_config):
    """Writes MODEL_DIR/run_config.json and MODEL_DIR/ckpt/ atomically (a temporary
    directory beside `output`, renamed into place)."""
    output = os.path.abspath(os.fspath(output))
    parent = os.path.dirname(output)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(output)}.", suffix=".tmp", dir=parent)
    try:
        manager = tf.train.CheckpointManager(model_checkpoint(model), os.path.join(tmp, CKPT_SUBDIR), 1)
        manager.save(checkpoint_number=1)
        io_utils.write_json(os.path.join(tmp, RUN_CONFIG), run_config)
        if os.path.isdir(output):
            os.rmdir(output)  # checked empty by the caller
        os.rename(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return output


def write_static_model_dir(model, arch: Arch, output, input_size=INPUT_SIZE, source=None, preset=None,
                           keypoint_layout="coco"):
    """Writes `model` (the static model of `arch`, `build_static`) as a model directory
    of mode "static" at `output`, atomically: what `import_checkpoint` writes, and what
    every command taking `--model_dir`, `--init_from` or `--key_model_dir` reads.

    `source` (a dict) records where the weights come from.
    """
    run_config = {
        "mode": "static",
        "space": arch.space,
        "input_size": list(input_size),
        "arch": arch.to_string(),
        "preset": preset,
        "keypoint_layout": keypoint_layout,
        "num_keypoints": get_space(arch.space).num_keypoints,
        "normalization": {"channels": "RGB", "mean": list(IMAGENET_MEAN_RGB), "std": list(IMAGENET_STD_RGB)},
        "source": source or {},
    }
    return _write_model_dir(model, output, run_config)


def import_checkpoint(checkpoint, name: str, output, input_size=INPUT_SIZE) -> Dict:
    """Imports an mmpose checkpoint of network `name` into the model directory `output`.

    Args:
      checkpoint: path of the .pth file.
      name: "s_vipnas_mbv3", "s_vipnas_res50" or "sbl_res50".
      output: the model directory to create (must not exist, or be empty). Nothing is
        written when the checkpoint does not match.
      input_size: (H, W) the static model is built for (mmpose's: 256x192).

    Returns:
      A summary dict: output, arch, preset, layout, checkpoint, sha256, tensors, params.
    """
    arch = mmpose_arch(name)
    output = os.path.abspath(os.fspath(output))
    if os.path.exists(output) and (not os.path.isdir(output) or os.listdir(output)):
        raise MmposeImportError(f"{output}: already exists and is not an empty directory; "
                                "choose a new --output")
    ckpt = read_checkpoint(checkpoint)
    model = build_imported_model(ckpt, name, input_size)
    source = {
        "format": "mmpose",
        "network": MMPOSE_MODELS[name][0],
        "checkpoint": os.path.basename(ckpt.path),
        "sha256": ckpt.sha256,
        "layout": ckpt.layout,
        "state_dict_wrapper": ckpt.wrapped,
        "tensors": len(ckpt.tensors),
    }
    write_static_model_dir(model, arch, output, input_size, source, preset=name)
    return {"output": output, "arch": arch.to_string(), "preset": name, "layout": ckpt.layout,
            "checkpoint": os.path.abspath(ckpt.path), "sha256": ckpt.sha256, "tensors": len(ckpt.tensors),
            "params": int(sum(int(np.prod(w.shape)) for w in model.trainable_weights)),
            "input_size": list(input_size)}


def import_summary_line(summary: Optional[Dict]) -> str:
    """One human-readable line for a summary of `import_checkpoint`."""
    return (f"imported {summary['preset']} ({summary['layout']}, {summary['tensors']} tensors, sha256 "
            f"{summary['sha256'][:12]}...) into {summary['output']}")
