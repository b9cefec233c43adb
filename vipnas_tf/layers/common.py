"""Helpers shared by the elastic layers: slicing maths and static-layer introspection."""
import keras
import numpy as np
import tensorflow as tf

from vipnas_tf.arch.arch import PADDINGS  # noqa: F401  (the paddings elastic layers take)

# The paper initialises weights from N(0, 0.001) (Sec. 4.2).
PAPER_INITIALIZER = {"class_name": "RandomNormal", "config": {"mean": 0.0, "stddev": 0.001}}


def as_int(value, default):
    """`value` as an int32 scalar tensor (or Python int), `default` when None."""
    if value is None:
        return default
    if isinstance(value, (int, np.integer)):
        return int(value)
    return tf.cast(value, tf.int32)


def centre_offset(max_kernel, kernel):
    """Offset of the centred K x K crop of a Kmax x Kmax kernel (paper Fig. A4)."""
    return (max_kernel - kernel) // 2


def split_static_name(name):
    """'stage1_block1_se__reduce' -> ('stage1_block1_se', 'reduce'): a static layer's
    elastic source layer and the part of it the static layer holds."""
    base, _, part = name.partition("__")
    return base, part or None


def static_in_channels(layer):
    """Input channels of a built static Keras layer, read from its own weight shapes
    (works whether or not the layer has been called in a functional graph)."""
    kernel_shape = tuple(layer.weights[0].shape)
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return int(kernel_shape[2])
    if isinstance(layer, keras.layers.Conv2D):
        return int(kernel_shape[2]) * int(layer.get_config().get("groups", 1))
    return int(kernel_shape[0])  # normalisation layers: [C]


def initializer(spec):
    return keras.initializers.get(spec)


def _strided_size(size, strides):
    """Output size of a stride-s conv of an odd kernel padded k // 2 on every side:
    floor((size - 1) / s) + 1 (None for an unknown size)."""
    return None if size is None else (int(size) - 1) // strides + 1


def symmetric_conv2d(inputs, kernel, strides, kernel_size):
    """`tf.nn.conv2d` with PyTorch's `padding=k // 2` on every side (odd k; `kernel_size`
    may be an int32 scalar tensor): an explicit zero pad, then 'VALID'. The static
    output shape is set, since a tensor pad hides it."""
    p = kernel_size // 2
    x = tf.pad(inputs, [[0, 0], [p, p], [p, p], [0, 0]])
    y = tf.nn.conv2d(x, kernel, strides, "VALID")
    return tf.ensure_shape(y, [inputs.shape[0], _strided_size(inputs.shape[1], strides),
                               _strided_size(inputs.shape[2], strides), kernel.shape[-1]])


def max_pool_3x3_s2(inputs, padding="same"):
    """3x3 / 2 max-pool. "symmetric" pads one zero on every side, then 'VALID': PyTorch's
    `MaxPool2d(3, 2, padding=1)` when the input is >= 0 (it follows a ReLU), as
    `vipnas_tf.models.static_ops.max_pool`."""
    if padding == "same":
        return tf.nn.max_pool2d(inputs, 3, 2, "SAME")
    x = tf.pad(inputs, [[0, 0], [1, 1], [1, 1], [0, 0]])
    return tf.nn.max_pool2d(x, 3, 2, "VALID")
