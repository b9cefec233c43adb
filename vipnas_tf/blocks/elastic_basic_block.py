"""ElasticBasicBlock: ResNet's BasicBlock (HRNet's branch block) with elastic width,
kernel, groups and SE attention."""
import keras
import tensorflow as tf

from vipnas_tf.blocks.elastic_inverted_residual import maybe, residual_gamma_init
from vipnas_tf.layers import ElasticBatchNorm, ElasticConv2D, ElasticSE


@keras.saving.register_keras_serializable(package="vipnas_tf")
class ElasticBasicBlock(keras.layers.Layer):
    """k x k conv -> BN -> ReLU -> k x k conv -> BN -> optional SE -> + input -> ReLU.

    Both convs share the active width, kernel size and group number (paper A.2). The
    block keeps its input's channels (an HRNet branch runs at one width; the transition
    before the stage brings the branch to it), so the shortcut is the identity and the
    active `width` must equal the input's channels.

    Args:
      max_width: largest channel count (input = output).
      max_kernel_size: largest (odd) kernel size.
      max_in_per_group: largest input channels per group (default `max_width`: a plain
        conv is allowed).
      has_se: whether an SE module exists (it can still be switched off per call).

    Call arguments:
      inputs: [N, H, W, C] with C = the active width.
      width, kernel, groups, attention: active choices (ints or int32 scalar tensors).
      mid: ignored (accepted so that `SuperNetwork.run_stage` can drive the block).
      training: BN mode.

    Example:
      >>> block = ElasticBasicBlock(32, name="stage2_branch1_block1")
      >>> y = block(x, width=24, kernel=3, groups=4, attention=1)  # x: [N, H, W, 24]
    """

    def __init__(self, max_width, max_kernel_size=3, max_in_per_group=None, has_se=True, zero_init_residual=True,
                 **kwargs):
        super().__init__(**kwargs)
        self.max_width = int(max_width)
        self.max_kernel_size = int(max_kernel_size)
        self.max_in_per_group = int(max_in_per_group or max_width)
        self.has_se = bool(has_se)
        self.zero_init_residual = bool(zero_init_residual)
        n = self.name
        conv = lambda i: ElasticConv2D(  # noqa: E731
            self.max_width, self.max_width, self.max_kernel_size,
            max_in_per_group=self.max_in_per_group, name=f"{n}_conv{i}",
        )
        self.conv1, self.conv2 = conv(1), conv(2)
        self.bn1 = ElasticBatchNorm(self.max_width, name=f"{n}_bn1")
        self.bn2 = ElasticBatchNorm(self.max_width, name=f"{n}_bn2",
                                   gamma_initializer=residual_gamma_init(self.zero_init_residual))
        self.se = ElasticSE(self.max_width, name=f"{n}_se") if self.has_se else None

    def build(self, input_shape=None):
        for layer in self._flatten_layers(include_self=False, recursive=False):
            if not layer.built:
                layer.build(None)
        self.built = True

    def call(self, inputs, width=None, kernel=None, groups=None, attention=None, mid=None, training=None):
        kw = dict(out_channels=width, kernel_size=kernel, groups=groups)
        h = tf.nn.relu(self.bn1(self.conv1(inputs, **kw), training=training))
        h = self.bn2(self.conv2(h, **kw), training=training)
        if self.se is not None:
            h = maybe(attention, self.se, h)
        return tf.nn.relu(h + inputs)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "max_width": self.max_width, "max_kernel_size": self.max_kernel_size,
                "max_in_per_group": self.max_in_per_group, "has_se": self.has_se,
                "zero_init_residual": self.zero_init_residual,
            }
        )
        return config
