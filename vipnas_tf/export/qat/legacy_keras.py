"""tf-keras (Keras 2) and TensorFlow Model Optimization, imported without switching
the process to Keras 2.

TFMOT 0.8 accepts only tf-keras models. It sets TF_USE_LEGACY_KERAS=1 in os.environ
when imported; this module resolves `tf.keras` to Keras 3 first and restores the
variable afterwards, so importing it does not switch the rest of the process (or its
subprocesses) to Keras 2. The QAT modules import tf-keras and TFMOT from here only.
"""
import os

import tensorflow as tf

_ = tf.keras.layers  # Resolve tf.keras to Keras 3 before TFMOT looks at it.
_LEGACY = os.environ.get("TF_USE_LEGACY_KERAS")
import tf_keras  # noqa: E402  pylint: disable=wrong-import-position
import tensorflow_model_optimization as tfmot  # noqa: E402  pylint: disable=wrong-import-position
from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (  # noqa: E402
    default_8bit_quantize_registry as registry)
from tensorflow_model_optimization.python.core.quantization.keras import (  # noqa: E402
    quantize_aware_activation, quantize_layer, quantize_wrapper, quantizers)

if _LEGACY is None:
    os.environ.pop("TF_USE_LEGACY_KERAS", None)
else:
    os.environ["TF_USE_LEGACY_KERAS"] = _LEGACY

__all__ = ("tf_keras", "tfmot", "registry", "quantize_aware_activation", "quantize_layer",
           "quantize_wrapper", "quantizers")
