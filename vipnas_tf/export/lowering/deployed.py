"""Static Keras model -> lowered Keras model -> .tflite, as deployed, for latency measurement.

The latency model (`vipnas_tf.search.latency`) must time what is deployed: the static
model (`build_static` / `SuperNetwork.extract`) after the export lowering (`lower_model`:
BN folded, ReLU fused, >25-tap depthwise banded, grouped convs in their fastest form,
hard-swish in the precision's fastest form), then converted by
`tflite_export.export_quantized`. `convert(model, quantization)` is the one conversion
entry point of the latency code: the table's units and whole networks both go through
it, so they are lowered alike.
"""
import os
from typing import Optional

import keras

from vipnas_tf.export.lowering.hard_swish import hard_swish_method_for
from vipnas_tf.export.lowering.model import lower_model
from vipnas_tf.export.tflite_export import export_quantized

QUANTIZATIONS = ("float32", "int8")

# Identifies how units and networks are lowered; stored in latency tables so that a
# table built with another lowering is recognised as stale (no resume). The first
# tables were built with this module's own graph rewrite (same rules, before
# lower_model landed); their TFLite graphs were checked op for op to be identical
# to lower_model's, so the identifier names the rules, not the implementation.
LOWERING_VERSION = "latency_lowering/v1 (fold BN, fuse ReLU, band >25-tap dw, dense <=16ch grouped, hswish per precision)"


def check_quantization(quantization: str) -> str:
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {QUANTIZATIONS}, got {quantization!r}")
    return quantization


def lower_static_model(model: keras.Model, quantization: str = "float32") -> keras.Model:
    """The deployment lowering of `model` for `quantization` (export's lower_model)."""
    check_quantization(quantization)
    return lower_model(model, hard_swish=hard_swish_method_for(quantization))


def convert(model: keras.Model, quantization: str = "float32", io_dtype: str = "float32",
            lowered: bool = False, path: Optional[str] = None, calibration_samples: int = 4) -> bytes:
    """Lowers (unless `lowered`) and converts `model` to a .tflite flatbuffer.

    Args:
        model: a static functional Keras model.
        quantization: "float32" or "int8" (int8: full-integer, calibrated on random
            inputs: enough for timing, not for accuracy).
        io_dtype: int8 only: "float32" (deployed form: QUANTIZE/DEQUANTIZE at the
            edges) or "int8" (integer I/O: how table units are timed, see latency.py).
        lowered: the model is already lowered.
        path: also write the .tflite there (atomically).
    """
    check_quantization(quantization)
    if not lowered:
        model = lower_static_model(model, quantization)
    return export_quantized(model, quantization, os.fspath(path) if path else None,
                            num_calibration_samples=calibration_samples, io_dtype=io_dtype)
