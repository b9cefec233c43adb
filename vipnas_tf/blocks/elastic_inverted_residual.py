"""ElasticInvertedResidual: MobileNetV3's block with elastic width, expansion, kernel,
groups and SE attention."""
import keras
import tensorflow as tf

from vipnas_tf.layers import ElasticBatchNorm, ElasticConv2D, ElasticSE

ACTIVATIONS = {"relu": tf.nn.relu, "hswish": keras.activations.hard_swish}


def residual_gamma_init(zero):
    """Initialiser of the last BN's gamma in a residual branch: "zeros" when `zero`.

    A block whose residual branch ends in a zero-gamma BN starts as the identity
    (Goyal et al. 2017, "Accurate, Large Minibatch SGD", Sec. 5.1), so a deep network
    trained from scratch behaves like a shallow one at first. Here that is the
    difference between leaving the mean-pose plateau or not on the quickstart's budget:
    S-ViPNAS-MobileNetV3 at 64x64 (`research/plateau.py`) stayed at AP 0.0003
    after 600 Adam steps with gamma 1 and reached AP 0.014-0.023 with gamma 0 (see research/README.md,
    "The mean-pose plateau and `--kernel_init`"). The kernels' initialisation is a separate choice
    (`vipnas_tf.training.init`).
    """
    return "zeros" if zero else "ones"


def maybe(flag, fn, x):
    """fn(x) if `flag` else x; `flag` may be a Python bool or a scalar tensor."""
    if isinstance(flag, (bool, int)):
        return fn(x) if flag else x
    return tf.cond(tf.cast(flag, tf.bool), lambda: fn(x), lambda: tf.identity(x))


@keras.saving.register_keras_serializable(package="vipnas_tf")
class ElasticInvertedResidual(keras.layers.Layer):
    """1x1 expand -> k x k grouped conv -> optional SE -> 1x1 project (+ residual).

    Args:
      max_in_channels: largest input channels.
      max_width: largest output channels.
      max_mid_channels: largest mid (expanded) channels.
      max_kernel_size: largest kernel of the middle conv.
      max_in_per_group: largest input channels per group of the middle conv.
      strides: stride of the middle conv.
      activation: "relu" or "hswish".
      has_expand: whether the block has the 1x1 expand conv (mid != in).
      has_se: whether an SE module exists (it can still be switched off per call).
      residual: add the input (stride 1 and in == out).
      zero_init_residual: start the residual branch's last BN at gamma 0 (see
        `residual_gamma_init`).
      padding: "same" or "symmetric" padding of the strided middle conv (`ElasticConv2D`).

    Call arguments:
      inputs: [N, H, W, I].
      width, mid, kernel, groups, attention: the active choices (ints or scalar tensors).
      training: BN mode.
    """

    def __init__(
        self, max_in_channels, max_width, max_mid_channels, max_kernel_size, max_in_per_group,
        strides=1, activation="relu", has_expand=True, has_se=True, residual=False, zero_init_residual=True,
        padding="same", **kwargs,
    ):
        super().__init__(**kwargs)
        self.max_in_channels = int(max_in_channels)
        self.max_width = int(max_width)
        self.max_mid_channels = int(max_mid_channels)
        self.max_kernel_size = int(max_kernel_size)
        self.max_in_per_group = int(max_in_per_group)
        self.strides = int(strides)
        self.activation = activation
        self.has_expand = bool(has_expand)
        self.has_se = bool(has_se)
        self.residual = bool(residual)
        self.zero_init_residual = bool(zero_init_residual)
        self.padding = padding
        n = self.name
        if self.has_expand:
            self.expand_conv = ElasticConv2D(self.max_in_channels, self.max_mid_channels, 1, name=f"{n}_expand_conv")
            self.expand_bn = ElasticBatchNorm(self.max_mid_channels, name=f"{n}_expand_bn")
        self.mid_conv = ElasticConv2D(
            self.max_mid_channels, self.max_mid_channels, self.max_kernel_size, self.strides,
            max_in_per_group=self.max_in_per_group, padding=padding, name=f"{n}_mid_conv",
        )
        self.mid_bn = ElasticBatchNorm(self.max_mid_channels, name=f"{n}_mid_bn")
        self.se = ElasticSE(self.max_mid_channels, name=f"{n}_se") if self.has_se else None
        self.project_conv = ElasticConv2D(self.max_mid_channels, self.max_width, 1, name=f"{n}_project_conv")
        self.project_bn = ElasticBatchNorm(self.max_width, name=f"{n}_project_bn",
                                          gamma_initializer=residual_gamma_init(self.residual and self.zero_init_residual))

    def build(self, input_shape=None):
        for layer in self._flatten_layers(include_self=False, recursive=False):
            if not layer.built:
                layer.build(None)
        self.built = True

    def call(self, inputs, width=None, mid=None, kernel=None, groups=None, attention=None, training=None):
        act = ACTIVATIONS[self.activation]
        h = inputs
        if self.has_expand:
            h = act(self.expand_bn(self.expand_conv(h, out_channels=mid), training=training))
        h = act(self.mid_bn(self.mid_conv(h, out_channels=mid, kernel_size=kernel, groups=groups), training=training))
        if self.se is not None:
            h = maybe(attention, self.se, h)
        h = self.project_bn(self.project_conv(h, out_channels=width), training=training)
        return h + inputs if self.residual else h

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "max_in_channels": self.max_in_channels, "max_width": self.max_width,
                "max_mid_channels": self.max_mid_channels, "max_kernel_size": self.max_kernel_size,
                "max_in_per_group": self.max_in_per_group, "strides": self.strides,
                "activation": self.activation, "has_expand": self.has_expand, "has_se": self.has_se,
                "residual": self.residual, "zero_init_residual": self.zero_init_residual,
                "padding": self.padding,
            }
        )
        return config
