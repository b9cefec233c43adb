"""Post-training quantization settings for the TFLite converter.

A small value object in the spirit of MediaPipe Model Maker's `QuantizationConfig`:
pick a mode with one of the constructors and hand it to
`vipnas_tf.export.tflite_export.export_tflite`.

| constructor | weights | activations | I/O | needs data |
| --- | --- | --- | --- | --- |
| `for_float32()` | float32 | float32 | float32 | no |
| `for_float16()` | float16 (dequantised at load) | float32 | float32 | no |
| `for_dynamic()` | int8 | float32 (int8 matmuls inside some kernels) | float32 | no |
| `for_int8(data)` | int8 per channel | int8 | float32, int8 or uint8 | yes |

Full-integer I/O choice (`for_int8(..., io_dtype=...)`):
- `"float32"` (default): the model takes and returns float32; the converter adds a
  QUANTIZE op at the input and DEQUANTIZE ops at the outputs. Drop-in for the float
  model, costs two cheap element-wise ops.
- `"int8"`: input and outputs are int8 with the scale/zero-point stored in the
  tensor's quantization parameters (`interpreter.get_input_details()[0]
  ["quantization"]`). What microcontrollers and integer-only NPUs want.
- `"uint8"`: the same with uint8, for a camera pipeline that delivers uint8 pixels
  (fold the normalisation into the quantization parameters) and for older
  delegates (Edge TPU-era) that expect uint8 I/O.
"""
import dataclasses
from typing import Any, Callable, Iterable, Optional, Union

import numpy as np

# A representative-data source: an iterable of input batches, or a zero-argument
# callable returning such an iterable (so a tf.data pipeline can be re-iterated).
# Each batch is one array (single-input model) or a list/tuple of arrays in the
# model's input order, float32, shaped like the model's inputs (any batch size:
# batches are split into batch-1 samples because the exported model has batch 1).
RepresentativeData = Union[Iterable[Any], Callable[[], Iterable[Any]]]

_MODES = ("float32", "float16", "dynamic", "int8")
_IO_DTYPES = ("float32", "int8", "uint8")


