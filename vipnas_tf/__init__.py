"""vipnas-tf: ViPNAS spatial and temporal NAS for video pose estimation.

Shape letters used throughout the package: N batch, T frames, K keypoints,
H/W image or heatmap height/width, C channels.
"""
import os as _os

# Keras 3 on the TensorFlow backend. tf-keras (for the QAT path) is only ever
# imported explicitly in vipnas_tf.export.qat; TF_USE_LEGACY_KERAS must stay unset
# here so that `import keras` is Keras 3.
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
