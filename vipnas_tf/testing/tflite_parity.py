"""`run_tflite_parity_test`: a .tflite against its Keras model, for the export tests."""
from typing import Optional, Sequence

import numpy as np

from vipnas_tf.litert.interpreter import run_tflite


def _argmax(heatmaps):
    return heatmaps.reshape(len(heatmaps), -1, heatmaps.shape[-1]).argmax(1)


def run_tflite_parity_test(model, flatbuffer, inputs: Sequence[np.ndarray], *, atol: Optional[float] = None,
                           relative_atol: Optional[float] = None, same_argmax: bool = True,
                           min_output_scale: float = 0.0) -> float:
    """Runs `flatbuffer` with LiteRT and `model` with Keras (inference mode) on the
    batch-1 `inputs` (one array per model input) and asserts they agree.

    Args:
        model: the Keras model (or any callable taking the list of inputs).
        flatbuffer: .tflite bytes or path; its first output is compared.
        atol: bound on max |tflite - keras|.
        relative_atol: bound on max |tflite - keras| / max |keras| (quantized modes).
        same_argmax: also require the same argmax per heatmap channel.
        min_output_scale: require max |keras| above this (a near-zero output makes
            any tolerance meaningless).

    Returns:
        The max abs difference.
    """
    inputs = list(inputs)
    ref = np.asarray(model(inputs if len(inputs) > 1 else inputs[0], training=False))
    got = run_tflite(flatbuffer, inputs)[0]
    assert got.shape == ref.shape, (got.shape, ref.shape)
    scale = float(np.abs(ref).max())
    assert scale > min_output_scale, f"output scale {scale} too small for a meaningful comparison"
    err = float(np.abs(got - ref).max())
    if atol is not None:
        assert err <= atol, f"max abs difference {err} > {atol}"
    if relative_atol is not None:
        assert err <= relative_atol * scale, f"max abs difference {err} > {relative_atol} x output scale {scale}"
    if same_argmax:
        np.testing.assert_array_equal(_argmax(ref), _argmax(got))
    return err
