"""Static twins of the elastic ops, made of standard Keras 3 layers and `GroupedConv2D`.

A static (extracted or preset) model is built with these functions on symbolic
tensors. Layer names follow the elastic layers' names; a static layer that holds part
of an elastic layer is named '<elastic name>__<part>' (see `split_static_name`), which
is how `SuperNetwork.extract` finds the weights to copy.

A grouped (not depthwise) conv is a `GroupedConv2D`: Keras' `Conv2D(groups=g)` with
the same configuration and weights, computed by `tf.nn.conv2d` like the super-network's
`ElasticConv2D`, so a static model trains as fast as the super-network's fixed graph
(Keras' own grouped Conv2D goes through XLA on CPU, minutes per training step).
"""
import keras

from vipnas_tf.layers import common
from vipnas_tf.layers.elastic_attention import gc_planes
from vipnas_tf.layers.elastic_deconv2d import PHASES, phase_padding
from vipnas_tf.layers.grouped_conv2d import GroupedConv2D

ACTIVATIONS = {"relu": "relu", "hswish": "hard_swish", "hsigmoid": "hard_sigmoid"}


def _init():
    return keras.initializers.get(common.PAPER_INITIALIZER)


def conv(x, filters, kernel, name, strides=1, groups=1, use_bias=False, padding="same"):
    """Conv2D; DepthwiseConv2D when the conv is depthwise (groups == in == out),
    `GroupedConv2D` when it is otherwise grouped."""
    in_ch = int(x.shape[-1])
    if groups > 1 and groups == in_ch == filters:
        return keras.layers.DepthwiseConv2D(
            kernel, strides=strides, padding=padding, use_bias=use_bias,
            depthwise_initializer=_init(), name=name,
        )(x)
    if in_ch % groups or filters % groups:
        raise ValueError(f"{name}: {groups} groups do not divide {in_ch} input / {filters} output channels")
    cls = GroupedConv2D if groups > 1 else keras.layers.Conv2D
    return cls(
        filters, kernel, strides=strides, padding=padding, groups=groups, use_bias=use_bias,
        kernel_initializer=_init(), name=name,
    )(x)


def strided_conv(x, filters, kernel, name, strides=1, groups=1, padding="same"):
    """`conv` with the architecture's padding (`Arch.padding`).

    "symmetric" pads `kernel // 2` zeros on every side (PyTorch / mmpose) with an
    explicit ZeroPadding2D before a 'valid' conv when the stride is 2; at stride 1 an
    odd kernel pads symmetrically under 'same' already.
    """
    if padding == "same" or strides == 1 or kernel == 1:
        if padding != "same" and kernel % 2 == 0:
            raise ValueError(f"{name}: symmetric padding needs an odd kernel, got {kernel}")
        return conv(x, filters, kernel, name, strides=strides, groups=groups)
    if kernel % 2 == 0:
        raise ValueError(f"{name}: symmetric padding needs an odd kernel, got {kernel}")
    x = keras.layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
    return conv(x, filters, kernel, name, strides=strides, groups=groups, padding="valid")


def max_pool(x, name, padding="same"):
    """3x3 / 2 max-pool. "symmetric" pads one zero on every side like PyTorch's
    `MaxPool2d(3, 2, padding=1)`: equal to its -inf padding because the input follows
    a ReLU (>= 0)."""
    if padding == "same":
        return keras.layers.MaxPooling2D(3, 2, padding="same", name=name)(x)
    x = keras.layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
    return keras.layers.MaxPooling2D(3, 2, padding="valid", name=name)(x)


def batch_norm(x, name):
    return keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name)(x)


def activation(x, kind, name):
    return keras.layers.Activation(ACTIVATIONS[kind], name=name)(x)


def squeeze_excite(x, name, ratio=4):
    """SE: GAP -> 1x1 conv (ReLU) -> 1x1 conv (hard-sigmoid) -> scale (mmpose SELayer)."""
    c = int(x.shape[-1])
    t = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}__pool")(x)
    t = keras.layers.Conv2D(c // ratio, 1, activation="relu", kernel_initializer=_init(), name=f"{name}__reduce")(t)
    t = keras.layers.Conv2D(c, 1, activation="hard_sigmoid", kernel_initializer=_init(), name=f"{name}__expand")(t)
    return keras.layers.Multiply(name=f"{name}__scale")([x, t])


def context_block(x, name, epsilon=1e-5):
    """GC block: attention pooling + channel-add transform (GCNet), static shapes."""
    _, h, w, c = (int(d) if d is not None else None for d in x.shape)
    p = gc_planes(c)
    mask = keras.layers.Conv2D(1, 1, kernel_initializer=_init(), name=f"{name}__mask")(x)
    mask = keras.layers.Reshape((h * w, 1), name=f"{name}__mask_flat")(mask)
    mask = keras.layers.Softmax(axis=1, name=f"{name}__softmax")(mask)
    flat = keras.layers.Reshape((h * w, c), name=f"{name}__flat")(x)
    context = keras.layers.Dot(axes=1, name=f"{name}__pool")([mask, flat])  # [N, 1, C]
    context = keras.layers.Reshape((1, 1, c), name=f"{name}__context")(context)
    t = keras.layers.Conv2D(p, 1, kernel_initializer=_init(), name=f"{name}__add1")(context)
    t = keras.layers.LayerNormalization(epsilon=epsilon, name=f"{name}__ln")(t)
    t = keras.layers.Activation("relu", name=f"{name}__relu")(t)
    t = keras.layers.Conv2D(c, 1, kernel_initializer="zeros", name=f"{name}__add2")(t)
    return keras.layers.Add(name=f"{name}__add")([x, t])


def subpixel_deconv(x, filters, groups, name):
    """Stride-2, kernel-4 grouped transposed conv as 4 phase convs + depth-to-space.

    Same maths as `ElasticConv2DTranspose` (see its module docstring), written with
    ZeroPadding2D, Conv2D/DepthwiseConv2D (2x2 'valid'), Concatenate, Reshape and
    Permute, since Keras 3's Conv2DTranspose has no `groups`.
    """
    h, w = int(x.shape[1]), int(x.shape[2])
    phases = []
    for a, b in PHASES:
        xp = keras.layers.ZeroPadding2D((phase_padding(a), phase_padding(b)), name=f"{name}__pad{a}{b}")(x)
        phases.append(conv(xp, filters, 2, f"{name}__p{a}{b}", groups=groups, padding="valid"))
    y = keras.layers.Concatenate(axis=-1, name=f"{name}__phases")(phases)
    y = keras.layers.Reshape((h, w, 2, 2, filters), name=f"{name}__split")(y)
    y = keras.layers.Permute((1, 3, 2, 4, 5), name=f"{name}__interleave")(y)
    return keras.layers.Reshape((2 * h, 2 * w, filters), name=f"{name}__merge")(y)

