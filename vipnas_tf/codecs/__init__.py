"""Keypoint codecs: heatmap encode/decode, crop affines, dataset keypoint metadata.

Pure numpy (TF twins where export graphs need them); imports nothing else of the
project, so data, inference, runtime and export can all use it.
"""
from vipnas_tf.codecs.affine import (  # noqa: F401
    affine_transform_points,
    bbox_from_keypoints,
    bbox_xywh_to_center_scale,
    compose_affine,
    fix_aspect_ratio,
    get_affine_matrix,
    horizontal_flip_matrix,
    invert_affine,
    keypoints_crop_to_image,
    keypoints_crop_to_image_tf,
)
from vipnas_tf.codecs.dataset_info import (  # noqa: F401
    COCO_INFO,
    DATASET_INFOS,
    KEYPOINT_LAYOUTS,
    POSETRACK18_INFO,
    DatasetInfo,
    LayoutMismatchError,
    info_for_names,
    require_same_layout,
)
from vipnas_tf.codecs.layout_mapping import LAYOUT_MAPPINGS, channel_mapping  # noqa: F401
from vipnas_tf.codecs.heatmap import (  # noqa: F401
    HeatmapCodec,
    flip_back,
    flip_test_average,
    flip_test_average_tf,
)
