"""Equivalent formulations of grouped convs and grouped stride-2 deconvs as plain
Keras 3 layers, for `extract()` to emit what runs fastest in TFLite/XNNPACK.

Each function takes a Keras tensor and numpy weights, creates standard layers
(Conv2D, DepthwiseConv2D, ZeroPadding2D, Concatenate, Reshape, Permute,
AveragePooling2D), sets their weights and returns the output tensor. The result is
numerically the plain formulation (tests: max abs diff <= 1e-5). Which method to
pick is measured in `tflite/README.md` ("Per-layer findings"); `method="auto"` is
that choice.

Weight layouts (the Keras ones; the letters: k kernel size, g groups,
cg_in = C_in / g, cg_out = C_out / g):
- grouped conv: `kernel[k, k, cg_in, C_out]`, `bias[C_out]` (Keras Conv2D with
  `groups=g`); output channel o = gi * cg_out + j reads input channels
  gi * cg_in + l, l < cg_in.
- grouped transposed conv, kernel 4, stride 2, padding 1 (PyTorch
  `ConvTranspose2d(k=4, s=2, p=1, groups=g)`, output 2H x 2W):
  `kernel[4, 4, cg_out, C_in]`, entry [ky, kx, j, i] connects input channel i to
  output channel (i // cg_in) * cg_out + j and adds x[i] * kernel[ky, kx, j, i] to
  y[2 * iy + ky - 1, 2 * ix + kx - 1]. From PyTorch weights w[C_in, cg_out, 4, 4]:
  `w.transpose(2, 3, 1, 0)`.
"""
from typing import Optional

import keras
import numpy as np
import tensorflow as tf


@keras.saving.register_keras_serializable(package="vipnas_tf")
class GroupedConv2D(keras.layers.Conv2D):
    """`Conv2D(groups=g)` computed by `tf.nn.conv2d` directly.

    Same configuration, weights and maths as Keras' Conv2D. Keras 3's TensorFlow
    backend runs a grouped conv through an XLA-compiled function on CPU (measured
    10x slower in TF: 27.8 vs 2.75 ms for a 7x7 g20 conv of 160 channels at 64x48);
    `tf.nn.conv2d` runs grouped convs natively. Both convert to the same TFLite
    grouped CONV_2D, so this only matters for running the lowered Keras model (and
    a SavedModel made from it) in TensorFlow. TensorFlow backend only.
    `qat.to_tf_keras` maps it to tf-keras' Conv2D.
    """

    def convolution_op(self, inputs, kernel):
        if self.data_format != "channels_last":
            return super().convolution_op(inputs, kernel)
        return tf.nn.conv2d(inputs, kernel, strides=list(self.strides),
                            padding=self.padding.upper(), dilations=list(self.dilation_rate))


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


def _n(name, suffix):
    return None if name is None else f"{name}_{suffix}"


# --------------------------------------------------------------------------------
# Depthwise convolution that stays on XNNPACK's fast path.

# XNNPACK (as shipped in ai-edge-litert 2.3) runs depthwise kernels of up to 25 taps
# with its unipass micro-kernels; above that (7x7 = 49 taps, 6x6, 4x7) it takes a
# path about 20x slower per MAC, in float32 and int8 (tflite/README.md). A large
# kernel is therefore split into row bands of at most 25 taps, summed with Add.
MAX_FAST_DEPTHWISE_TAPS = 25


def _same_pads(size, k, stride):
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2, out


