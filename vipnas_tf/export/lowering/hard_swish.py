"""hard-swish in the form that is fastest for each precision."""
from typing import Optional

import keras
import numpy as np

from vipnas_tf.export.lowering.naming import sub_name as _n

HARD_SWISH_METHODS = ("activation", "int8")


def hard_swish_method_for(quantization_mode: str) -> str:
    """The hard-swish form that is fastest for a quantization mode ("int8" and
    "qat" -> the int8 form; float32/float16/dynamic keep HARD_SWISH)."""
    return "int8" if quantization_mode in ("int8", "qat") else "activation"


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
