"""ElasticConv2D: a conv whose width, kernel size and group number are chosen per call."""
import keras
import numpy as np
import tensorflow as tf

from vipnas_tf.layers import common


@keras.saving.register_keras_serializable(package="vipnas_tf")
class ElasticConv2D(keras.layers.Layer):
    """2D convolution with elastic width, kernel size and group number.

    The kernel is created once at its maximum shape
    `[max_kernel_size, max_kernel_size, max_in_per_group, max_out_channels]` and *sliced*
    to the active choice on every call (once-for-all / ViPNAS Appendix A.1):

    - width W: the first W output filters (Fig. A2);
    - kernel size K: the centred K x K crop (Fig. A4);
    - groups G: the filter is tailored to `[K, K, I/G, W]` by keeping the first I/G input
      channels (Fig. A3), where I is the input's (active) channel count.

    Choices may be Python ints or int32 scalar tensors; with tensors one traced graph
    serves every architecture.

    Padding (`padding`, fixed at construction): "same" is TF's SAME; "symmetric" pads
    `k // 2` zeros on every side of the active kernel size k, then convolves 'valid'
    (PyTorch's `padding=k // 2`, mmpose's networks). The two differ at stride 2 only
    (SAME pads one less before than after an even size); at stride 1 an odd kernel pads
    `k // 2` on every side either way.

    Args:
      max_in_channels: largest input channel count.
      max_out_channels: largest output channel count.
      max_kernel_size: largest (odd) kernel size.
      strides: stride (static).
      max_in_per_group: largest input channels per group (default `max_in_channels`:
        standard conv possible). A depthwise-only conv uses 1.
      use_bias: add a bias (sliced like the filters).
      kernel_initializer: initializer of the full kernel.
      padding: "same" (default) or "symmetric" (see above).

    Call arguments:
      inputs: [N, H, W, I] with I <= max_in_channels.
      out_channels: active width (default max).
      kernel_size: active kernel size (default max).
      groups: active group number (default 1 if I <= max_in_per_group).

    Example:
      >>> conv = ElasticConv2D(64, 128, max_kernel_size=7, max_in_per_group=8)
      >>> y = conv(x, out_channels=96, kernel_size=5, groups=12)  # x: [N, H, W, 96]
    """

    def __init__(
        self,
        max_in_channels,
        max_out_channels,
        max_kernel_size=1,
        strides=1,
        max_in_per_group=None,
        use_bias=False,
        kernel_initializer=common.PAPER_INITIALIZER,
        padding="same",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.max_in_channels = int(max_in_channels)
        self.max_out_channels = int(max_out_channels)
        self.max_kernel_size = int(max_kernel_size)
        self.strides = int(strides)
        self.max_in_per_group = int(max_in_per_group or max_in_channels)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        if padding not in common.PADDINGS:
            raise ValueError(f"{self.name}: padding must be one of {common.PADDINGS}, got {padding!r}")
        self.padding = padding
        if self.max_kernel_size % 2 != 1:
            raise ValueError(f"{self.name}: max_kernel_size must be odd, got {max_kernel_size}")

    def build(self, input_shape=None):
        k = self.max_kernel_size
        self.kernel = self.add_weight(
            name="kernel",
            shape=(k, k, self.max_in_per_group, self.max_out_channels),
            initializer=common.initializer(self.kernel_initializer),
        )
        self.bias = (
            self.add_weight(name="bias", shape=(self.max_out_channels,), initializer="zeros")
            if self.use_bias
            else None
        )
        self.built = True

    def active_kernel(self, in_channels, out_channels=None, kernel_size=None, groups=None):
        out_channels = common.as_int(out_channels, self.max_out_channels)
        kernel_size = common.as_int(kernel_size, self.max_kernel_size)
        groups = common.as_int(groups, 1)
        off = common.centre_offset(self.max_kernel_size, kernel_size)
        in_per_group = in_channels // groups
        kernel = tf.convert_to_tensor(self.kernel)
        return kernel[off : off + kernel_size, off : off + kernel_size, :in_per_group, :out_channels]

    def call(self, inputs, out_channels=None, kernel_size=None, groups=None):
        in_channels = inputs.shape[-1] if inputs.shape[-1] is not None else tf.shape(inputs)[-1]
        w = self.active_kernel(in_channels, out_channels, kernel_size, groups)
        if self.padding == "symmetric" and self.strides > 1 and self.max_kernel_size > 1:
            y = common.symmetric_conv2d(inputs, w, self.strides, common.as_int(kernel_size, self.max_kernel_size))
        else:
            y = tf.nn.conv2d(inputs, w, self.strides, "SAME")
        if self.bias is not None:
            out_channels = common.as_int(out_channels, self.max_out_channels)
            y = y + tf.convert_to_tensor(self.bias)[:out_channels]
        return y

    def export_weights(self, static_layer, part=None):
        """Sliced weights for a built static `Conv2D` / `DepthwiseConv2D` twin."""
        cfg = static_layer.get_config()
        in_ch = common.static_in_channels(static_layer)
        k = cfg["kernel_size"][0]
        if isinstance(static_layer, keras.layers.DepthwiseConv2D):
            w = np.asarray(self.active_kernel(in_ch, in_ch, k, in_ch))  # [k, k, 1, C]
            weights = [np.transpose(w, (0, 1, 3, 2))]  # -> [k, k, C, 1]
            out = in_ch
        else:
            out = cfg["filters"]
            weights = [np.asarray(self.active_kernel(in_ch, out, k, cfg.get("groups", 1)))]
        if self.use_bias:
            weights.append(np.asarray(self.bias)[:out])
        return weights

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "max_in_channels": self.max_in_channels,
                "max_out_channels": self.max_out_channels,
                "max_kernel_size": self.max_kernel_size,
                "strides": self.strides,
                "max_in_per_group": self.max_in_per_group,
                "use_bias": self.use_bias,
                "kernel_initializer": self.kernel_initializer,
                "padding": self.padding,
            }
        )
        return config