def depthwise_conv2d(x, kernel: np.ndarray, bias: Optional[np.ndarray] = None, *,
                     strides: int = 1, padding: str = "same", activation: Optional[str] = None,
                     max_taps: Optional[int] = None, name: Optional[str] = None):
    """DepthwiseConv2D from numpy weights, split into row bands when the kernel has
    more than `max_taps` taps.

    Args:
        x: Keras tensor [N, H, W, C].
        kernel: [kh, kw, C, multiplier] (Keras DepthwiseConv2D layout).
        bias: [C * multiplier] or None.
        strides, padding: as DepthwiseConv2D ("same" or "valid").
        activation: fused activation (None, "relu", "relu6"); with bands it is
            applied after the sum.
        max_taps: largest kernel (kh * kw) left whole; None reads
            `MAX_FAST_DEPTHWISE_TAPS` at call time, 0 disables the split.

    Returns:
        Keras tensor [N, H', W', C * multiplier].
    """
    kernel = np.asarray(kernel, np.float32)
    kh, kw, c, mult = kernel.shape
    use_bias = bias is not None
    max_taps = MAX_FAST_DEPTHWISE_TAPS if max_taps is None else max_taps
    if not max_taps or kh * kw <= max_taps or kw > max_taps:
        layer = keras.layers.DepthwiseConv2D((kh, kw), strides=strides, padding=padding,
                                             depth_multiplier=mult, use_bias=use_bias,
                                             activation=activation, name=name)
        y = layer(x)
        layer.set_weights([kernel] + ([np.asarray(bias, np.float32)] if use_bias else []))
        return y
    h, w = x.shape[1], x.shape[2]
    if padding == "same":
        top, bottom, out_h = _same_pads(h, kh, strides)
        left, right, out_w = _same_pads(w, kw, strides)
        x = keras.layers.ZeroPadding2D(((top, bottom), (left, right)), name=_n(name, "pad"))(x)
        h, w = h + top + bottom, w + left + right
    else:
        out_h, out_w = (h - kh) // strides + 1, (w - kw) // strides + 1
    rows_per_band = max(1, max_taps // kw)
    parts = []
    for r0 in range(0, kh, rows_per_band):
        r1 = min(kh, r0 + rows_per_band)
        # Rows r0.. of the window: crop so a VALID conv of height (r1 - r0) yields out_h rows.
        need = (out_h - 1) * strides + (r1 - r0)
        crop = keras.layers.Cropping2D(((r0, h - r0 - need), (0, w - ((out_w - 1) * strides + kw))),
                                       name=_n(name, f"crop{r0}"))(x)
        layer = keras.layers.DepthwiseConv2D((r1 - r0, kw), strides=strides, padding="valid",
                                             depth_multiplier=mult, use_bias=use_bias and r0 == 0,
                                             name=_n(name, f"band{r0}"))
        parts.append(layer(crop))
        layer.set_weights([kernel[r0:r1]] + ([np.asarray(bias, np.float32)] if use_bias and r0 == 0 else []))
    y = keras.layers.Add(name=_n(name, "sum"))(parts)
    if activation:
        y = keras.layers.Activation(activation, name=_n(name, "act"))(y)
    return y


def fold_batch_norm(kernel: np.ndarray, bias: Optional[np.ndarray], gamma, beta, mean, var,
                    epsilon: float = 1e-3, out_axis: int = -1):
    """Folds an inference BatchNormalization into the preceding conv's weights.

    Needed before `grouped_conv2d_transpose_s2k4(..., activation=...)`: the
    converter folds a BN into a conv only when it directly follows it, and after the
    sub-pixel shuffle it would not.

    Args:
        kernel: conv weights; `out_axis` indexes the output channels (-1 for Conv2D
            [k, k, C_in/g, C_out]; for a depthwise [k, k, C, 1] kernel pass a
            reshaped [k, k, 1, C] view; for the s2k4 deconv layout
            [4, 4, cg_out, C_in] use a kernel whose output channels are on -1).
        bias: [C_out] or None; gamma, beta, mean, var: [C_out] BN parameters.

    Returns:
        (kernel, bias) float32 with the BN folded in.
    """
    scale = np.asarray(gamma, np.float64) / np.sqrt(np.asarray(var, np.float64) + epsilon)
    shape = [1] * kernel.ndim
    shape[out_axis] = -1
    k = (np.asarray(kernel, np.float64) * scale.reshape(shape)).astype(np.float32)
    b = np.zeros_like(scale) if bias is None else np.asarray(bias, np.float64)
    b = (b - mean) * scale + beta
    return k, b.astype(np.float32)


def hard_swish(x, method: str = "auto", name: Optional[str] = None):
    """x * relu6(x + 3) / 6 as Keras layers.

    Args:
        method: "activation" (`Activation("hard_swish")`, TFLite HARD_SWISH: fastest
            in float32), "int8" (two 1x1 depthwise affines and a Multiply: TFLite
            has no fast int8 HARD_SWISH on XNNPACK, this is 2x faster in int8 and
            costs ~4% in float32 on the layers concerned), "auto" = "activation".
    """
    if method in ("auto", "activation"):
        return keras.layers.Activation("hard_swish", name=name)(x)
    if method != "int8":
        raise ValueError(f"method must be 'auto', 'activation' or 'int8', got {method!r}")
    c = x.shape[-1]

    def affine(t, w, b, act, suffix):
        layer = keras.layers.DepthwiseConv2D(1, activation=act, name=_n(name, suffix))
        y = layer(t)
        layer.set_weights([np.full((1, 1, c, 1), w, np.float32), np.full((c,), b, np.float32)])
        return y

    # relu6(x + 3) fuses into the depthwise conv; writing x * hard_sigmoid(x) instead
    # would be pattern-matched back into HARD_SWISH by the converter.
    gate = affine(x, 1.0, 3.0, "relu6", "gate")
    y = keras.layers.Multiply(name=_n(name, "mul"))([x, gate])
    return affine(y, 1.0 / 6.0, 0.0, None, "scale")


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


# --------------------------------------------------------------------------------
# Grouped / depthwise transposed convolution, kernel 4, stride 2, padding 1.

DECONV_METHODS = ("subpixel", "subpixel_fused")


def deconv_method(channels: int, groups: int, quantized: bool = False) -> str:
    """The measured fastest deconv formulation (see tflite/README.md)."""
    del channels, groups, quantized
    return "subpixel"


def _phase_kernel(kernel, a, b):
    """2x2 VALID-conv kernel of output phase (a, b): rows/cols w[3 - a - 2r]."""
    rows = [3 - a, 1 - a]
    cols = [3 - b, 1 - b]
    return kernel[np.ix_(rows, cols)]


def grouped_conv2d_transpose_s2k4(x, kernel: np.ndarray, bias: Optional[np.ndarray] = None, *,
                                  groups: int, method: str = "auto",
                                  activation: Optional[str] = None,
                                  name: Optional[str] = None):
    """Grouped transposed conv (kernel 4, stride 2, padding 1) from standard layers.

    Keras 3's Conv2DTranspose has no `groups`; this emits the sub-pixel form: output
    pixel (2i + a, 2j + b) only sees input rows/cols {i - 1 + a, i + a} x
    {j - 1 + b, j + b}, i.e. a 2x2 conv per phase (a, b). MACs equal the transposed
    conv's at input resolution: C_in * cg_out * 16 * H * W.

    Args:
        x: Keras tensor [N, H, W, C_in].
        kernel: [4, 4, C_out / groups, C_in] (see the module docstring).
        bias: [C_out] or None.
        groups: g (C_in for depthwise).
        method: "auto" (`deconv_method`), "subpixel" (per phase ZeroPadding2D +
            2x2 VALID conv, Concatenate, Reshape/Permute/Reshape), "subpixel_fused"
            (one ZeroPadding2D + one 3x3 VALID conv with the four 2x2 phase kernels
            embedded, 2.25x the MACs, then Reshape/Permute/Reshape).
        activation: None, "relu" or "relu6", fused into the phase convs, i.e.
            before the pixel shuffle (it commutes with it). Do this rather than a
            ReLU layer after the returned tensor: a standalone int8 RELU does not
            run on XNNPACK and costs 4 ms on the last head deconv (README). Fold the
            head's BN into `kernel`/`bias` first (`fold_batch_norm`).
        name: prefix of the created layers' names.

    Returns:
        Keras tensor [N, 2H, 2W, C_out].
    """
    kernel = np.asarray(kernel, np.float32)
    if kernel.shape[:2] != (4, 4):
        raise ValueError(f"kernel must be [4, 4, C_out/g, C_in], got {kernel.shape}")
    _, _, cg_out, c_in = kernel.shape
    if x.shape[-1] != c_in or c_in % groups:
        raise ValueError(f"kernel {kernel.shape} does not fit C_in={x.shape[-1]}, groups={groups}")
    cg_in = c_in // groups
    c_out = cg_out * groups
    h, w = x.shape[1], x.shape[2]
    if method == "auto":
        method = deconv_method(c_in, groups)
    if method not in DECONV_METHODS:
        raise ValueError(f"method must be 'auto' or one of {DECONV_METHODS}, got {method!r}")
    # Forward-conv kernel of one phase in grouped-Conv2D layout [2, 2, cg_in, C_out].
    def conv_kernel(a, b):
        pk = _phase_kernel(kernel, a, b)  # [2, 2, cg_out, C_in]
        out = np.zeros((2, 2, cg_in, c_out), np.float32)
        for gi in range(groups):
            blk = pk[:, :, :, gi * cg_in:(gi + 1) * cg_in]  # [2, 2, cg_out, cg_in]
            out[:, :, :, gi * cg_out:(gi + 1) * cg_out] = blk.transpose(0, 1, 3, 2)
        return out

    if method == "subpixel":
        phases = []
        for a in (0, 1):
            for b in (0, 1):
                p = keras.layers.ZeroPadding2D(((1 - a, a), (1 - b, b)),
                                               name=_n(name, f"pad{a}{b}"))(x)
                p = grouped_conv2d(p, conv_kernel(a, b), bias, groups=groups, padding="valid",
                                   method="depthwise" if cg_in == 1 else "conv",
                                   activation=activation, name=_n(name, f"phase{a}{b}"))
                phases.append(p)
        y = keras.layers.Concatenate(axis=-1, name=_n(name, "phases"))(phases)
        y = keras.layers.Reshape((h, w, 2, 2, c_out), name=_n(name, "split"))(y)
        y = keras.layers.Permute((1, 3, 2, 4, 5), name=_n(name, "shuffle"))(y)
        return keras.layers.Reshape((2 * h, 2 * w, c_out), name=_n(name, "merge"))(y)

    # subpixel_fused: a 3x3 window over the 1-padded input covers every phase's 2x2
    # window (phase (a, b) uses window rows a..a+1, cols b..b+1). One conv emits the
    # 4 phases per group: output channel gi * 4 cg_out + (2a + b) * cg_out + j.
    fused = np.zeros((3, 3, cg_in, 4 * c_out), np.float32)
    for a in (0, 1):
        for b in (0, 1):
            ck = conv_kernel(a, b)
            for gi in range(groups):
                dst = gi * 4 * cg_out + (2 * a + b) * cg_out
                fused[a:a + 2, b:b + 2, :, dst:dst + cg_out] = ck[:, :, :, gi * cg_out:(gi + 1) * cg_out]
    fused_bias = None
    if bias is not None:
        fused_bias = np.tile(np.asarray(bias, np.float32).reshape(groups, 1, cg_out), (1, 4, 1)).reshape(-1)
    p = keras.layers.ZeroPadding2D(1, name=_n(name, "pad"))(x)
    y = grouped_conv2d(p, fused, fused_bias, groups=groups, padding="valid",
                       method="depthwise" if cg_in == 1 else "conv", activation=activation,
                       name=_n(name, "conv"))
    y = keras.layers.Reshape((h, w, groups, 2, 2, cg_out), name=_n(name, "split"))(y)
    y = keras.layers.Permute((1, 4, 2, 5, 3, 6), name=_n(name, "shuffle"))(y)
    return keras.layers.Reshape((2 * h, 2 * w, c_out), name=_n(name, "merge"))(y)
