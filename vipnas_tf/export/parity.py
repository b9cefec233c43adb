"""Parity of a .tflite with its float Keras model: heatmap and keypoint differences.

Keypoint error (`compare_heatmaps`): both heatmaps are decoded with `HeatmapCodec.decode`
(argmax + quarter-pixel shift) and the Euclidean distance between the two keypoints is
averaged over crops and keypoints, in input-crop pixels.
"""
from typing import Dict, Sequence

import numpy as np
import tensorflow as tf

from vipnas_tf.codecs.heatmap import HeatmapCodec
from vipnas_tf.litert.interpreter import predict_first_output


def predict_keras(model, inputs: Sequence[np.ndarray], batch_size: int = 8) -> np.ndarray:
    """First output of `model` on `inputs` (arrays in input order), in batches."""
    n = len(inputs[0])
    fn = tf.function(lambda *a: _first(model(list(a) if len(a) > 1 else a[0], training=False)),
                     reduce_retracing=True)
    outs = [np.asarray(fn(*[tf.constant(a[i:i + batch_size]) for a in inputs]))
            for i in range(0, n, batch_size)]
    return np.concatenate(outs)


def _first(out):
    return out[0] if isinstance(out, (list, tuple)) else out


def predict_tflite(flatbuffer, inputs: Sequence[np.ndarray], threads: int = 1) -> np.ndarray:
    """First output of a batch-1 .tflite on every sample of `inputs` (one interpreter)."""
    return predict_first_output(flatbuffer, inputs, threads)


def compare_heatmaps(ref: np.ndarray, got: np.ndarray, input_size) -> Dict:
    """Heatmap and decoded-keypoint differences of `got` against `ref` ([n, h, w, K]).

    Returns:
        max_abs_diff, mean_abs_diff, argmax_identical (all argmax positions equal),
        argmax_agreement (share of (crop, keypoint) pairs with the same argmax),
        keypoint_error_px (mean distance of decoded keypoints, input-crop pixels),
        keypoint_error_px_p90, num_crops, output_scale (max |ref|),
        relative_max_abs_diff (max_abs_diff / output_scale).
    """
    ref, got = np.asarray(ref, np.float32), np.asarray(got, np.float32)
    if ref.shape != got.shape:
        raise ValueError(f"heatmap shapes differ: {ref.shape} vs {got.shape}")
    codec = HeatmapCodec(tuple(input_size), heatmap_size=ref.shape[1:3])
    k = ref.shape[-1]
    am_ref = ref.reshape(len(ref), -1, k).argmax(1)
    am_got = got.reshape(len(got), -1, k).argmax(1)
    kp_ref, _ = codec.decode(ref)
    kp_got, _ = codec.decode(got)
    dist = np.linalg.norm(np.asarray(kp_ref) - np.asarray(kp_got), axis=-1)
    return {"max_abs_diff": float(np.abs(ref - got).max()),
            "mean_abs_diff": float(np.abs(ref - got).mean()),
            "argmax_identical": bool((am_ref == am_got).all()),
            "argmax_agreement": float((am_ref == am_got).mean()),
            "keypoint_error_px": float(dist.mean()),
            "keypoint_error_px_p90": float(np.percentile(dist, 90)),
            "num_crops": int(len(ref)),
            "output_scale": float(np.abs(ref).max()),
            "relative_max_abs_diff": float(np.abs(ref - got).max() / max(np.abs(ref).max(), 1e-12))}


def parity_report(model, flatbuffer, eval_inputs=None) -> Dict:
    """`compare_heatmaps` of the .tflite against the float Keras `model`."""
    source = "validation crops"
    if eval_inputs is None:
        rng = np.random.default_rng(0)
        eval_inputs = [rng.standard_normal((4,) + tuple(i.shape[1:])).astype(np.float32)
                       for i in model.inputs]
        source = "random N(0,1) inputs"
    ref = predict_keras(model, eval_inputs)
    got = predict_tflite(flatbuffer, eval_inputs)
    input_size = tuple(int(d) for d in model.inputs[0].shape[1:3])
    return {"against": "un-lowered float Keras model", "inputs": source,
            **compare_heatmaps(ref, got, input_size)}
