"""Elastic (weight-sliced) Keras layers, and `GroupedConv2D` (the static models' grouped conv)."""
from vipnas_tf.layers.elastic_attention import ElasticContextBlock, ElasticSE  # noqa: F401
from vipnas_tf.layers.elastic_batch_norm import ElasticBatchNorm  # noqa: F401
from vipnas_tf.layers.elastic_conv2d import ElasticConv2D  # noqa: F401
from vipnas_tf.layers.elastic_deconv2d import ElasticConv2DTranspose  # noqa: F401
from vipnas_tf.layers.grouped_conv2d import GroupedConv2D  # noqa: F401
