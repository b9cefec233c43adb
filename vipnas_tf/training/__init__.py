"""Training: sandwich-rule super-network training, stand-alone training, BN re-calibration.

    from vipnas_tf.training import TrainConfig, Trainer
    Trainer(TrainConfig(...), model_dir).train()

Library code takes plain values (`TrainConfig`); `scripts/train.py` maps absl flags onto it.
Model directories (`vipnas_tf.training.model_dir`): importing this package registers
every kind of run (the spatial and temporal tasks register theirs).
"""
from vipnas_tf.training.bn import predict_fn, recalibrate_bn  # noqa: F401
from vipnas_tf.training.model_dir import ModelDirError, RunKind, load_model, read_run_config  # noqa: F401
from vipnas_tf.training.config import TrainConfig  # noqa: F401
from vipnas_tf.training.losses import distillation_mse, keypoint_mse  # noqa: F401
from vipnas_tf.training.sandwich import FixedSampler, SandwichSampler  # noqa: F401
from vipnas_tf.training import spatial, temporal  # noqa: F401  (registration of the run kinds)
from vipnas_tf.training.trainer import Trainer, TrainingDivergedError  # noqa: F401
