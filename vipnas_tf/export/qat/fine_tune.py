"""QAT stage 4: a short MSE fine-tune of the QAT model, and its int8 TFLite.

`fine_tune(qat_model, data, steps)` trains on (image, heatmap target) batches;
`export_qat_tflite(qat_model)` converts to full-integer int8 with the ranges of its
fake-quant nodes; `qat_int8_tflite(model, data, steps)` runs the four stages.
"""
from typing import Any, Callable, Iterable, Optional, Union

import keras
import numpy as np
import tensorflow as tf

from vipnas_tf.codecs.heatmap import HeatmapCodec
from vipnas_tf.export.qat.annotate import quantize_model
from vipnas_tf.export.qat.calibrate import calibrate_ranges
from vipnas_tf.export.qat.legacy_keras import tf_keras
from vipnas_tf.export.qat.rebuild import to_tf_keras
from vipnas_tf.export.requantization import floor_scales
from vipnas_tf.utils.io import write_bytes


# (inputs, target heatmaps) batches; inputs one array or a list (multi-input models).
TrainData = Union[Iterable[Any], Callable[[], Iterable[Any]], "tf.data.Dataset"]


def fine_tune(qat_model, data: TrainData, steps: int, learning_rate: float = 1e-4,
              epochs: int = 1, verbose: int = 0):
    """Fine-tunes a QAT model with MSE on heatmaps (the pose training loss).

    Args:
        qat_model: from `quantize_model`.
        data: a tf.data.Dataset or iterable (or zero-arg callable returning one) of
            (inputs, heatmaps) batches: inputs [N, H, W, 3] float32 (or a list of
            arrays for multi-input models), heatmaps [N, H/4, W/4, K].
        steps: optimizer steps per epoch (a brief fine-tune: a few hundred real ones).

    Returns:
        The Keras History.
    """
    if not isinstance(data, tf.data.Dataset):
        source = data() if callable(data) else data
        batches = list(source)
        if not batches:
            raise ValueError("fine-tune data is empty")

        def gen():
            while True:
                for x, y in batches:
                    yield (tuple(x) if isinstance(x, (list, tuple)) else x), y
        x0, y0 = batches[0]
        x_sig = (tuple(tf.TensorSpec((None,) + np.shape(a)[1:], tf.float32) for a in x0)
                 if isinstance(x0, (list, tuple)) else tf.TensorSpec((None,) + np.shape(x0)[1:], tf.float32))
        data = tf.data.Dataset.from_generator(
            gen, output_signature=(x_sig, tf.TensorSpec((None,) + np.shape(y0)[1:], tf.float32)))
    else:
        data = data.repeat()
    qat_model.compile(optimizer=tf_keras.optimizers.Adam(learning_rate), loss="mse")
    return qat_model.fit(data, epochs=epochs, steps_per_epoch=steps, verbose=verbose)


def export_qat_tflite(qat_model, path: Optional[str] = None, *, io_dtype: str = "float32",
                      batch_size: int = 1, decode_fn=None) -> bytes:
    """Full-integer int8 TFLite from a QAT model (ranges from its fake-quant nodes).

    Args:
        qat_model: a (fine-tuned) model from `quantize_model`.
        path: where to write the .tflite, or None.
        io_dtype: "float32", "int8" or "uint8" (see `quantization.py`).
        decode_fn: None, "default" (`HeatmapCodec.decode_tf` for the model's sizes) or
            a callable heatmaps -> (keypoints, scores): the .tflite then also outputs
            keypoints [1, K, 2] and scores [1, K] (float; needs float32 I/O).

    Returns:
        The flatbuffer bytes.
    """
    specs = [tf.TensorSpec([batch_size] + list(i.shape[1:]), tf.float32,
                           name=i.name.split(":")[0]) for i in qat_model.inputs]
    if decode_fn == "default":
        out = qat_model.outputs[0]
        decode_fn = HeatmapCodec(tuple(qat_model.inputs[0].shape[1:3]),
                                 heatmap_size=tuple(out.shape[1:3])).decode_tf
    if decode_fn is not None and io_dtype != "float32":
        raise ValueError("decode outputs need io_dtype='float32' (integer I/O would quantize "
                         "the keypoint coordinates)")

    @tf.function(input_signature=specs, autograph=False)
    def serve(*inputs):
        heatmaps = qat_model(list(inputs) if len(inputs) > 1 else inputs[0], training=False)
        if decode_fn is None:
            return heatmaps
        keypoints, scores = decode_fn(heatmaps)
        return [heatmaps, tf.cast(keypoints, tf.float32), tf.cast(scores, tf.float32)]

    converter = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    # No TFLITE_BUILTINS_INT8 restriction: with it the converter asks for a
    # representative dataset (it does not detect the fake-quant ranges through a
    # concrete function); the ranges come from the FakeQuant nodes instead.
    if io_dtype != "float32":
        converter.inference_input_type = {"int8": tf.int8, "uint8": tf.uint8}[io_dtype]
        converter.inference_output_type = converter.inference_input_type
    flatbuffer = floor_scales(converter.convert())
    if path is not None:
        write_bytes(path, flatbuffer)
    return flatbuffer


def qat_int8_tflite(model: keras.Model, data: TrainData, steps: int, path: Optional[str] = None,
                    *, learning_rate: float = 1e-4, io_dtype: str = "float32") -> bytes:
    """Keras 3 model -> tf-keras -> QAT -> brief MSE fine-tune -> int8 TFLite."""
    tfk = to_tf_keras(model, split_activations=True)
    qat = quantize_model(tfk)
    source = data() if callable(data) else data
    if isinstance(source, tf.data.Dataset):
        calibrate_ranges(qat, tfk, [x for x, _ in source.take(8)])
    else:
        source = list(source)
        calibrate_ranges(qat, tfk, [x for x, _ in source[:8]])
    fine_tune(qat, source, steps, learning_rate)
    return export_qat_tflite(qat, path, io_dtype=io_dtype)
