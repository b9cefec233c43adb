"""Grouped / depthwise transposed convolution (kernel 4, stride 2, padding 1) as plain
Keras 3 layers: the sub-pixel form.

Weight layout (PyTorch `ConvTranspose2d(k=4, s=2, p=1, groups=g)`, output 2H x 2W;
cg_in = C_in / g, cg_out = C_out / g): `kernel[4, 4, cg_out, C_in]`, entry
[ky, kx, j, i] connects input channel i to output channel (i // cg_in) * cg_out + j and
adds x[i] * kernel[ky, kx, j, i] to y[2 * iy + ky - 1, 2 * ix + kx - 1]. From PyTorch
weights w[C_in, cg_out, 4, 4]: `w.transpose(2, 3, 1, 0)`.
"""
from typing import Optional

import keras
import numpy as np

from vipnas_tf.export.lowering.grouped_conv import grouped_conv2d
from vipnas_tf.export.lowering.naming import sub_name as _n

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
