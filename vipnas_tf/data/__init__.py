"""Data: readers (COCO, PoseTrack18, synthetic) -> samples / clips -> tf.data crops.

Import the tf.data pipeline explicitly (`from vipnas_tf.data.pipeline import
make_topdown_dataset, make_clip_dataset`); this package itself stays TensorFlow-free
so that the synthetic generator and the readers start fast.
"""
from vipnas_tf.codecs.dataset_info import COCO_INFO, POSETRACK18_INFO, DatasetInfo  # noqa: F401
from vipnas_tf.data.coco import load_coco  # noqa: F401
from vipnas_tf.data.formats import annotation_layout, detect_annotation_format, load_samples  # noqa: F401
from vipnas_tf.data.posetrack import PoseTrackData, load_posetrack  # noqa: F401
from vipnas_tf.data.samples import ClipSet, SampleSet  # noqa: F401
from vipnas_tf.data.transforms import AugmentConfig  # noqa: F401
