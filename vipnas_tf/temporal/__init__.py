"""Temporal ViPNAS: the fusion module, the T-ViPNet super-network, multi-frame
propagation and the video schedule (paper Sec. 3.1, 3.3, 3.4.2, 3.4.3).

`frame_arch` and `schedule` are TensorFlow-free values; `fusion`, `supernet`,
`propagation` and `warp` are imported on first use of their names.
"""
import importlib

from vipnas_tf.temporal.frame_arch import (  # noqa: F401
    FUSION_OPS,
    FrameArch,
    FusionStage,
    TemporalSpace,
    describe_frame,
    frame_cost,
    fusion_conv_costs,
    fusion_stages,
    parse_frame_arch,
    resolve_frame_arch,
)
from vipnas_tf.temporal.schedule import SCHEDULE_FORMAT, Schedule  # noqa: F401

_LAZY = {
    "ElasticFusion": "vipnas_tf.temporal.fusion",
    "static_fusion": "vipnas_tf.temporal.fusion",
    "TemporalSuperNetwork": "vipnas_tf.temporal.supernet",
    "build_static_frame": "vipnas_tf.temporal.supernet",
    "PropagationModel": "vipnas_tf.temporal.propagation",
    "multi_frame_loss": "vipnas_tf.temporal.propagation",
    "sample_frame_archs": "vipnas_tf.temporal.propagation",
    "sandwich_frame_archs": "vipnas_tf.temporal.propagation",
    "propagate_clips": "vipnas_tf.temporal.propagation",
    "heatmap_warp_matrix": "vipnas_tf.temporal.warp",
    "warp_heatmaps": "vipnas_tf.temporal.warp",
    "warp_previous_heatmaps": "vipnas_tf.temporal.warp",
    "frame_input_heatmaps": "vipnas_tf.temporal.warp",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vipnas_tf.temporal' has no attribute {name!r}")
