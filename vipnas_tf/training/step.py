"""The sandwich training step: one `tf.function`, one optimizer update per batch.

Per batch, the members of the sandwich (biggest, smallest, N random; rows of an int32
[M, L] tensor of encoded architectures) are trained in a `tf.while_loop` inside the
replica function: member 0 (the biggest) learns from the ground truth and leaves its
detached heatmaps as the teacher; every later member learns from the ground truth and
the teacher with equal weights (in-place distillation). The gradients of all members
are summed and applied once.

Why a while loop: the super-network's graph is traced once for all members, so tracing
costs the same for N = 0 or N = 10 (an unrolled Python loop would trace the whole
network M times), and the architectures are tensors, so a new architecture never
re-traces the step.

Distribution: the step runs under `strategy.run`; each replica scales its per-example
losses by the *global* batch size (`tf.nn.compute_average_loss`) and the optimizer sums
the replicas' gradients, so the update equals a one-device step on the global batch
(batch-norm statistics are per replica, as with Keras' BatchNormalization).

Accelerators: the step keeps its losses on the device (`last_losses`, and the first
step whose loss was not finite), so a training loop reads them only when it logs or
saves; nothing in the step needs the host. Under a mixed-precision policy
(`keras.mixed_precision`) the predictions are cast to float32 before the heatmap and
distillation losses, and a `keras.optimizers.LossScaleOptimizer` (float16) gets its
loss scaled before the gradients (its `apply_gradients` unscales them and skips a
step whose gradients overflowed). `jit_compile=True` compiles the step with XLA.
"""
from typing import Callable, Optional

import keras
import tensorflow as tf

from vipnas_tf.training.losses import distillation_mse


def _gradients(tape, loss, variables):
    """Gradients with zeros for variables the member does not use (skipped blocks)."""
    grads = tape.gradient(loss, variables)
    return [tf.zeros(v.shape, v.dtype) if g is None else g for g, v in zip(grads, variables)]


