"""Benchmarks that compare layers of the package: `train_step` times the sandwich training
step against the same sub-networks as lowered static models (`vipnas_tf.export`), so it
stands above both training and export."""
