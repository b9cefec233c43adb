"""Heatmap losses, per example (the distribution strategy scales them by the global batch).

Shape letters: N batch, h/w heatmap size, K keypoints.
"""
import tensorflow as tf


def keypoint_mse(pred, target, target_weight=None):
    """Target-weighted heatmap MSE per example, [N] (mmpose's JointsMSELoss).

    0.5 * mean over K, h, w of (w_k * (pred - target))^2, where w_k is 1 for a labelled
    joint and 0 otherwise (so unlabelled joints teach nothing).

    Args:
      pred, target: [N, h, w, K] heatmaps.
      target_weight: optional [N, K] joint weights.
    """
    pred = tf.cast(pred, tf.float32)
    diff = pred - tf.cast(target, tf.float32)
    if target_weight is not None:
        diff = diff * tf.cast(target_weight, tf.float32)[:, None, None, :]
    return 0.5 * tf.reduce_mean(tf.square(diff), axis=[1, 2, 3])


def distillation_mse(student, teacher):
    """In-place distillation loss per example, [N]: 0.5 * mean (student - teacher)^2 over
    all joints (the teacher's heatmaps are informative for unlabelled joints too)."""
    return keypoint_mse(student, tf.stop_gradient(teacher))
