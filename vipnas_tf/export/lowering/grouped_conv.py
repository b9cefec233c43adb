"""Grouped convolution as the plain Keras 3 layers that run fastest in TFLite/XNNPACK.

Weight layout (Keras Conv2D with `groups=g`; k kernel size, cg_in = C_in / g,
cg_out = C_out / g): `kernel[k, k, cg_in, C_out]`, `bias[C_out]`; output channel
o = gi * cg_out + j reads input channels gi * cg_in + l, l < cg_in. Which formulation
to pick is measured in `tflite/README.md` ("Per-layer findings"); `method="auto"` is
that choice. Results equal the plain formulation (tests: max abs diff <= 1e-5).
"""
from typing import Optional

import keras
import numpy as np

from vipnas_tf.export.lowering.depthwise import depthwise_conv2d
from vipnas_tf.export.lowering.naming import sub_name as _n
from vipnas_tf.layers.grouped_conv2d import GroupedConv2D

# --------------------------------------------------------------------------------
# Channel interleaving for the depthwise-multiplier form of a grouped conv.


def interleave_permutation(channels: int, groups: int) -> np.ndarray:
    """perm such that `x[..., perm]` is x in interleaved order.

    Interleaved position p = l * groups + gi holds natural channel gi * cg + l
    (cg = channels / groups): the l-th channel of every group, then the (l+1)-th...
    Apply it to the *producer* of a grouped conv's input (the expand 1x1 conv's
    output channels and its BN) and call `grouped_conv2d(..., input_interleaved=True)`:
    the permutation is then free at run time.
    """
    cg = channels // groups
    p = np.arange(channels)
    return (p % groups) * cg + p // groups


