"""A tiny elastic model with the SuperNetwork interface the training code uses.

Width-elastic 1x1 conv -> ElasticBatchNorm -> ReLU -> 1x1 conv to K heatmaps; the
architecture is an int32 vector [width]. Traces in a second, so distribution tests can
check the training step's arithmetic exactly.
"""
import keras
import numpy as np
import tensorflow as tf

from vipnas_tf.layers import ElasticBatchNorm, ElasticConv2D

K = 3


class ToyNet(keras.Model):
    num_keypoints = K

    def __init__(self, max_width=8, **kwargs):
        super().__init__(**kwargs)
        self.conv1 = ElasticConv2D(3, max_width, 1, kernel_initializer="glorot_uniform", name="conv1")
        self.bn = ElasticBatchNorm(max_width, name="bn")
        self.conv2 = ElasticConv2D(max_width, K, 1, use_bias=True, kernel_initializer="glorot_uniform",
                                   name="conv2")
        for layer in (self.conv1, self.bn, self.conv2):
            layer.build(None)
        self.built = True

    def call(self, x, arch=None, training=None):
        width = arch[0]
        h = self.conv1(x, out_channels=width)
        h = tf.nn.relu(self.bn(h, training=training))
        return self.conv2(h)

    def encode(self, arch):
        return np.asarray(arch, np.int32)

    def batch_norm_layers(self):
        return [self.bn]

    def set_bn_momentum(self, value):
        self.bn.set_momentum(value)

    def reset_bn_statistics(self):
        self.bn.reset_statistics()


def toy_batch(n=4, size=8, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "image": rng.normal(size=(n, size, size, 3)).astype(np.float32),
        "heatmaps": rng.uniform(size=(n, size, size, K)).astype(np.float32),
        "target_weight": (rng.uniform(size=(n, K)) > 0.3).astype(np.float32),
    }
