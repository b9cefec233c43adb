"""Helpers shared by the elastic layers: slicing maths and static-layer introspection."""
import keras
import numpy as np
import tensorflow as tf

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
