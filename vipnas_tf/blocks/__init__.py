"""Elastic blocks built from the elastic layers."""
from vipnas_tf.blocks.elastic_bottleneck import ElasticBottleneck  # noqa: F401
from vipnas_tf.blocks.elastic_inverted_residual import ElasticInvertedResidual, maybe  # noqa: F401
