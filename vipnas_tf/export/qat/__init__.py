"""Quantization-aware training (QAT) of a Keras 3 model via tf-keras + TFMOT.

TensorFlow Model Optimization (TFMOT 0.8) accepts only tf-keras (Keras 2) models (measured with TFMOT 0.8.1: `ValueError: to_quantize can only either be a keras Sequential or Functional model` for a Keras 3 model). The
project's models are Keras 3, so QAT runs in four stages, one module each:

1. `rebuild.to_tf_keras(model)`: the Keras 3 functional model rebuilt as tf-keras,
   weights copied (parity <= 1e-5).
2. `annotate.quantize_model(tfk_model)`: TFMOT's QAT model after annotating the layers
   its default 8-bit registry does not know.
3. `calibrate.calibrate_ranges(qat_model, tfk_model, inputs)`: activation ranges from
   data (TFMOT starts them at [-6, 6], which a brief fine-tune does not fix).
4. `fine_tune.fine_tune(qat_model, data, steps)`: a short MSE fine-tune on (image,
   heatmap target) batches, then `fine_tune.export_qat_tflite(qat_model)`: full-integer
   int8 TFLite from the fake-quant ranges learned in training.

`qat_int8_tflite(model, data, steps)` runs the four stages. tf-keras and TFMOT are
imported through `legacy_keras` only, which keeps the rest of the process on Keras 3.
"""
from vipnas_tf.export.qat.annotate import NoOpQuantizeConfig, OutputQuantizeConfig, quantize_model
from vipnas_tf.export.qat.calibrate import calibrate_ranges
from vipnas_tf.export.qat.fine_tune import TrainData, export_qat_tflite, fine_tune, qat_int8_tflite
from vipnas_tf.export.qat.legacy_keras import tf_keras
from vipnas_tf.export.qat.rebuild import CUSTOM_OBJECTS, GroupedConv2D, hard_sigmoid, hard_swish, to_tf_keras

__all__ = ("to_tf_keras", "quantize_model", "calibrate_ranges", "fine_tune", "export_qat_tflite",
           "qat_int8_tflite", "NoOpQuantizeConfig", "OutputQuantizeConfig", "GroupedConv2D",
           "hard_swish", "hard_sigmoid", "CUSTOM_OBJECTS", "TrainData", "tf_keras")