class TrainStep:
    """Builds the distributed sandwich step.

    Args:
      strategy: a tf.distribute.Strategy (model and optimizer created in its scope).
      model: the Keras model whose `trainable_variables` are trained.
      optimizer: a Keras optimizer.
      forward: `forward(batch, arch, training) -> predictions`; `arch` is one row of the
        member tensor (or the fixed `Arch` of stand-alone training).
      loss_fn: `loss_fn(predictions, batch) -> per-example loss [n]`.
      teacher_shape: `teacher_shape(batch) -> shape` of the predictions (the loop
        carries the teacher's heatmaps).
      global_batch_size: the global batch size (loss scaling).
      num_members: M, rows of the member tensor.
      distill: in-place distillation from member 0.
      distill_start: optimizer step at which in-place distillation starts (0: from the
        first step, the paper's recipe). Before it every member learns from the ground
        truth only; the distillation loss is still computed and logged. A short budget
        from scratch benefits: the biggest's heatmaps are the mean pose for the first
        few hundred steps, and distilling them holds the other members there.
      random_start: optimizer step at which the members after the first two (the
        sandwich's random ones) join (0: from the first step, the paper's recipe).
        Before it only the biggest and the smallest train, and their steps cost no
        more than with N = 0; the random members then start from a biggest that has
        left the mean pose (the progressive order of once-for-all). Their losses read
        0 before it.
      fixed_arch: stand-alone training of one architecture (a Python `Arch`: the graph
        is specialised to it; no loop, no distillation).
      jit_compile: compile the step with XLA.

    Call:
      step(distributed_batch, members int32 [M, L]) -> (gt_losses [M], kd_losses [M]),
      global means, as tensors (left on the device; `read_losses` fetches them).
    """

    def __init__(self, strategy, model, optimizer, forward: Callable, loss_fn: Callable,
                 teacher_shape: Callable, global_batch_size: int, num_members: int,
                 distill: bool = True, fixed_arch=None, distill_fn: Optional[Callable] = None,
                 distill_start: int = 0, random_start: int = 0, jit_compile: bool = False):
        self.strategy = strategy
        self.model = model
        self.optimizer = optimizer
        self.forward = forward
        self.loss_fn = loss_fn
        self.teacher_shape = teacher_shape
        self.global_batch_size = int(global_batch_size)
        self.num_members = int(num_members)
        self.distill = bool(distill)
        if int(distill_start) < 0:
            raise ValueError(f"distill_start must be >= 0, got {distill_start}")
        self.distill_start = int(distill_start)
        if int(random_start) < 0:
            raise ValueError(f"random_start must be >= 0, got {random_start}")
        self.random_start = int(random_start)
        self.fixed_arch = fixed_arch
        self.distill_fn = distill_fn or distillation_mse
        self.trace_count = 0
        self.jit_compile = bool(jit_compile)
        self.loss_scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        # Device-side state of the last step (plain variables: written once per step
        # from the reduced losses, read by the loop every log / checkpoint step).
        m = 1 if fixed_arch is not None else self.num_members
        self.calls = tf.Variable(0, dtype=tf.int64, trainable=False, name="step_calls")
        self.last_gt = tf.Variable(tf.zeros([m]), trainable=False, name="last_gt")
        self.last_kd = tf.Variable(tf.zeros([m]), trainable=False, name="last_kd")
        self.first_bad = tf.Variable(-1, dtype=tf.int64, trainable=False, name="first_bad_call")
        self.bad_gt = tf.Variable(tf.zeros([m]), trainable=False, name="bad_gt")
        self.bad_kd = tf.Variable(tf.zeros([m]), trainable=False, name="bad_kd")
        self._fn = tf.function(self._step, reduce_retracing=True, jit_compile=self.jit_compile)

    def _average(self, per_example):
        return tf.nn.compute_average_loss(per_example, global_batch_size=self.global_batch_size)

    def _predict(self, batch, arch):
        """The member's predictions in float32 (the losses' dtype under any policy)."""
        return tf.cast(self.forward(batch, arch, True), tf.float32)

    def _scaled(self, loss):
        return self.optimizer.scale_loss(loss) if self.loss_scaled else loss

    def _replica_fixed(self, batch, members):
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            pred = self._predict(batch, self.fixed_arch)
            loss = self._average(self.loss_fn(pred, batch))
            scaled = self._scaled(loss)
        grads = _gradients(tape, scaled, variables)
        self.optimizer.apply_gradients(zip(grads, variables))
        return tf.reshape(loss, [1]), tf.zeros([1])

    def _replica_sandwich(self, batch, members):
        variables = self.model.trainable_variables
        m = self.num_members
        # 0/1 weight of the distillation term; a tensor (the step is a variable), so
        # crossing distill_start does not re-trace the step.
        kd_weight = tf.cast(self.optimizer.iterations >= self.distill_start, tf.float32)
        # members run this step: all of them, or the two ends before random_start (a
        # tensor bound, so the loop is traced once and the early steps are cheaper)
        active = tf.where(self.optimizer.iterations >= self.random_start, m, min(m, 2))

        def body(i, teacher, grads, gt_losses, kd_losses):
            with tf.GradientTape() as tape:
                pred = self._predict(batch, members[i])
                gt = self.loss_fn(pred, batch)
                per_example = gt
                if self.distill:
                    kd = self.distill_fn(pred, teacher)
                    per_example = gt + kd_weight * tf.where(i > 0, kd, tf.zeros_like(kd))
                loss = self._scaled(self._average(per_example))
            g = _gradients(tape, loss, variables)
            grads = [a + tf.cast(b, a.dtype) for a, b in zip(grads, g)]
            onehot = tf.one_hot(i, m)
            gt_losses += onehot * self._average(gt)
            if self.distill:
                kd_losses += onehot * tf.where(i > 0, self._average(kd), 0.0)
                teacher = tf.where(i == 0, tf.stop_gradient(tf.cast(pred, teacher.dtype)), teacher)
            return i + 1, teacher, grads, gt_losses, kd_losses

        teacher = tf.zeros(self.teacher_shape(batch), tf.float32)
        grads = [tf.zeros_like(v) for v in variables]
        zeros = tf.zeros([m])
        _, _, grads, gt_losses, kd_losses = tf.while_loop(
            lambda i, *_: i < active, body, (tf.constant(0), teacher, grads, zeros, zeros),
            parallel_iterations=1)
        self.optimizer.apply_gradients(zip(grads, variables))
        return gt_losses, kd_losses

    def _step(self, dist_batch, members):
        self.trace_count += 1  # Python side effect: runs once per trace
        fn = self._replica_fixed if self.fixed_arch is not None else self._replica_sandwich
        gt, kd = self.strategy.run(fn, args=(dist_batch, members))
        reduce = tf.distribute.ReduceOp.SUM
        gt = self.strategy.reduce(reduce, gt, axis=None)
        kd = self.strategy.reduce(reduce, kd, axis=None)
        finite = tf.logical_and(tf.reduce_all(tf.math.is_finite(gt)), tf.reduce_all(tf.math.is_finite(kd)))
        first = tf.logical_and(tf.logical_not(finite), self.first_bad < 0)
        self.first_bad.assign(tf.where(first, self.calls, self.first_bad))
        self.bad_gt.assign(tf.where(first, gt, self.bad_gt))
        self.bad_kd.assign(tf.where(first, kd, self.bad_kd))
        self.last_gt.assign(gt)
        self.last_kd.assign(kd)
        self.calls.assign_add(1)
        return gt, kd

    def __call__(self, dist_batch, members):
        return self._fn(dist_batch, tf.convert_to_tensor(members, tf.int32))

    @property
    def tracing_count(self):
        """Traces of the step function so far (tf.function's own count)."""
        return self._fn.experimental_get_tracing_count()

    def read_losses(self):
        """Host copy of the device-side state: (last gt [M], last kd [M], first_bad)
        with first_bad None, or (call index, gt [M], kd [M]) of the first step whose
        loss was not finite (call index 0 = this object's first step)."""
        bad = int(self.first_bad.numpy())
        first_bad = None if bad < 0 else (bad, self.bad_gt.numpy(), self.bad_kd.numpy())
        return self.last_gt.numpy(), self.last_kd.numpy(), first_bad
