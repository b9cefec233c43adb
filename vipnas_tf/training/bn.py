"""Batch-norm re-calibration of a sub-network (cumulative averages over training batches).

After weight-sharing training, the super-network's running BN statistics describe no
particular sub-network. Before a sampled sub-network is evaluated, its statistics are
reset and re-estimated as the plain average over K training batches (momentum n/(n+1)
at batch n), in training mode with no weight update.

    recalibrate_bn(net, arch_vector, batches_of_images)
    ap = evaluator.evaluate(predict_fn(net, arch_vector))["AP"]
"""
import numpy as np
import tensorflow as tf


def _fns(model):
    """Cached tf.functions of a model (traced once per model, serve every arch)."""
    fns = getattr(model, "_vipnas_fns", None)
    if fns is None:
        fns = {
            "train_forward": tf.function(lambda x, a: model(x, arch=a, training=True), reduce_retracing=True),
            "predict": tf.function(lambda x, a: model(x, arch=a, training=False), reduce_retracing=True),
        }
        model._vipnas_fns = fns
    return fns


def _as_arch_tensor(model, arch):
    if hasattr(arch, "stages"):  # an Arch value
        arch = model.encode(arch)
    return tf.convert_to_tensor(np.asarray(arch), tf.int32)


def recalibrate_bn(model, arch, batches, restore_momentum=0.9):
    """Re-estimates `model`'s BN statistics for `arch` from `batches`.

    Args:
      model: a SuperNetwork (anything with reset_bn_statistics / set_bn_momentum and
        `model(x, arch=..., training=True)`).
      arch: an Arch or its encoded int32 vector.
      batches: iterable of image batches [N, H, W, 3] (or dicts with "image").
      restore_momentum: the training momentum to set afterwards.

    Returns:
      The number of batches used.
    """
    vec = _as_arch_tensor(model, arch)
    fn = _fns(model)["train_forward"]
    model.reset_bn_statistics()
    n = 0
    try:
        for batch in batches:
            images = batch["image"] if isinstance(batch, dict) else batch
            model.set_bn_momentum(n / (n + 1.0))
            fn(images, vec)
            n += 1
    finally:
        model.set_bn_momentum(restore_momentum)
    if n == 0:
        raise ValueError("recalibrate_bn: no batches given")
    return n


def predict_fn(model, arch):
    """`images -> heatmaps` of one sub-network (inference mode), for the evaluators."""
    vec = _as_arch_tensor(model, arch)
    fn = _fns(model)["predict"]
    return lambda images: fn(tf.convert_to_tensor(images, tf.float32), vec)


def bn_state(model):
    """Copies of every BN moving statistic (to restore after an evaluation)."""
    return [(np.array(bn.moving_mean), np.array(bn.moving_variance)) for bn in model.batch_norm_layers()]


def set_bn_state(model, state):
    for bn, (mean, var) in zip(model.batch_norm_layers(), state):
        bn.moving_mean.assign(mean)
        bn.moving_variance.assign(var)
