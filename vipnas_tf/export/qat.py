"""Quantization-aware training (QAT) of a Keras 3 model via tf-keras + TFMOT.

TensorFlow Model Optimization (TFMOT 0.8) accepts only tf-keras (Keras 2) models
(measured with TFMOT 0.8.1: `ValueError: to_quantize can only either be a keras
Sequential or Functional model` for a Keras 3 model). The project's models are
Keras 3, so this module:

1. `to_tf_keras(model)`: rebuilds a Keras 3 functional model of standard layers as a
   tf-keras functional model, layer by layer from the layer configs (walking the
   Keras 3 graph, so branches, shared inputs and multi-input models keep their
   wiring), maps the few things that differ (hard-swish and hard-sigmoid: tf-keras
   has no `hard_swish` and its `hard_sigmoid` is 0.2x + 0.5, not relu6(x + 3) / 6),
   and copies the weights. Parity with the Keras 3 model: max abs diff <= 1e-5.
2. `quantize_model(tfk_model)`: `tfmot.quantization.keras.quantize_model` after
   annotating the layers TFMOT's default 8-bit registry does not know (Permute,
   Cropping2D, hard-swish/hard-sigmoid activations, ...): pure data movement gets
   no quantizer, activations get an output quantizer.
3. `calibrate_ranges(qat_model, inputs)`: activation ranges from data (TFMOT starts
   them at [-6, 6], which a brief fine-tune does not fix), then
   `fine_tune(qat_model, data, steps)`: a short MSE fine-tune on (image, heatmap
   target) batches.
4. `export_qat_tflite(qat_model)`: full-integer int8 TFLite from the fake-quant
   ranges learned in training.

`qat_int8_tflite(model, data, steps)` runs the four steps.

tf-keras is imported here and only here, at module level. TFMOT sets
TF_USE_LEGACY_KERAS=1 in os.environ when imported; this module resolves `tf.keras`
to Keras 3 first and restores the variable afterwards, so importing it does not
switch the rest of the process (or its subprocesses) to Keras 2.
"""
import inspect
import os
from typing import Any, Callable, Iterable, Optional, Sequence, Union

import keras
import numpy as np
import tensorflow as tf

_ = tf.keras.layers  # Resolve tf.keras to Keras 3 before TFMOT looks at it.
_LEGACY = os.environ.get("TF_USE_LEGACY_KERAS")
import tf_keras  # noqa: E402  pylint: disable=wrong-import-position
import tensorflow_model_optimization as tfmot  # noqa: E402  pylint: disable=wrong-import-position
from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (  # noqa: E402
    default_8bit_quantize_registry as _registry)

if _LEGACY is None:
    os.environ.pop("TF_USE_LEGACY_KERAS", None)
else:
    os.environ["TF_USE_LEGACY_KERAS"] = _LEGACY

from vipnas_tf.export import lowering, tflite_export  # noqa: E402  pylint: disable=wrong-import-position


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
_TF_KERAS_TWINS = {lowering.GroupedConv2D: "Conv2D"}


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


# ------------------------------------------------------------------------------
# TFMOT annotation and QAT.

class NoOpQuantizeConfig(tfmot.quantization.keras.QuantizeConfig):
    """No quantizers: for layers that only move data (Permute, Cropping2D, ...)."""

    def get_weights_and_quantizers(self, layer):
        return []

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        pass

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        return []

    def get_config(self):
        return {}


class OutputQuantizeConfig(NoOpQuantizeConfig):
    """8-bit moving-average quantizer on the layer output (hard-swish, hard-sigmoid,
    other element-wise activations TFMOT does not know)."""

    def get_output_quantizers(self, layer):
        return [tfmot.quantization.keras.quantizers.MovingAverageQuantizer(
            num_bits=8, per_axis=False, symmetric=False, narrow_range=False)]


_DATA_MOVEMENT = ("Permute", "Cropping2D", "Reshape", "ZeroPadding2D", "Flatten")


