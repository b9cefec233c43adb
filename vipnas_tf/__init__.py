"""vipnas-tf: ViPNAS spatial and temporal NAS for video pose estimation.

Shape letters used throughout the package: N batch, T frames, K keypoints,
H/W image or heatmap height/width, C channels.
"""
import importlib as _importlib
import importlib.util as _importlib_util
import os as _os
import sys as _sys

# Keras 3 on the TensorFlow backend. tf-keras (for the QAT path) is only ever
# imported explicitly in vipnas_tf.export.qat; TF_USE_LEGACY_KERAS must stay unset
# here so that `import keras` is Keras 3.
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"


def _register_keras_layers():
    """Registers the project's Keras layers (`vipnas_tf.layers`) with Keras, so that
    `keras.saving.load_model` reads a `.keras` file of a vipnas_tf model after a plain
    `import vipnas_tf`. Called once keras is imported."""
    _importlib.import_module("vipnas_tf.layers")


class _RegisterAfterKerasImport:
    """Import hook: runs `_register_keras_layers` right after `import keras`.

    `import vipnas_tf` must not import TensorFlow or Keras itself (the LiteRT harness,
    `vipnas_tf.litert`, runs without them), so the registration waits for the first
    `import keras` of the process; if keras is already imported it happens at once.
    """

    def __init__(self):
        self._searching = False

    def find_spec(self, name, path=None, target=None):
        if name != "keras" or self._searching:
            return None
        self._searching = True  # the other finders locate keras
        try:
            spec = _importlib_util.find_spec("keras")
        finally:
            self._searching = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module
        hook = self

        def exec_then_register(module):
            exec_module(module)
            if hook in _sys.meta_path:
                _sys.meta_path.remove(hook)
            _register_keras_layers()

        spec.loader.exec_module = exec_then_register
        return spec


def _install_keras_hook():
    if "keras" in _sys.modules:
        if _sys.modules["keras"] is not None:  # None: keras is blocked in this process
            _register_keras_layers()
    elif not any(isinstance(f, _RegisterAfterKerasImport) for f in _sys.meta_path):
        _sys.meta_path.insert(0, _RegisterAfterKerasImport())


_install_keras_hook()