@dataclasses.dataclass(frozen=True)
class QuantizationConfig:
    """How the TFLite converter quantizes a model.

    Use the constructors (`for_float32`, `for_float16`, `for_dynamic`, `for_int8`)
    rather than the fields.

    Args:
        mode: one of "float32", "float16", "dynamic", "int8".
        representative_data: for "int8": real input batches used to calibrate
            activation ranges (see `RepresentativeData`).
        num_calibration_samples: at most this many batch-1 samples are drawn from
            `representative_data` (100-500 real crops are typical).
        io_dtype: for "int8": dtype of the model's inputs and outputs, "float32",
            "int8" or "uint8" (see the module docstring).
        allow_float_fallback: for "int8": let ops without an int8 kernel stay float
            (TFLITE_BUILTINS); when False (default) such a model is refused by the
            converter, so "int8" really means integer-only.

    Example:
        >>> cfg = QuantizationConfig.for_int8(lambda: pipeline.take(200))
        >>> export_tflite(model, "model_int8.tflite", quantization=cfg)
    """

    mode: str = "float32"
    representative_data: Optional[RepresentativeData] = None
    num_calibration_samples: int = 200
    io_dtype: str = "float32"
    allow_float_fallback: bool = False

    def __post_init__(self):
        if self.mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {self.mode!r}")
        if self.io_dtype not in _IO_DTYPES:
            raise ValueError(f"io_dtype must be one of {_IO_DTYPES}, got {self.io_dtype!r}")
        if self.mode != "int8" and self.io_dtype != "float32":
            raise ValueError(f"io_dtype={self.io_dtype!r} needs mode='int8'")
        if self.mode == "int8" and self.representative_data is None:
            raise ValueError(
                "Full-integer (int8) quantization needs representative data: the "
                "converter calibrates every activation's int8 range (scale and zero "
                "point) by running the float model on real inputs. Without it the "
                "ranges are guesses and the int8 model's heatmaps are garbage. Pass "
                "QuantizationConfig.for_int8(representative_data) with a few hundred "
                "real normalised crops (e.g. from the validation tf.data pipeline), "
                "or use for_dynamic() (int8 weights, float activations, no data).")
        if self.num_calibration_samples < 1:
            raise ValueError("num_calibration_samples must be >= 1")

    @classmethod
    def for_float32(cls) -> "QuantizationConfig":
        """No quantization: float32 weights and activations."""
        return cls(mode="float32")

    @classmethod
    def for_float16(cls) -> "QuantizationConfig":
        """float16 weights (half the file size), float32 compute on the CPU."""
        return cls(mode="float16")

    @classmethod
    def for_dynamic(cls) -> "QuantizationConfig":
        """Dynamic-range: int8 weights, float activations; needs no data."""
        return cls(mode="dynamic")

    @classmethod
    def for_int8(cls, representative_data: RepresentativeData, *,
                 num_calibration_samples: int = 200, io_dtype: str = "float32",
                 allow_float_fallback: bool = False) -> "QuantizationConfig":
        """Full-integer int8 with activation ranges calibrated on real inputs."""
        return cls(mode="int8", representative_data=representative_data,
                   num_calibration_samples=num_calibration_samples,
                   io_dtype=io_dtype, allow_float_fallback=allow_float_fallback)

    def apply(self, converter, input_shapes):
        """Sets the converter's options for this mode.

        Args:
            converter: a `tf.lite.TFLiteConverter`.
            input_shapes: list of the exported model's input shapes (batch 1), used to
                split and check representative batches.
        """
        import tensorflow as tf  # Lazy: this module is imported by light tools.

        # Integer-only or plain builtins; never SELECT_TF_OPS (flex ops need the
        # full TF runtime on the phone and XNNPACK cannot run them).
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if self.mode == "float32":
            return
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if self.mode == "float16":
            converter.target_spec.supported_types = [tf.float16]
            return
        if self.mode == "dynamic":
            return
        converter.representative_dataset = lambda: _calibration_samples(
            self.representative_data, input_shapes, self.num_calibration_samples)
        if not self.allow_float_fallback:
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if self.io_dtype != "float32":
            io = {"int8": tf.int8, "uint8": tf.uint8}[self.io_dtype]
            converter.inference_input_type = io
            converter.inference_output_type = io


def random_representative(input_shapes, num: int = 4, seed: int = 0) -> Callable[[], Iterable[Any]]:
    """N(0, 1) representative data: `num` samples of batch-1 arrays, one per input shape.

    For timing only: int8 kernels calibrated on random inputs run exactly as fast as
    calibrated ones, but their ranges say nothing about accuracy.
    """
    shapes = [(1,) + tuple(int(d) for d in s[1:]) for s in input_shapes]

    def gen():
        rng = np.random.default_rng(seed)
        for _ in range(num):
            yield [rng.standard_normal(s).astype(np.float32) for s in shapes]

    return gen


def arrays_representative(inputs) -> RepresentativeData:
    """Representative data of real inputs: per model input an array [n, ...] (the
    samples are taken in order, batch-1)."""
    return [tuple(np.asarray(a, np.float32) for a in inputs)]


def _calibration_samples(data: RepresentativeData, input_shapes, limit: int):
    """Yields lists of batch-1 float32 arrays, one per model input, `limit` at most."""
    source = data() if callable(data) else data
    count = 0
    for batch in source:
        arrays = list(batch) if isinstance(batch, (list, tuple)) else [batch]
        # A (features, labels) pair from a training pipeline: keep the features.
        if len(arrays) != len(input_shapes) and len(arrays) == 2 and len(input_shapes) == 1:
            arrays = arrays[:1]
        arrays = [np.asarray(a, dtype=np.float32) for a in arrays]
        if len(arrays) != len(input_shapes):
            raise ValueError(f"representative batch has {len(arrays)} arrays, the "
                             f"model has {len(input_shapes)} inputs")
        for a, shape in zip(arrays, input_shapes):
            if tuple(a.shape[1:]) != tuple(shape[1:]):
                raise ValueError(f"representative batch of shape {a.shape} does not "
                                 f"match the model input {tuple(shape)}")
        for i in range(arrays[0].shape[0]):
            yield [a[i:i + 1] for a in arrays]
            count += 1
            if count >= limit:
                return
    if count == 0:
        raise ValueError("representative_data yielded no samples")