def _annotate(layer):
    """Annotates one layer for `quantize_apply`.

    Layers TFMOT knows (and BatchNormalization, which its Conv+BN transforms fold
    into the conv) keep the default scheme; data-movement layers it does not know
    get no quantizer; the hard-swish / hard-sigmoid Activation layers and other
    weightless layers it does not know (Multiply) get an output quantizer.
    """
    quantize_annotate_layer = tfmot.quantization.keras.quantize_annotate_layer
    name = type(layer).__name__
    activation = getattr(layer, "activation", None)
    supported = _registry.Default8BitQuantizeRegistry().supports(layer)
    if activation in (hard_swish, hard_sigmoid):
        if name != "Activation":
            raise ValueError(f"layer {layer.name!r} ({name}) has a fused {activation.__name__}, which "
                             "TFMOT cannot quantize; rebuild with "
                             "to_tf_keras(model, split_activations=True)")
        return quantize_annotate_layer(layer, OutputQuantizeConfig())
    if isinstance(layer, GroupedConv2D):
        return quantize_annotate_layer(layer, _registry.Default8BitConvQuantizeConfig(
            ["kernel"], ["activation"], False))
    if supported:
        return quantize_annotate_layer(layer)
    if name == "BatchNormalization":
        # Right after a conv, TFMOT's Conv+BN transform folds it; elsewhere (after
        # the sub-pixel shuffle) it stays a per-channel affine with a quantized output.
        inbound = layer.inbound_nodes[0].inbound_layers if layer.inbound_nodes else None
        # (GroupedConv2D is not matched by TFMOT's Conv2D + BN folding transform.)
        if (isinstance(inbound, (tf_keras.layers.Conv2D, tf_keras.layers.DepthwiseConv2D))
                and not isinstance(inbound, GroupedConv2D)):
            return quantize_annotate_layer(layer)
        return quantize_annotate_layer(layer, OutputQuantizeConfig())
    if name in _DATA_MOVEMENT:
        return quantize_annotate_layer(layer, NoOpQuantizeConfig())
    # Element-wise / merge layers without weights (Multiply, ...): quantize the output.
    if layer.weights:
        raise ValueError(f"layer {layer.name!r} ({name}) has weights and no TFMOT quantize "
                         "config; extend qat._annotate")
    return quantize_annotate_layer(layer, OutputQuantizeConfig())


def quantize_model(tfk_model) -> "tf_keras.Model":
    """TFMOT QAT model (fake-quant nodes, Conv+BN folding) of a tf-keras model.

    Args:
        tfk_model: from `to_tf_keras(model, split_activations=True)`.
    """
    # The clone function returns the layers themselves (annotated), so no layer is
    # re-created from its config here.
    annotated = tf_keras.models.clone_model(tfk_model, clone_function=_annotate)
    with tfmot.quantization.keras.quantize_scope({
            "NoOpQuantizeConfig": NoOpQuantizeConfig,
            "OutputQuantizeConfig": OutputQuantizeConfig, "GroupedConv2D": GroupedConv2D,
            "Default8BitConvQuantizeConfig": _registry.Default8BitConvQuantizeConfig,
            **CUSTOM_OBJECTS}):
        return tfmot.quantization.keras.quantize_apply(annotated)


# ------------------------------------------------------------------------------
# Activation-range initialisation.

def _range_targets(qat_model):
    """(kind, float layer name or input index, min_var, max_var) for every
    moving-average / all-values activation quantizer of a TFMOT QAT model: the
    model-input quantizers ("input", index) and the output / post-activation
    quantizers of the wrapped layer ("layer", its float name)."""
    from tensorflow_model_optimization.python.core.quantization.keras import (  # pylint: disable=import-outside-toplevel
        quantize_aware_activation, quantize_layer, quantize_wrapper, quantizers)

    data_quantizers = (quantizers.MovingAverageQuantizer, quantizers.AllValuesQuantizer)
    input_ids = [id(t) for t in qat_model.inputs]
    found = []
    for layer in qat_model.layers:
        if isinstance(layer, quantize_layer.QuantizeLayer) and isinstance(layer.quantizer, data_quantizers):
            src = layer.inbound_nodes[0].input_tensors
            src = src[0] if isinstance(src, (list, tuple)) else src
            if id(src) in input_ids and layer.quantizer_vars:
                v = layer.quantizer_vars
                found.append(("input", input_ids.index(id(src)), v["min_var"], v["max_var"]))
        if isinstance(layer, quantize_wrapper.QuantizeWrapper):
            name = layer.layer.name
            outq = getattr(layer, "_output_quantizers", None)
            if outq and isinstance(outq[0], data_quantizers):
                v = layer._output_quantizer_vars  # pylint: disable=protected-access
                found.append(("layer", name, v["min_var"], v["max_var"]))
            act = getattr(layer.layer, "activation", None)
            if (isinstance(act, quantize_aware_activation.QuantizeAwareActivation)
                    and isinstance(act.quantizer, data_quantizers)
                    and hasattr(act, "_post_activation_vars")):
                v = act._post_activation_vars  # pylint: disable=protected-access
                found.append(("layer", name, v["min_var"], v["max_var"]))
    return found


