"""Weights from other frameworks: mmpose checkpoints (`vipnas_tf.interop.mmpose`)."""
