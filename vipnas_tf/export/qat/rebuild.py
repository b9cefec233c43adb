"""QAT stage 1: a Keras 3 functional model rebuilt as a tf-keras functional model.

`to_tf_keras(model)` rebuilds a model of standard layers layer by layer from the layer
configs (walking the Keras 3 graph, so branches, shared inputs and multi-input models
keep their wiring), maps the few things that differ (hard-swish and hard-sigmoid:
tf-keras has no `hard_swish` and its `hard_sigmoid` is 0.2x + 0.5, not relu6(x + 3) /
6), and copies the weights. Parity with the Keras 3 model: max abs diff <= 1e-5.
"""
import inspect

import keras
import numpy as np
import tensorflow as tf

from vipnas_tf.export.lowering import GroupedConv2D as LoweredGroupedConv2D
from vipnas_tf.export.qat.legacy_keras import tf_keras


# ------------------------------------------------------------------------------
# Activations that differ between Keras 3 and tf-keras.

@tf_keras.saving.register_keras_serializable(package="vipnas_tf")
def hard_swish(x):
    """Keras 3's hard_swish: x * relu6(x + 3) / 6."""
    return x * tf.nn.relu6(x + 3.0) * (1.0 / 6.0)


@tf_keras.saving.register_keras_serializable(package="vipnas_tf")
def hard_sigmoid(x):
    """Keras 3's hard_sigmoid: relu6(x + 3) / 6 (tf-keras uses 0.2 x + 0.5)."""
    return tf.nn.relu6(x + 3.0) * (1.0 / 6.0)


_ACTIVATIONS = {"hard_swish": hard_swish, "hard_silu": hard_swish, "hard_sigmoid": hard_sigmoid}
# Activations tf-keras has under the same name with the same definition.
_SAME_ACTIVATIONS = {"linear", "relu", "relu6", "sigmoid", "tanh", "softmax", "swish", "silu",
                     "elu", "selu", "gelu", "softplus", "exponential"}
CUSTOM_OBJECTS = {"hard_swish": hard_swish, "hard_sigmoid": hard_sigmoid}


def _map_activation(value, layer_name):
    if value is None or callable(value):
        return value
    if isinstance(value, dict):
        value = value.get("config", {}).get("name") or value.get("class_name")
    if value in _ACTIVATIONS:
        return _ACTIVATIONS[value]
    if value in _SAME_ACTIVATIONS:
        return value
    raise ValueError(f"layer {layer_name!r}: activation {value!r} has no tf-keras mapping")


# ------------------------------------------------------------------------------
# Keras 3 -> tf-keras rebuild.

@tf_keras.saving.register_keras_serializable(package="vipnas_tf")
class GroupedConv2D(tf_keras.layers.Conv2D):
    """tf-keras Conv2D(groups > 1) without the XLA path.

    tf-keras (like Keras 3) runs grouped convs through a `jit_compile=True` function
    on CPU; its backward pass there is catastrophically slow (measured: 44 s vs
    0.1 s for tf.nn.conv2d's native grouped conv, fwd + bwd of a 7x7 g20 conv of 160
    channels at 32x32, batch 8). This twin calls `tf.nn.convolution` directly and
    converts to the same TFLite grouped CONV_2D. TFMOT quantizes it like Conv2D.
    """

    def _jit_compiled_convolution_op(self, inputs, kernel):  # pylint: disable=invalid-overridden-method
        return self.convolution_op(inputs, kernel)


_DROP_SUFFIXES = ("_initializer", "_regularizer", "_constraint")
# Project layers that are a standard layer computed another way: their tf-keras twin.
_TF_KERAS_TWINS = {LoweredGroupedConv2D: "Conv2D"}


def _tf_keras_layer(layer: keras.layers.Layer):
    """A fresh tf-keras layer with the Keras 3 layer's configuration (no weights)."""
    cls_name = _TF_KERAS_TWINS.get(type(layer), type(layer).__name__)
    cls = getattr(tf_keras.layers, cls_name, None)
    standard = type(layer).__module__.split(".")[0] == "keras" or type(layer) in _TF_KERAS_TWINS
    if cls is None or not isinstance(layer, keras.layers.Layer) or not standard:
        raise ValueError(f"layer {layer.name!r} of type {cls_name} is not a standard Keras layer "
                         "with a tf-keras twin; the QAT rebuild supports standard layers only")
    config = dict(layer.get_config())
    accepted = set(inspect.signature(cls.__init__).parameters) | {"name", "trainable", "dtype"}
    out = {}
    for key, value in config.items():
        if key.endswith(_DROP_SUFFIXES) or key not in accepted:
            continue  # weights are copied; initializers etc. do not matter
        if key == "dtype":
            value = getattr(getattr(layer, "dtype_policy", None), "name", None) or "float32"
        elif key == "activation":
            value = _map_activation(value, layer.name)
        out[key] = value
    if cls is tf_keras.layers.Conv2D and int(out.get("groups", 1)) > 1:
        cls = GroupedConv2D
    return cls(**out)


