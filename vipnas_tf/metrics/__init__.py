"""Metrics: COCO OKS AP (pycocotools) and PoseTrack mAP (poseval's definition).

Pure functions over loaded ground truth and predictions, plus writers of the standard
results files. Imports nothing of the project except `vipnas_tf.utils.io`.
"""
from vipnas_tf.metrics.coco_eval import (  # noqa: F401
    coco_keypoint_eval,
    load_coco_gt,
    make_keypoint_results,
    oks_nms,
    write_coco_results,
)
from vipnas_tf.metrics.posetrack_eval import (  # noqa: F401
    load_posetrack_gt,
    load_posetrack_predictions,
    posetrack_map,
    predictions_from_annotations,
    write_posetrack_results,
)
