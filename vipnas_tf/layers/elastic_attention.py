"""Elastic attention modules: squeeze-and-excitation (SE) and global context (GC).

Both operate on the active channel count C of their input (their weights are sliced
like the convs'), and a block switches them off by skipping the call (identity,
paper Fig. A5).
"""
import keras
import numpy as np
import tensorflow as tf

from vipnas_tf.layers import common


def _dense(x, kernel, bias):
    return tf.einsum("nhwc,cd->nhwd", x, kernel) + bias


@keras.saving.register_keras_serializable(package="vipnas_tf")
class ElasticSE(keras.layers.Layer):
    """Squeeze-and-excitation on the active channels (mmpose SELayer, ratio 4).

    global average pool -> 1x1 conv C -> int(C / ratio) + ReLU -> 1x1 conv back to C +
    hard-sigmoid -> scale the input. Weights exist for `max_channels` and are sliced.

    Args:
      max_channels: largest C.
      ratio: squeeze ratio (squeeze channels = int(C / ratio)).

    Call arguments:
      inputs: [N, H, W, C].
    """

    def __init__(self, max_channels, ratio=4, kernel_initializer=common.PAPER_INITIALIZER, **kwargs):
        super().__init__(**kwargs)
        self.max_channels = int(max_channels)
        self.ratio = int(ratio)
        self.kernel_initializer = kernel_initializer

    def squeeze(self, channels):
        return channels // self.ratio  # == int(C / ratio) for positive ints

    def build(self, input_shape=None):
        c, s = self.max_channels, self.squeeze(self.max_channels)
        init = common.initializer(self.kernel_initializer)
        self.reduce_kernel = self.add_weight(name="reduce_kernel", shape=(c, s), initializer=init)
        self.reduce_bias = self.add_weight(name="reduce_bias", shape=(s,), initializer="zeros")
        self.expand_kernel = self.add_weight(name="expand_kernel", shape=(s, c), initializer=init)
        self.expand_bias = self.add_weight(name="expand_bias", shape=(c,), initializer="zeros")
        self.built = True

    def call(self, inputs):
        c = inputs.shape[-1] if inputs.shape[-1] is not None else tf.shape(inputs)[-1]
        s = self.squeeze(c)
        t = tf.reduce_mean(inputs, axis=[1, 2], keepdims=True)
        t = tf.nn.relu(_dense(t, tf.convert_to_tensor(self.reduce_kernel)[:c, :s], tf.convert_to_tensor(self.reduce_bias)[:s]))
        t = keras.activations.hard_sigmoid(
            _dense(t, tf.convert_to_tensor(self.expand_kernel)[:s, :c], tf.convert_to_tensor(self.expand_bias)[:c])
        )
        return inputs * t

    def export_weights(self, static_layer, part=None):
        """Weights of the static 1x1 convs named '<se>__reduce' and '<se>__expand'."""
        if part == "reduce":
            c = common.static_in_channels(static_layer)
            s = self.squeeze(c)
            return [np.asarray(self.reduce_kernel)[None, None, :c, :s], np.asarray(self.reduce_bias)[:s]]
        if part == "expand":
            s = common.static_in_channels(static_layer)
            c = static_layer.get_config()["filters"]
            return [np.asarray(self.expand_kernel)[None, None, :s, :c], np.asarray(self.expand_bias)[:c]]
        raise ValueError(f"{self.name}: no static part {part!r}")

    def get_config(self):
        config = super().get_config()
        config.update({"max_channels": self.max_channels, "ratio": self.ratio, "kernel_initializer": self.kernel_initializer})
        return config


