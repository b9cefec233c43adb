"""Evaluation glue: predict functions -> decoded keypoints -> results files -> metrics.

Takes a plain callable `predict_fn(images [N, H, W, 3] float32) -> heatmaps
[N, h, w, K]`, never a model class, so it depends only on codecs, data and metrics.
"""
from vipnas_tf.evaluation.coco import CocoEvaluator, evaluate_coco  # noqa: F401
from vipnas_tf.evaluation.occlusion import occluded_joint_pckh, occlusion_clips  # noqa: F401
from vipnas_tf.evaluation.posetrack import PoseTrackEvaluator, evaluate_posetrack  # noqa: F401
from vipnas_tf.evaluation.protocol import EvaluationConfig, Predictor, run_evaluation  # noqa: F401
from vipnas_tf.evaluation.topdown import load_eval_crops, predict_heatmaps, predict_keypoints  # noqa: F401