def calibrate_ranges(qat_model, float_model, inputs: Sequence) -> int:
    """Sets a fresh QAT model's activation ranges from the float model's tensors on
    real inputs, as post-training calibration does, before fine-tuning.

    TFMOT starts every activation range at [-6, 6] and moves it by an EMA with decay
    0.999 per training step, so a brief fine-tune (a few hundred steps) ends with
    ranges still near [-6, 6]: coarse int8 steps, worse than post-training int8
    (measured on a small trained model: 15 px vs 0.7 px keypoint error after 100
    steps). Here each output / post-activation quantizer of wrapped layer X gets the
    min / max (widened to include 0) that float layer X's output takes on `inputs`,
    and each input quantizer the range of its model input; the weight quantizers get
    their ranges from one training-mode step.

    Args:
        qat_model: from `quantize_model(float_model)`.
        float_model: the tf-keras model it was made from (same layer names).
        inputs: batches of model inputs (an array, or a list of arrays per batch).

    Returns:
        The number of ranges set.
    """
    inputs = list(inputs)
    if not inputs:
        raise ValueError("calibrate_ranges needs at least one input batch")
    # One training-mode step sets the weight quantizers' ranges (LastValueQuantizer:
    # the current weights' per-channel min / max; they start at [-6, 6] too).
    first = inputs[0]
    qat_model(list(first) if isinstance(first, (list, tuple)) else first, training=True)
    targets = _range_targets(qat_model)
    layer_names = sorted({t[1] for t in targets if t[0] == "layer"})
    probe = tf_keras.Model(float_model.inputs,
                           [float_model.get_layer(n).output for n in layer_names] + list(float_model.inputs))
    lo, hi = {}, {}
    for x in inputs:
        outs = probe(list(x) if isinstance(x, (list, tuple)) else x, training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        keys = [("layer", n) for n in layer_names] + [("input", i) for i in range(len(float_model.inputs))]
        for key, t in zip(keys, outs):
            t = t.numpy() if hasattr(t, "numpy") else np.asarray(t)
            lo[key] = min(lo.get(key, np.inf), float(t.min()))
            hi[key] = max(hi.get(key, -np.inf), float(t.max()))
    for kind, ref, min_var, max_var in targets:
        min_var.assign(np.full(min_var.shape, min(lo[(kind, ref)], 0.0), np.float32))
        max_var.assign(np.full(max_var.shape, max(hi[(kind, ref)], 0.0), np.float32))
    return len(targets)


# (inputs, target heatmaps) batches; inputs one array or a list (multi-input models).
TrainData = Union[Iterable[Any], Callable[[], Iterable[Any]], "tf.data.Dataset"]


def fine_tune(qat_model, data: TrainData, steps: int, learning_rate: float = 1e-4,
              epochs: int = 1, verbose: int = 0):
    """Fine-tunes a QAT model with MSE on heatmaps (the pose training loss).

    Args:
        qat_model: from `quantize_model`.
        data: a tf.data.Dataset or iterable (or zero-arg callable returning one) of
            (inputs, heatmaps) batches: inputs [N, H, W, 3] float32 (or a list of
            arrays for multi-input models), heatmaps [N, H/4, W/4, K].
        steps: optimizer steps per epoch (a brief fine-tune: a few hundred real ones).

    Returns:
        The Keras History.
    """
    if not isinstance(data, tf.data.Dataset):
        source = data() if callable(data) else data
        batches = list(source)
        if not batches:
            raise ValueError("fine-tune data is empty")

        def gen():
            while True:
                for x, y in batches:
                    yield (tuple(x) if isinstance(x, (list, tuple)) else x), y
        x0, y0 = batches[0]
        x_sig = (tuple(tf.TensorSpec((None,) + np.shape(a)[1:], tf.float32) for a in x0)
                 if isinstance(x0, (list, tuple)) else tf.TensorSpec((None,) + np.shape(x0)[1:], tf.float32))
        data = tf.data.Dataset.from_generator(
            gen, output_signature=(x_sig, tf.TensorSpec((None,) + np.shape(y0)[1:], tf.float32)))
    else:
        data = data.repeat()
    qat_model.compile(optimizer=tf_keras.optimizers.Adam(learning_rate), loss="mse")
    return qat_model.fit(data, epochs=epochs, steps_per_epoch=steps, verbose=verbose)


def export_qat_tflite(qat_model, path: Optional[str] = None, *, io_dtype: str = "float32",
                      batch_size: int = 1, decode_fn=None) -> bytes:
    """Full-integer int8 TFLite from a QAT model (ranges from its fake-quant nodes).

    Args:
        qat_model: a (fine-tuned) model from `quantize_model`.
        path: where to write the .tflite, or None.
        io_dtype: "float32", "int8" or "uint8" (see `quantization.py`).
        decode_fn: None, "default" (`HeatmapCodec.decode_tf` for the model's sizes) or
            a callable heatmaps -> (keypoints, scores): the .tflite then also outputs
            keypoints [1, K, 2] and scores [1, K] (float; needs float32 I/O).

    Returns:
        The flatbuffer bytes.
    """
    specs = [tf.TensorSpec([batch_size] + list(i.shape[1:]), tf.float32,
                           name=i.name.split(":")[0]) for i in qat_model.inputs]
    if decode_fn == "default":
        from vipnas_tf.codecs.heatmap import HeatmapCodec  # pylint: disable=import-outside-toplevel
        out = qat_model.outputs[0]
        decode_fn = HeatmapCodec(tuple(qat_model.inputs[0].shape[1:3]),
                                 heatmap_size=tuple(out.shape[1:3])).decode_tf
    if decode_fn is not None and io_dtype != "float32":
        raise ValueError("decode outputs need io_dtype='float32' (integer I/O would quantize "
                         "the keypoint coordinates)")

    @tf.function(input_signature=specs, autograph=False)
    def serve(*inputs):
        heatmaps = qat_model(list(inputs) if len(inputs) > 1 else inputs[0], training=False)
        if decode_fn is None:
            return heatmaps
        keypoints, scores = decode_fn(heatmaps)
        return [heatmaps, tf.cast(keypoints, tf.float32), tf.cast(scores, tf.float32)]

    converter = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    # No TFLITE_BUILTINS_INT8 restriction: with it the converter asks for a
    # representative dataset (it does not detect the fake-quant ranges through a
    # concrete function); the ranges come from the FakeQuant nodes instead.
    if io_dtype != "float32":
        converter.inference_input_type = {"int8": tf.int8, "uint8": tf.uint8}[io_dtype]
        converter.inference_output_type = converter.inference_input_type
    flatbuffer = converter.convert()
    if path is not None:
        tflite_export._write_atomic(path, flatbuffer)  # pylint: disable=protected-access
    return flatbuffer


def qat_int8_tflite(model: keras.Model, data: TrainData, steps: int, path: Optional[str] = None,
                    *, learning_rate: float = 1e-4, io_dtype: str = "float32") -> bytes:
    """Keras 3 model -> tf-keras -> QAT -> brief MSE fine-tune -> int8 TFLite."""
    tfk = to_tf_keras(model, split_activations=True)
    qat = quantize_model(tfk)
    source = data() if callable(data) else data
    if isinstance(source, tf.data.Dataset):
        calibrate_ranges(qat, tfk, [x for x, _ in source.take(8)])
    else:
        source = list(source)
        calibrate_ranges(qat, tfk, [x for x, _ in source[:8]])
    fine_tune(qat, source, steps, learning_rate)
    return export_qat_tflite(qat, path, io_dtype=io_dtype)


__all__: Sequence[str] = ("to_tf_keras", "quantize_model", "calibrate_ranges", "fine_tune",
                          "export_qat_tflite",
                          "qat_int8_tflite", "NoOpQuantizeConfig", "OutputQuantizeConfig")
