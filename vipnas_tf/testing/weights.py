"""Random weights for tests (re-exported from `vipnas_tf.models.random_init`)."""
from vipnas_tf.models.random_init import randomize_weights  # noqa: F401
