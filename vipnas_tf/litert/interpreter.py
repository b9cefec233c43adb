"""LiteRT interpreters: loading, running once, random inputs, (de)quantising arrays."""
import os
from typing import List, Sequence, Union

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType


def load_interpreter(path_or_bytes, threads: int = 1, use_xnnpack: bool = True):
    """A LiteRT interpreter with tensors allocated.

    Args:
        path_or_bytes: .tflite path or flatbuffer bytes.
        threads: interpreter (and XNNPACK) threads.
        use_xnnpack: False runs TFLite's builtin kernels only (for comparisons).

    Raises:
        ValueError: the file is missing or not a valid TFLite model.
    """
    resolver = OpResolverType.AUTO if use_xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    kwargs = dict(num_threads=threads, experimental_op_resolver_type=resolver)
    try:
        if isinstance(path_or_bytes, (bytes, bytearray)):
            interpreter = Interpreter(model_content=bytes(path_or_bytes), **kwargs)
        else:
            path = os.fspath(path_or_bytes)
            if not os.path.isfile(path):
                raise ValueError(f"no such file: {path}")
            interpreter = Interpreter(model_path=path, **kwargs)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        raise ValueError(f"cannot load TFLite model {_label(path_or_bytes)}: {e}") from e
    return interpreter


def _label(path_or_bytes):
    if isinstance(path_or_bytes, (bytes, bytearray)):
        return f"<{len(path_or_bytes)} bytes>"
    return os.fspath(path_or_bytes)


def random_input(detail, rng: np.random.Generator) -> np.ndarray:
    """A random tensor for an input: N(0,1) floats, or the full integer range."""
    dtype = detail["dtype"]
    shape = detail["shape"]
    if np.issubdtype(dtype, np.floating):
        return rng.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)


def run_tflite(flatbuffer_or_path: Union[bytes, str, os.PathLike],
               inputs: Union[np.ndarray, Sequence[np.ndarray]],
               num_threads: int = 1) -> List[np.ndarray]:
    """Runs a .tflite once with the LiteRT interpreter (XNNPACK on).

    Args:
        flatbuffer_or_path: the model bytes or a path.
        inputs: float32 arrays in the model's input order (batch as exported).
            Integer inputs are quantized with the tensor's scale/zero point.

    Returns:
        The outputs in the model's output order, dequantized to float32.
    """
    if isinstance(flatbuffer_or_path, (bytes, bytearray)):
        interpreter = Interpreter(model_content=bytes(flatbuffer_or_path), num_threads=num_threads)
    else:
        interpreter = Interpreter(model_path=os.fspath(flatbuffer_or_path), num_threads=num_threads)
    interpreter.allocate_tensors()
    inputs = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
    for detail, value in zip(interpreter.get_input_details(), inputs):
        interpreter.set_tensor(detail["index"], quantize_array(value, detail))
    interpreter.invoke()
    return [dequantize_array(interpreter.get_tensor(d["index"]), d)
            for d in interpreter.get_output_details()]


def quantize_array(value: np.ndarray, detail) -> np.ndarray:
    """float32 -> the tensor's dtype using its (scale, zero_point); float passes through, and
    so do the values of an integer tensor without quantization (scale 0)."""
    dtype = detail["dtype"]
    if np.issubdtype(dtype, np.floating):
        return np.asarray(value, dtype=dtype)
    scale, zero = detail["quantization"]
    info = np.iinfo(dtype)
    if scale == 0:  # an integer input without quantization (uint8 pixels): the values as they are
        return np.clip(np.round(np.asarray(value, np.float64)), info.min, info.max).astype(dtype)
    q = np.round(np.asarray(value, np.float32) / scale + zero)
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize_array(value: np.ndarray, detail) -> np.ndarray:
    """The tensor's dtype -> float32 using its (scale, zero_point)."""
    scale, zero = detail["quantization"]
    if np.issubdtype(value.dtype, np.floating) or scale == 0:
        return np.asarray(value, np.float32)
    return (value.astype(np.float32) - zero) * scale


def predict_first_output(flatbuffer_or_path, inputs: Sequence[np.ndarray], threads: int = 1) -> np.ndarray:
    """First output of a batch-1 .tflite on every sample of `inputs` (arrays [n, ...] in
    input order), one interpreter, dequantized to float32: [n, ...]."""
    interp = load_interpreter(flatbuffer_or_path, threads)
    ins, out = interp.get_input_details(), interp.get_output_details()[0]
    results = []
    for i in range(len(inputs[0])):
        for detail, arr in zip(ins, inputs):
            interp.set_tensor(detail["index"], quantize_array(arr[i:i + 1], detail))
        interp.invoke()
        results.append(dequantize_array(interp.get_tensor(out["index"]), out))
    return np.concatenate(results)