def interleave_channels(x, groups: int, name: Optional[str] = None):
    """Reorders channels of x [N, H, W, C] to interleaved order (run-time transpose)."""
    h, w, c = x.shape[1], x.shape[2], x.shape[3]
    y = keras.layers.Reshape((h, w, groups, c // groups), name=_n(name, "split"))(x)
    y = keras.layers.Permute((1, 2, 4, 3), name=_n(name, "perm"))(y)
    return keras.layers.Reshape((h, w, c), name=_n(name, "merge"))(y)


# --------------------------------------------------------------------------------
# Grouped convolution.

GROUPED_CONV_METHODS = ("conv", "depthwise", "dw_multiplier", "dense")


def grouped_conv_method(in_channels: int, out_channels: int, groups: int,
                        quantized: bool = False) -> str:
    """The measured fastest formulation for a grouped conv (tflite/README.md).

    - one input channel per group: "depthwise" (DepthwiseConv2D; a Conv2D with
      groups == channels stays a grouped CONV_2D in TFLite, 10-30x slower);
    - at most 16 input channels (S-ViPNAS stage 1, 16 ch in 8 groups): "dense",
      the block-diagonal full conv: 8x the MACs but one GEMM (fp32 0.63 vs
      0.75 ms, int8 0.24 vs 0.84 ms at 128x96);
    - otherwise the native grouped "conv", fastest in float32 and int8 at every
      other S-ViPNAS shape (the depthwise-multiplier form was 1.2-7x slower,
      dense 10-150x).
    """
    del out_channels, quantized  # Same choice for both precisions (measured).
    if in_channels == groups:
        return "depthwise"
    if in_channels <= 16:
        return "dense"
    return "conv"


def grouped_conv2d(x, kernel: np.ndarray, bias: Optional[np.ndarray] = None, *,
                   groups: int, strides: int = 1, padding: str = "same",
                   method: str = "auto", input_interleaved: bool = False,
                   activation: Optional[str] = None, name: Optional[str] = None):
    """A grouped 2-D convolution from standard Keras layers, weights set.

    Args:
        x: Keras tensor [N, H, W, C_in] (natural channel order unless
            `input_interleaved`).
        kernel: [k, k, C_in / groups, C_out] float32.
        bias: [C_out] or None.
        groups: g; C_in and C_out divisible by g.
        strides, padding: as Conv2D ("same" or "valid").
        method: "auto" (`grouped_conv_method`), "conv" (`GroupedConv2D`, i.e.
            Conv2D(groups=g) without Keras' XLA path),
            "depthwise" (only when C_in == g: DepthwiseConv2D(depth_multiplier=
            C_out / C_in)), "dw_multiplier" (DepthwiseConv2D with depth_multiplier
            cg_out on interleaved input, then a sum over the cg_in partial results
            done by AveragePooling2D; same MACs as the grouped conv), "dense" (a
            groups=1 Conv2D with a block-diagonal kernel: g times the MACs).
        input_interleaved: x is already in `interleave_permutation` order (only for
            "dw_multiplier"; otherwise a transpose is inserted).
        activation: None, "relu" or "relu6", fused into the conv where possible
            (fold BN into `kernel`/`bias` first with `fold_batch_norm`, so that
            nothing stands between the conv and its activation).
        name: prefix of the created layers' names.

    Returns:
        Keras tensor [N, H', W', C_out], natural channel order.
    """
    kernel = np.asarray(kernel, np.float32)
    k_h, k_w, cg_in, c_out = kernel.shape
    c_in = x.shape[-1]
    if c_in != cg_in * groups or c_out % groups:
        raise ValueError(f"kernel {kernel.shape} does not fit C_in={c_in}, groups={groups}")
    if method == "auto":
        method = grouped_conv_method(c_in, c_out, groups)
    if method not in GROUPED_CONV_METHODS:
        raise ValueError(f"method must be 'auto' or one of {GROUPED_CONV_METHODS}, got {method!r}")
    if input_interleaved and method != "dw_multiplier":
        if cg_in == 1:
            input_interleaved = False  # interleaving is the identity then
        else:
            raise ValueError("input_interleaved=True needs method='dw_multiplier'")
    cg_out = c_out // groups
    use_bias = bias is not None
    weights_bias = [np.asarray(bias, np.float32)] if use_bias else []

    if method == "conv":
        cls = GroupedConv2D if groups > 1 else keras.layers.Conv2D
        layer = cls(c_out, (k_h, k_w), strides=strides, padding=padding,
                    groups=groups, use_bias=use_bias, activation=activation, name=name)
        y = layer(x)
        layer.set_weights([kernel] + weights_bias)
        return y
    if method == "dense":
        dense = np.zeros((k_h, k_w, c_in, c_out), np.float32)
        for gi in range(groups):
            dense[:, :, gi * cg_in:(gi + 1) * cg_in, gi * cg_out:(gi + 1) * cg_out] = \
                kernel[:, :, :, gi * cg_out:(gi + 1) * cg_out]
        layer = keras.layers.Conv2D(c_out, (k_h, k_w), strides=strides, padding=padding,
                                    use_bias=use_bias, activation=activation, name=name)
        y = layer(x)
        layer.set_weights([dense] + weights_bias)
        return y
    if method == "depthwise":
        if cg_in != 1:
            raise ValueError(f"method='depthwise' needs C_in == groups, got C_in={c_in}, groups={groups}")
        # Depthwise kernel [k, k, C_in, multiplier]: output i * m + j = o.
        dw = kernel[:, :, 0, :].reshape(k_h, k_w, c_in, cg_out)
        return depthwise_conv2d(x, dw, bias, strides=strides, padding=padding,
                                activation=activation, name=name)

    # dw_multiplier: input position p = l * g + gi (channel gi * cg_in + l); output
    # of DepthwiseConv2D(depth_multiplier=cg_out) at p * cg_out + j = l * C_out + o,
    # so the grouped conv is the sum over l of C_out-wide channel blocks.
    if cg_in > 1 and not input_interleaved:
        x = interleave_channels(x, groups, name=_n(name, "interleave"))
    dw = np.zeros((k_h, k_w, c_in, cg_out), np.float32)
    for l in range(cg_in):
        for gi in range(groups):
            dw[:, :, l * groups + gi, :] = kernel[:, :, l, gi * cg_out:(gi + 1) * cg_out]
    # The sum is an average pool over cg_in blocks; scale the kernel by cg_in to
    # undo the 1/cg_in (exact for powers of two). The bias repeats per block.
    dw *= cg_in
    dw_bias = np.tile(weights_bias[0], cg_in) if use_bias else None
    y = depthwise_conv2d(x, dw, dw_bias, strides=strides, padding=padding,
                         activation=activation if cg_in == 1 else None,
                         name=_n(name, "dw") if cg_in > 1 else name)
    if cg_in == 1:
        return y
    h, w = y.shape[1], y.shape[2]
    y = keras.layers.Reshape((h * w, cg_in, c_out), name=_n(name, "blocks"))(y)
    y = keras.layers.AveragePooling2D((1, cg_in), name=_n(name, "sum"))(y)
    y = keras.layers.Reshape((h, w, c_out), name=_n(name, "out"))(y)
    if activation:
        y = keras.layers.Activation(activation, name=_n(name, "act"))(y)
    return y
