"""Folding an inference BatchNormalization into the preceding conv's weights."""
from typing import Optional

import numpy as np


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
