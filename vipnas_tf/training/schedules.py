"""Learning-rate schedules (Keras LearningRateSchedule, serialisable, step-based)."""
import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="vipnas_tf")
class PoseLRSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up, then step decay, cosine decay or constant.

    Args:
      base_lr: peak learning rate.
      total_steps: length of training.
      kind: "step" (x `decay_factor` at each fraction of `decay_at`: the paper's
        x0.1 at epochs 200 and 230 of 250 is decay_at=(0.8, 0.92)), "cosine" (to 0),
        "constant".
      decay_at: fractions of total_steps.
      decay_factor: step-decay factor.
      warmup_steps: linear warm-up from base_lr / 10 (0 = none).
    """

    def __init__(self, base_lr, total_steps, kind="step", decay_at=(0.8, 0.92), decay_factor=0.1,
                 warmup_steps=0):
        self.base_lr = float(base_lr)
        self.total_steps = int(total_steps)
        self.kind = kind
        self.decay_at = tuple(float(f) for f in decay_at)
        self.decay_factor = float(decay_factor)
        self.warmup_steps = int(warmup_steps)

    def boundaries(self):
        return [int(round(f * self.total_steps)) for f in self.decay_at]

    def __call__(self, step):
        step = ops.cast(step, "float32")
        if self.kind == "step":
            lr = ops.convert_to_tensor(self.base_lr, "float32")
            for b in self.boundaries():
                lr = ops.where(step >= b, lr * self.decay_factor, lr)
        elif self.kind == "cosine":
            frac = ops.clip(step / max(self.total_steps, 1), 0.0, 1.0)
            lr = 0.5 * self.base_lr * (1.0 + ops.cos(math.pi * frac))
        else:
            lr = ops.convert_to_tensor(self.base_lr, "float32")
        if self.warmup_steps > 0:
            w = ops.clip(step / self.warmup_steps, 0.0, 1.0)
            lr = lr * (0.1 + 0.9 * w)
        return lr

    def get_config(self):
        return {"base_lr": self.base_lr, "total_steps": self.total_steps, "kind": self.kind,
                "decay_at": list(self.decay_at), "decay_factor": self.decay_factor,
                "warmup_steps": self.warmup_steps}
