"""Online video inference: frame sources, person detectors, boxes and tracks, the schedule's
networks as static Keras models, and the key-frame / propagation runner.

Names are imported on first use, so that reading a video, a boxes file or a schedule
(and failing on a bad one) does not start TensorFlow.
"""
import importlib

_LAZY = {
    "BoxesFileError": "vipnas_tf.runtime.boxes",
    "load_boxes": "vipnas_tf.runtime.boxes",
    "DetectorUnavailable": "vipnas_tf.runtime.detector",
    "HogDetector": "vipnas_tf.runtime.detector",
    "TfliteDetector": "vipnas_tf.runtime.detector",
    "make_detector": "vipnas_tf.runtime.detector",
    "FrameSource": "vipnas_tf.runtime.source",
    "VideoSourceError": "vipnas_tf.runtime.source",
    "ScheduleModelError": "vipnas_tf.runtime.models",
    "ScheduleModels": "vipnas_tf.runtime.models",
    "initialised_models": "vipnas_tf.runtime.models",
    "load_schedule_models": "vipnas_tf.runtime.models",
    "RunnerConfig": "vipnas_tf.runtime.video",
    "VideoPoseRunner": "vipnas_tf.runtime.video",
    "parse_box": "vipnas_tf.runtime.tracking",
    "write_results": "vipnas_tf.runtime.video",
}
__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vipnas_tf.runtime' has no attribute {name!r}")