def gc_planes(channels):
    """GC bottleneck width P = max(16, C // 16) (mmpose ViPNAS_Bottleneck)."""
    if isinstance(channels, int):
        return max(16, channels // 16)
    return tf.maximum(16, channels // 16)


@keras.saving.register_keras_serializable(package="vipnas_tf")
class ElasticContextBlock(keras.layers.Layer):
    """Global context (GC) block on the active channels (GCNet, as in ViPNAS-Res50).

    Attention pooling (1x1 conv C -> 1, softmax over H*W, weighted sum of the input) ->
    channel-add transform (1x1 conv C -> P, LayerNorm, ReLU, 1x1 conv P -> C, the last
    conv zero-initialised) -> added to every position of the input. P = max(16, C // 16).

    Args:
      max_channels: largest C.

    Call arguments:
      inputs: [N, H, W, C].
    """

    def __init__(self, max_channels, epsilon=1e-5, kernel_initializer=common.PAPER_INITIALIZER, **kwargs):
        super().__init__(**kwargs)
        self.max_channels = int(max_channels)
        self.epsilon = float(epsilon)
        self.kernel_initializer = kernel_initializer

    def build(self, input_shape=None):
        c, p = self.max_channels, gc_planes(self.max_channels)
        init = common.initializer(self.kernel_initializer)
        self.mask_kernel = self.add_weight(name="mask_kernel", shape=(c, 1), initializer=init)
        self.mask_bias = self.add_weight(name="mask_bias", shape=(1,), initializer="zeros")
        self.add1_kernel = self.add_weight(name="add1_kernel", shape=(c, p), initializer=init)
        self.add1_bias = self.add_weight(name="add1_bias", shape=(p,), initializer="zeros")
        self.ln_gamma = self.add_weight(name="ln_gamma", shape=(p,), initializer="ones")
        self.ln_beta = self.add_weight(name="ln_beta", shape=(p,), initializer="zeros")
        self.add2_kernel = self.add_weight(name="add2_kernel", shape=(p, c), initializer="zeros")
        self.add2_bias = self.add_weight(name="add2_bias", shape=(c,), initializer="zeros")
        self.built = True

    def call(self, inputs):
        c = inputs.shape[-1] if inputs.shape[-1] is not None else tf.shape(inputs)[-1]
        p = gc_planes(c)
        t = lambda v: tf.convert_to_tensor(v)  # noqa: E731
        logits = _dense(inputs, t(self.mask_kernel)[:c], t(self.mask_bias))  # [N, H, W, 1]
        shape = tf.shape(inputs)
        weights = tf.nn.softmax(tf.reshape(logits, [shape[0], -1]), axis=-1)  # [N, HW]
        flat = tf.reshape(inputs, [shape[0], -1, c])  # [N, HW, C]
        context = tf.einsum("nk,nkc->nc", weights, flat)[:, None, None, :]  # [N, 1, 1, C]
        h = _dense(context, t(self.add1_kernel)[:c, :p], t(self.add1_bias)[:p])
        mean, var = tf.nn.moments(h, axes=[-1], keepdims=True)
        h = (h - mean) * tf.math.rsqrt(var + self.epsilon) * t(self.ln_gamma)[:p] + t(self.ln_beta)[:p]
        h = _dense(tf.nn.relu(h), t(self.add2_kernel)[:p, :c], t(self.add2_bias)[:c])
        return inputs + h

    def export_weights(self, static_layer, part=None):
        """Weights of the static parts '<gc>__mask', '__add1', '__ln', '__add2'."""
        if part == "mask":
            c = common.static_in_channels(static_layer)
            return [np.asarray(self.mask_kernel)[None, None, :c], np.asarray(self.mask_bias)]
        if part == "add1":
            c = common.static_in_channels(static_layer)
            p = gc_planes(c)
            return [np.asarray(self.add1_kernel)[None, None, :c, :p], np.asarray(self.add1_bias)[:p]]
        if part == "ln":
            p = common.static_in_channels(static_layer)
            return [np.asarray(self.ln_gamma)[:p], np.asarray(self.ln_beta)[:p]]
        if part == "add2":
            p = common.static_in_channels(static_layer)
            c = static_layer.get_config()["filters"]
            return [np.asarray(self.add2_kernel)[None, None, :p, :c], np.asarray(self.add2_bias)[:c]]
        raise ValueError(f"{self.name}: no static part {part!r}")

    def get_config(self):
        config = super().get_config()
        config.update({"max_channels": self.max_channels, "epsilon": self.epsilon, "kernel_initializer": self.kernel_initializer})
        return config
