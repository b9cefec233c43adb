"""The training step on the toy elastic model: mixed precision (bfloat16, float16 with
loss scaling) and XLA run a few steps without re-tracing, their losses track float32,
and the losses stay on the device until read."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.training.toy import K, ToyNet, toy_batch
from vipnas_tf.training.config import TrainConfig
from vipnas_tf.training.losses import keypoint_mse
from vipnas_tf.training.step import TrainStep

POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


def _run(precision, jit_compile=False, fixed_arch=None, steps=4):
    keras.utils.set_random_seed(0)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(POLICIES[precision])
    try:
        model = ToyNet()
    finally:
        keras.config.set_dtype_policy(previous)
    opt = keras.optimizers.Adam(1e-2)
    if precision == "float16":
        opt = keras.optimizers.LossScaleOptimizer(opt)
    opt.build(model.trainable_variables)
    step = TrainStep(tf.distribute.get_strategy(), model, opt,
                     forward=lambda b, a, t: model(b["image"], arch=a, training=t),
                     loss_fn=lambda p, b: keypoint_mse(p, b["heatmaps"], b["target_weight"]),
                     teacher_shape=lambda b: tf.concat([tf.shape(b["image"])[:3], [K]], 0),
                     global_batch_size=4, num_members=3, jit_compile=jit_compile, fixed_arch=fixed_arch)
    batch = {k: tf.constant(v) for k, v in toy_batch(4, seed=1).items()}
    losses = []
    for s in range(steps):
        gt, _ = step(batch, np.array([[8], [2], [3 + s % 5]], np.int32))  # new random member each step
        assert isinstance(gt, tf.Tensor)
        losses.append(step.read_losses()[0])
    pred = model(batch["image"], arch=tf.constant([8]), training=False)
    return np.array(losses), step, model, pred


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_mixed_precision_steps_track_float32_without_retrace(precision):
    ref, _, _, _ = _run("float32", steps=6)
    losses, step, model, pred = _run(precision, steps=6)
    assert pred.dtype == (tf.bfloat16 if precision == "bfloat16" else tf.float16)  # elastic slices in that dtype
    assert all(v.dtype == "float32" for v in model.trainable_variables)  # float32 master weights
    assert step.last_gt.dtype == tf.float32
    assert step.tracing_count == 1  # four steps, three members each, new members: one trace
    assert np.all(np.isfinite(losses))
    assert losses[-1][0] < 0.95 * losses[0][0]  # it learns
    if precision == "bfloat16":
        # 8 bits of mantissa: the losses follow float32's to a few percent
        np.testing.assert_allclose(losses, ref, rtol=0.05)
    else:
        # dynamic loss scaling: the first steps overflow at the initial scale 2^15 and are
        # skipped (the loss repeats, the scale halves), then float16 trains
        assert step.loss_scaled and 1.0 < float(step.optimizer.dynamic_scale) < 2.0**15
        assert int(step.optimizer.iterations) < 6


def test_jit_compile_fixed_arch_matches_eager_graph_and_does_not_retrace():
    ref, _, _, _ = _run("float32", fixed_arch=[6])
    losses, step, _, _ = _run("float32", jit_compile=True, fixed_arch=[6])
    assert step.tracing_count == 1
    np.testing.assert_allclose(losses, ref, rtol=1e-4)


def test_jit_compile_is_refused_for_the_sandwich_step():
    with pytest.raises(ValueError, match="jit_compile needs mode 'standalone', got mode 'supernet'"):
        TrainConfig(mode="supernet", jit_compile=True).validate()
    with pytest.raises(ValueError, match="mixed_precision must be one of"):
        TrainConfig(mixed_precision="int8").validate()


def test_first_non_finite_step_is_kept_on_device():
    _, step, _, _ = _run("float32", steps=2)
    assert step.read_losses()[2] is None
    step.model.conv2.kernel.assign(tf.fill(step.model.conv2.kernel.shape, np.inf))
    batch = {k: tf.constant(v) for k, v in toy_batch(4, seed=1).items()}
    for _ in range(2):
        step(batch, np.array([[8], [2], [4]], np.int32))
    call, gt, _ = step.read_losses()[2]
    assert call == 2 and not np.all(np.isfinite(gt))
