"""ElasticConv2DTranspose: the head's stride-2 transposed conv, elastic in width and groups.

Keras 3's `Conv2DTranspose` has no `groups` (`ValueError: Unrecognized keyword
arguments` with Keras 3.15), and both published heads use
grouped (MobileNetV3: depthwise) transposed convs. A stride-2, kernel-4, padding-1
transposed conv (PyTorch `ConvTranspose2d(k=4, s=2, p=1)`) is computed here as four
sub-pixel phase convs on the input grid followed by depth-to-space:

    out[2m + a, 2n + b] = sum over 2x2 taps of x around (m, n)   for a, b in {0, 1}

Phase a uses kernel rows (3 - a, 1 - a) on input rows (m - 1 + a, m + a); each phase is
a plain 2x2 'valid' grouped conv on a padded input. The MACs are exactly those of the
transposed conv (no zero-insertion waste), every op is a standard conv, and the static
twin (`vipnas_tf.models.static_ops.subpixel_deconv`) converts to plain TFLite CONV_2D /
DEPTHWISE_CONV_2D + RESHAPE/TRANSPOSE ops.
"""
import keras
import numpy as np
import tensorflow as tf

from vipnas_tf.layers import common

PHASES = ((0, 0), (0, 1), (1, 0), (1, 1))


def phase_taps(a):
    """Kernel rows used by output phase `a` of a k=4, s=2, p=1 transposed conv."""
    return (3 - a, 1 - a)


def phase_padding(a):
    """(before, after) zero padding of the input for phase `a`."""
    return (1, 0) if a == 0 else (0, 1)


@keras.saving.register_keras_serializable(package="vipnas_tf")
class ElasticConv2DTranspose(keras.layers.Layer):
    """Stride-2 transposed conv (kernel 4) with elastic width and group number.

    The kernel `[4, 4, max_in_per_group, max_out_channels]` is sliced like
    `ElasticConv2D`'s: the first W output filters, the first I/G input channels.

    Args:
      max_in_channels: largest input channel count.
      max_out_channels: largest output channel count (W).
      max_in_per_group: largest input channels per group (I / min groups).
      kernel_size: 4 (the paper's deconvs; the phase split is written for it).
      kernel_initializer: initializer of the full kernel.

    Call arguments:
      inputs: [N, H, W, I].
      out_channels: active width (default max).
      groups: active group number (default 1).

    Returns: [N, 2H, 2W, out_channels].

    Example:
      >>> deconv = ElasticConv2DTranspose(640, 256, max_in_per_group=40)
      >>> y = deconv(x, out_channels=144, groups=16)
    """

    def __init__(
        self,
        max_in_channels,
        max_out_channels,
        max_in_per_group=None,
        kernel_size=4,
        kernel_initializer=common.PAPER_INITIALIZER,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(kernel_size) != 4:
            raise ValueError(f"{self.name}: only kernel_size=4 (stride 2, padding 1) is supported, got {kernel_size}")
        self.max_in_channels = int(max_in_channels)
        self.max_out_channels = int(max_out_channels)
        self.max_in_per_group = int(max_in_per_group or max_in_channels)
        self.kernel_size = 4
        self.kernel_initializer = kernel_initializer

    def build(self, input_shape=None):
        self.kernel = self.add_weight(
            name="kernel",
            shape=(4, 4, self.max_in_per_group, self.max_out_channels),
            initializer=common.initializer(self.kernel_initializer),
        )
        self.built = True

    def active_kernel(self, in_channels, out_channels=None, groups=None):
        out_channels = common.as_int(out_channels, self.max_out_channels)
        groups = common.as_int(groups, 1)
        return tf.convert_to_tensor(self.kernel)[:, :, : in_channels // groups, :out_channels]

    def call(self, inputs, out_channels=None, groups=None):
        in_channels = inputs.shape[-1] if inputs.shape[-1] is not None else tf.shape(inputs)[-1]
        w = self.active_kernel(in_channels, out_channels, groups)
        phases = []
        for a, b in PHASES:
            (pt, pb), (pl, pr) = phase_padding(a), phase_padding(b)
            x = tf.pad(inputs, [[0, 0], [pt, pb], [pl, pr], [0, 0]])
            wp = tf.gather(tf.gather(w, phase_taps(a), axis=0), phase_taps(b), axis=1)
            phases.append(tf.nn.conv2d(x, wp, 1, "VALID"))
        return tf.nn.depth_to_space(tf.concat(phases, axis=-1), 2)

    def export_weights(self, static_layer, part=None):
        """Phase kernel for a static phase conv named '<this layer>__p<a><b>'."""
        if not part or not part.startswith("p") or len(part) != 3:
            raise ValueError(f"{self.name}: static layer {static_layer.name!r} is not a phase conv (__pAB)")
        a, b = int(part[1]), int(part[2])
        in_ch = common.static_in_channels(static_layer)
        if isinstance(static_layer, keras.layers.DepthwiseConv2D):
            w = np.asarray(self.active_kernel(in_ch, in_ch, in_ch))
        else:
            cfg = static_layer.get_config()
            w = np.asarray(self.active_kernel(in_ch, cfg["filters"], cfg.get("groups", 1)))
        w = w[list(phase_taps(a))][:, list(phase_taps(b))]
        if isinstance(static_layer, keras.layers.DepthwiseConv2D):
            w = np.transpose(w, (0, 1, 3, 2))
        return [w]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "max_in_channels": self.max_in_channels,
                "max_out_channels": self.max_out_channels,
                "max_in_per_group": self.max_in_per_group,
                "kernel_size": self.kernel_size,
                "kernel_initializer": self.kernel_initializer,
            }
        )
        return config
