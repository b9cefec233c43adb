"""ElasticBottleneck: the ResNet bottleneck with elastic width, kernel, groups and GC."""
import keras
import tensorflow as tf

from vipnas_tf.blocks.elastic_inverted_residual import maybe, residual_gamma_init
from vipnas_tf.layers import ElasticBatchNorm, ElasticContextBlock, ElasticConv2D


@keras.saving.register_keras_serializable(package="vipnas_tf")
class ElasticBottleneck(keras.layers.Layer):
    """1x1 -> k x k grouped -> 1x1 (BN after each) -> optional GC -> + shortcut -> ReLU.

    Args:
      max_in_channels: largest input channels.
      max_width: largest output channels.
      max_mid_channels: largest mid channels.
      max_kernel_size: largest kernel of the middle conv.
      max_in_per_group: largest input channels per group of the middle conv.
      strides: stride of the middle conv (PyTorch style).
      has_downsample: projection shortcut (1x1 conv + BN), used by a stage's first block.
      has_gc: whether a GC block exists (it can still be switched off per call).
      padding: "same" or "symmetric" padding of the strided middle conv (`ElasticConv2D`).

    Call arguments:
      inputs: [N, H, W, I].
      width, mid, kernel, groups, attention: the active choices.
      training: BN mode.
    """

    def __init__(
        self, max_in_channels, max_width, max_mid_channels, max_kernel_size, max_in_per_group,
        strides=1, has_downsample=False, has_gc=True, zero_init_residual=True, padding="same", **kwargs,
    ):
        super().__init__(**kwargs)
        self.max_in_channels = int(max_in_channels)
        self.max_width = int(max_width)
        self.max_mid_channels = int(max_mid_channels)
        self.max_kernel_size = int(max_kernel_size)
        self.max_in_per_group = int(max_in_per_group)
        self.strides = int(strides)
        self.has_downsample = bool(has_downsample)
        self.has_gc = bool(has_gc)
        self.zero_init_residual = bool(zero_init_residual)
        self.padding = padding
        n = self.name
        self.conv1 = ElasticConv2D(self.max_in_channels, self.max_mid_channels, 1, name=f"{n}_conv1")
        self.bn1 = ElasticBatchNorm(self.max_mid_channels, name=f"{n}_bn1")
        self.conv2 = ElasticConv2D(
            self.max_mid_channels, self.max_mid_channels, self.max_kernel_size, self.strides,
            max_in_per_group=self.max_in_per_group, padding=padding, name=f"{n}_conv2",
        )
        self.bn2 = ElasticBatchNorm(self.max_mid_channels, name=f"{n}_bn2")
        self.conv3 = ElasticConv2D(self.max_mid_channels, self.max_width, 1, name=f"{n}_conv3")
        self.bn3 = ElasticBatchNorm(self.max_width, name=f"{n}_bn3",
                                   gamma_initializer=residual_gamma_init(self.zero_init_residual))
        self.gc = ElasticContextBlock(self.max_width, name=f"{n}_gc") if self.has_gc else None
        if self.has_downsample:
            self.downsample = ElasticConv2D(self.max_in_channels, self.max_width, 1, self.strides, name=f"{n}_downsample")
            self.downsample_bn = ElasticBatchNorm(self.max_width, name=f"{n}_downsample_bn")

    @property
    def attention_module(self):
        """The block's switchable attention (GC here; subclasses may use another)."""
        return self.gc

    def build(self, input_shape=None):
        for layer in self._flatten_layers(include_self=False, recursive=False):
            if not layer.built:
                layer.build(None)
        self.built = True

    def call(self, inputs, width=None, mid=None, kernel=None, groups=None, attention=None, training=None):
        h = tf.nn.relu(self.bn1(self.conv1(inputs, out_channels=mid), training=training))
        h = tf.nn.relu(self.bn2(self.conv2(h, out_channels=mid, kernel_size=kernel, groups=groups), training=training))
        h = self.bn3(self.conv3(h, out_channels=width), training=training)
        if self.attention_module is not None:
            h = maybe(attention, self.attention_module, h)
        shortcut = inputs
        if self.has_downsample:
            shortcut = self.downsample_bn(self.downsample(inputs, out_channels=width), training=training)
        return tf.nn.relu(h + shortcut)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "max_in_channels": self.max_in_channels, "max_width": self.max_width,
                "max_mid_channels": self.max_mid_channels, "max_kernel_size": self.max_kernel_size,
                "max_in_per_group": self.max_in_per_group, "strides": self.strides,
                "has_downsample": self.has_downsample, "has_gc": self.has_gc,
                "zero_init_residual": self.zero_init_residual, "padding": self.padding,
            }
        )
        return config