def to_tf_keras(model: keras.Model, split_activations: bool = False) -> "tf_keras.Model":
    """Rebuilds a Keras 3 functional model as a tf-keras functional model.

    Args:
        model: a Keras 3 functional model of standard layers (those that exist in
            tf-keras under the same name: Conv2D (incl. groups), DepthwiseConv2D,
            BatchNormalization, ReLU, Activation, Add, Multiply, Concatenate,
            ZeroPadding2D, Cropping2D, Reshape, Permute, pooling, UpSampling2D...).
            Layers called several times (shared) become one shared tf-keras layer.
        split_activations: for QAT: replace hard-swish / hard-sigmoid (as Activation
            layers or fused into convs) by standard layers TFMOT can quantize
            (1x1 depthwise affines, ReLU with max_value, Multiply; see
            `_Decomposed`). Still the same function (parity <= 1e-5).

    Returns:
        A tf-keras model with the same inputs/outputs (names, order), weights copied.

    Raises:
        ValueError: for a non-standard layer or a raw `keras.ops` node.
    """
    tensor_map = {}
    new_inputs = []
    for inp in model.inputs:
        t = tf_keras.Input(shape=tuple(inp.shape[1:]), batch_size=inp.shape[0],
                           name=inp.name.split(":")[0], dtype=inp.dtype)
        tensor_map[id(inp)] = t
        new_inputs.append(t)
    layer_map = {}
    by_depth = model._nodes_by_depth  # pylint: disable=protected-access
    for depth in sorted(by_depth, reverse=True):
        for node in by_depth[depth]:
            op = node.operation
            if isinstance(op, keras.layers.InputLayer):
                continue
            if not isinstance(op, keras.layers.Layer):
                raise ValueError(f"node {op.name!r} ({type(op).__name__}) is a raw keras.ops call; "
                                 "use standard layers in exported models")
            if id(op) not in layer_map:
                new_layer, post = _tf_keras_layer(op), None
                act = getattr(new_layer, "activation", None)
                if split_activations and act in (hard_swish, hard_sigmoid):
                    if isinstance(new_layer, tf_keras.layers.Activation):
                        new_layer = None  # identity; the decomposition follows
                    else:
                        new_layer.activation = tf_keras.activations.get("linear")
                    post = _Decomposed(act, op.name)
                layer_map[id(op)] = (op, new_layer, post)
            _, new_layer, post = layer_map[id(op)]

            def lookup(v):
                return tensor_map[id(v)] if isinstance(v, keras.KerasTensor) else v

            args = keras.tree.map_structure(lookup, list(node.arguments.args))
            kwargs = keras.tree.map_structure(lookup, dict(node.arguments.kwargs))
            kwargs.pop("training", None)
            outputs = new_layer(*args, **kwargs) if new_layer is not None else args[0]
            if post is not None:
                outputs = post(outputs)
            flat_old = keras.tree.flatten(node.outputs)
            flat_new = tf.nest.flatten(outputs)
            for old_t, new_t in zip(flat_old, flat_new):
                tensor_map[id(old_t)] = new_t
    new_outputs = [tensor_map[id(t)] for t in model.outputs]
    tfk = tf_keras.Model(new_inputs, new_outputs if len(new_outputs) > 1 else new_outputs[0],
                         name=model.name)
    for old, new, _ in layer_map.values():
        if new is not None:
            new.set_weights(old.get_weights())
    return tfk


class _Decomposed:
    """hard-swish / hard-sigmoid as layers TFMOT quantizes step by step (every
    intermediate gets a fake-quant range, so the int8 TFLite has no float islands)
    and that stay on XNNPACK in int8: the `lowering.hard_swish(method="int8")` form.

    hard_sigmoid(x) = relu6(x + 3) / 6;  hard_swish(x) = x * relu6(x + 3) / 6.
    """

    def __init__(self, fn, name):
        self.fn, self.name, self._layers = fn, name, None

    def _affine(self, c, w, b, suffix):
        layer = tf_keras.layers.DepthwiseConv2D(1, name=f"{self.name}_{suffix}")
        layer.build((None, None, None, c))
        layer.set_weights([np.full((1, 1, c, 1), w, np.float32), np.full((c,), b, np.float32)])
        return layer

    def __call__(self, x):
        c = x.shape[-1]
        if x.shape.rank != 4:
            return tf_keras.layers.Activation(self.fn, name=f"{self.name}_act")(x)
        if self._layers is None:  # shared layer called again: reuse its parts
            if self.fn is hard_sigmoid:
                # relu6(x + 3) / 6, not min(relu(x / 6 + 0.5), 1): the clip at 1 would
                # become MINIMUM + RELU, which stay float; RELU6 fuses into the conv.
                self._layers = [self._affine(c, 1.0, 3.0, "hsig_shift"),
                                tf_keras.layers.ReLU(max_value=6.0, name=f"{self.name}_hsig_relu6"),
                                self._affine(c, 1.0 / 6.0, 0.0, "hsig_scale")]
            else:
                self._layers = [self._affine(c, 1.0, 3.0, "hswish_shift"),
                                tf_keras.layers.ReLU(max_value=6.0, name=f"{self.name}_hswish_relu6"),
                                tf_keras.layers.Multiply(name=f"{self.name}_hswish_mul"),
                                self._affine(c, 1.0 / 6.0, 0.0, "hswish_scale")]
        if self.fn is hard_sigmoid:
            shift, relu6, scale = self._layers
            return scale(relu6(shift(x)))
        shift, relu6, mul, scale = self._layers
        return scale(mul([x, relu6(shift(x))]))
