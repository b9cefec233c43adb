"""Cost model: MACs, parameters and the paper's GFLOPs, computed from layer shapes.

Each family's space lists its layers as `ConvCost` records (`space.conv_costs(arch,
input_size)`); this module adds them up. Conventions (the paper's
Tables 1-2 reproduced by hand counts of the published architectures):

- `macs`: multiply-accumulates of all conv and transposed-conv layers, transposed convs
  counted at their *input* resolution (what actually runs).
- `paper_gflops`: the same, but transposed convs counted at their *output* resolution
  (the HRNet repository's counter the paper used), divided by 2**30.
- `params`: trainable parameters (conv/deconv kernels and biases, BN and LayerNorm
  scale and offset); BN moving statistics are not parameters.
"""
import dataclasses
from typing import Iterable, Tuple


@dataclasses.dataclass(frozen=True)
class ConvCost:
    """One conv-like layer.

    Attributes:
      name: layer name (matches the static model's layer name).
      in_channels, out_channels: channels (full, not per group).
      kernel: square kernel size.
      groups: group number.
      out_hw: output spatial size (H, W).
      bias: whether the layer has a bias.
      transposed: a stride-2 transposed conv (input resolution = out_hw / 2).
      norm_params: parameters of the norm layer that follows (2*C for BN, 0 if none).
    """

    name: str
    in_channels: int
    out_channels: int
    kernel: int
    groups: int
    out_hw: Tuple[int, int]
    bias: bool = False
    transposed: bool = False
    norm_params: int = 0

    @property
    def weight_params(self) -> int:
        return self.kernel * self.kernel * (self.in_channels // self.groups) * self.out_channels

    @property
    def params(self) -> int:
        return self.weight_params + (self.out_channels if self.bias else 0) + self.norm_params

    @property
    def macs(self) -> int:
        h, w = self.out_hw
        if self.transposed:
            h, w = h // 2, w // 2
        return h * w * self.weight_params

    @property
    def paper_macs(self) -> int:
        h, w = self.out_hw
        return h * w * self.weight_params


@dataclasses.dataclass(frozen=True)
class Cost:
    macs: int
    params: int
    paper_gflops: float

    def to_dict(self):
        return {"macs": self.macs, "params": self.params, "paper_gflops": round(self.paper_gflops, 4)}


def total_cost(layers: Iterable[ConvCost], extra_params: int = 0) -> Cost:
    """Adds up a layer list; `extra_params` covers non-conv parameters (e.g. LayerNorm)."""
    layers = list(layers)
    macs = sum(l.macs for l in layers)
    params = sum(l.params for l in layers) + extra_params
    paper = sum(l.paper_macs for l in layers) / 2**30
    return Cost(macs=macs, params=params, paper_gflops=paper)


def conv_out(size: int, stride: int) -> int:
    """Output size of a 'same'-padded conv."""
    return -(-size // stride)


def check_input_size(input_size, multiple=32):
    """Validates (H, W): positive multiples of `multiple`."""
    try:
        h, w = (int(v) for v in input_size)
    except (TypeError, ValueError):
        raise ValueError(f"input_size must be (height, width), got {input_size!r}") from None
    if h <= 0 or w <= 0 or h % multiple or w % multiple:
        raise ValueError(f"input_size {h}x{w}: height and width must be positive multiples of {multiple}")
    return h, w


def parse_input_size(text):
    """'256x192' (or '256,192', or (256, 192)) -> (256, 192), height x width; ValueError
    naming the value otherwise."""
    if isinstance(text, (tuple, list)):
        return check_input_size(text)
    try:
        h, w = str(text).lower().replace(",", "x").split("x")
        return check_input_size((int(h), int(w)))
    except ValueError as e:
        if "multiples" in str(e):
            raise
        raise ValueError(f"--input_size={text!r}: expected HEIGHTxWIDTH, e.g. 256x192") from None
