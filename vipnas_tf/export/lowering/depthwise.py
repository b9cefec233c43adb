"""Depthwise convolution that stays on XNNPACK's fast path (row bands of <= 25 taps)."""
from typing import Optional

import keras
import numpy as np

from vipnas_tf.export.lowering.naming import sub_name as _n

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
