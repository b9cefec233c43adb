"""Static Keras model -> lowered Keras model -> .tflite, for latency measurement.

The latency model must time what is deployed: the static model (`build_static` /
`SuperNetwork.extract`) after the export lowering of `tflite/README.md` ("What
`extract()` should emit"). Until the export module applies that lowering inside its
conversion, this module does it as a graph rewrite of the functional model, using
only `vipnas_tf.export.lowering`:

- conv (Conv2D / DepthwiseConv2D) -> BatchNormalization [-> ReLU]: BN folded into
  the conv, ReLU fused; depthwise convs with more than 25 taps are split into row
  bands (`lowering.depthwise_conv2d`); grouped convs use `lowering.grouped_conv2d`
  (method "auto": dense block-diagonal when C_in <= 16, else the native grouped conv);
- sub-pixel deconvs (phase convs -> Concatenate -> Reshape -> Permute -> Reshape ->
  BN [-> ReLU], as `static_ops.subpixel_deconv` + head BN/ReLU): BN folded into the
  phase convs and the ReLU fused into them (before the pixel shuffle);
- hard-swish: `lowering.hard_swish` with the precision's method ("activation" for
  float32, the decomposed "int8" form for int8: README section 5);
- every other layer is cloned with its weights.

The rewrite is numerically the static model (test: tests/search/test_latency_lowering.py).
`convert(model, quantization)` is the one conversion entry point of the latency code:
the table's units and whole networks both go through it, so they are lowered alike.
"""
import collections
import os
from typing import Dict, Optional

import keras
import numpy as np

from vipnas_tf.export import lowering, quantization as quant_lib, tflite_export

QUANTIZATIONS = ("float32", "int8")

# hard-swish form per precision (tflite/README.md section 5).
HARD_SWISH_METHOD = {"float32": "activation", "int8": "int8"}

# Identifies how units and networks were lowered; stored in latency tables so that a
# table built with another lowering is recognised as stale.
LOWERING_VERSION = "latency_lowering/v1 (fold BN, fuse ReLU, band >25-tap dw, dense <=16ch grouped, hswish per precision)"

_CONV_TYPES = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)


def check_quantization(quantization: str) -> str:
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {QUANTIZATIONS}, got {quantization!r}")
    return quantization


def _is_relu(layer) -> bool:
    if isinstance(layer, keras.layers.ReLU):
        cfg = layer.get_config()
        return not cfg.get("max_value") and not cfg.get("negative_slope") and not cfg.get("threshold")
    return isinstance(layer, keras.layers.Activation) and layer.get_config()["activation"] == "relu"


def _is_hard_swish(layer) -> bool:
    return (isinstance(layer, keras.layers.Activation)
            and layer.get_config()["activation"] in ("hard_swish", "hard_silu"))


def _is_conv(layer) -> bool:
    return isinstance(layer, _CONV_TYPES) and not isinstance(layer, keras.layers.Conv2DTranspose)


class _Graph:
    """Producer/consumer view of a functional Keras model (each layer called once)."""

    def __init__(self, model: keras.Model):
        self.model = model
        self.consumers = collections.defaultdict(list)  # id(tensor) -> [layer]
        for layer in model.layers:
            for node in layer._inbound_nodes:  # pylint: disable=protected-access
                for t in node.input_tensors:
                    self.consumers[id(t)].append(layer)
        self.outputs = {id(t) for t in model.outputs}

    @staticmethod
    def producer(tensor):
        return tensor._keras_history.operation  # pylint: disable=protected-access

    @staticmethod
    def inputs_of(layer):
        nodes = layer._inbound_nodes  # pylint: disable=protected-access
        if len(nodes) != 1:
            raise ValueError(f"layer {layer.name!r} is called {len(nodes)} times; the latency "
                             "lowering handles static models whose layers are called once")
        return list(nodes[0].input_tensors)

    def sole_consumer(self, tensor):
        """The only layer reading `tensor` (None if several or if it is a model output)."""
        cons = self.consumers.get(id(tensor), [])
        if len(cons) != 1 or id(tensor) in self.outputs:
            return None
        return cons[0]

    def single_input_producer(self, layer, types):
        """Producer of `layer`'s only input if it has type `types` and no other reader."""
        ins = self.inputs_of(layer)
        if len(ins) != 1:
            return None
        p = self.producer(ins[0])
        if isinstance(p, types) and self.sole_consumer(ins[0]) is layer:
            return p
        return None


def _fold(conv, bn):
    """Conv weights with `bn` folded in: (kernel, bias)."""
    w = conv.get_weights()
    kernel, bias = w[0], (w[1] if conv.use_bias else None)
    gamma, beta, mean, var = _bn_params(bn)
    out_axis = 2 if isinstance(conv, keras.layers.DepthwiseConv2D) else -1
    if isinstance(conv, keras.layers.DepthwiseConv2D) and kernel.shape[3] != 1:
        # [k, k, C, m] -> output channel c * m + j: fold on a [k, k, 1, C*m] view.
        kh, kw, c, m = kernel.shape
        k2, b2 = lowering.fold_batch_norm(kernel.reshape(kh, kw, 1, c * m), bias, gamma, beta, mean, var,
                                          epsilon=bn.epsilon, out_axis=-1)
        return k2.reshape(kh, kw, c, m), b2
    return lowering.fold_batch_norm(kernel, bias, gamma, beta, mean, var, epsilon=bn.epsilon,
                                    out_axis=out_axis)


def _bn_params(bn):
    c = int(bn.moving_mean.shape[0])
    gamma = np.asarray(bn.gamma.numpy()) if bn.scale else np.ones(c, np.float32)
    beta = np.asarray(bn.beta.numpy()) if bn.center else np.zeros(c, np.float32)
    return gamma, beta, np.asarray(bn.moving_mean.numpy()), np.asarray(bn.moving_variance.numpy())


def _emit_conv(x, conv, kernel, bias, activation):
    """The lowered form of one conv layer (weights given, activation fused)."""
    strides = conv.strides[0]
    if conv.strides[0] != conv.strides[1] or tuple(conv.dilation_rate) != (1, 1):
        raise ValueError(f"{conv.name}: only square strides and no dilation are supported")
    own = conv.get_config().get("activation", "linear")
    if own not in ("linear", None):
        if activation is not None:
            raise ValueError(f"{conv.name}: conv has activation {own!r} and is followed by another")
        activation = own
    if isinstance(conv, keras.layers.DepthwiseConv2D):
        return lowering.depthwise_conv2d(x, kernel, bias, strides=strides, padding=conv.padding,
                                         activation=activation, name=conv.name)
    groups = conv.groups
    if groups == 1:
        layer = keras.layers.Conv2D(conv.filters, conv.kernel_size, strides=strides, padding=conv.padding,
                                    use_bias=bias is not None, activation=activation, name=conv.name)
        y = layer(x)
        layer.set_weights([kernel] + ([bias] if bias is not None else []))
        return y
    return lowering.grouped_conv2d(x, kernel, bias, groups=groups, strides=strides, padding=conv.padding,
                                   method="auto", activation=activation, name=conv.name)


def lower_static_model(model: keras.Model, quantization: str = "float32", name: Optional[str] = None) -> keras.Model:
    """The lowered functional model (same maths, fastest TFLite formulation)."""
    check_quantization(quantization)
    g = _Graph(model)
    new: Dict[int, object] = {}

    def clone(layer):
        cfg = layer.get_config()
        out = layer.__class__.from_config(cfg)
        return out

    def deconv_chain(bn):
        """bn <- Reshape <- Permute <- Reshape <- Concatenate <- phase convs, or None."""
        chain = []
        cur = bn
        for t in (keras.layers.Reshape, keras.layers.Permute, keras.layers.Reshape, keras.layers.Concatenate):
            p = g.single_input_producer(cur, t) if t is not keras.layers.Concatenate else None
            if t is keras.layers.Concatenate:
                ins = g.inputs_of(cur)
                if len(ins) != 1:
                    return None
                p = g.producer(ins[0])
                if not isinstance(p, t) or g.sole_consumer(ins[0]) is not cur:
                    return None
            if p is None:
                return None
            chain.append(p)
            cur = p
        concat = chain[-1]
        convs = []
        for t in g.inputs_of(concat):
            p = g.producer(t)
            if not _is_conv(p) or g.sole_consumer(t) is not concat or p.get_config().get("activation") not in (None, "linear"):
                return None
            convs.append(p)
        return chain, convs

    def get(tensor):
        key = id(tensor)
        if key in new:
            return new[key]
        layer = g.producer(tensor)
        if isinstance(layer, keras.layers.InputLayer):
            out = keras.Input(batch_shape=tensor.shape, name=layer.name, dtype=tensor.dtype)
            new[key] = out
            return out
        relu = None
        bn = None
        if _is_relu(layer):
            bn = g.single_input_producer(layer, keras.layers.BatchNormalization)
            if bn is not None:
                relu = layer
        elif isinstance(layer, keras.layers.BatchNormalization):
            bn = layer
        if bn is not None:
            conv = g.single_input_producer(bn, _CONV_TYPES)
            if conv is not None and _is_conv(conv) and conv.get_config().get("activation") in (None, "linear"):
                kernel, bias = _fold(conv, bn)
                y = _emit_conv(get(g.inputs_of(conv)[0]), conv, kernel, bias, "relu" if relu else None)
                new[id(bn.output)] = y
                if relu is not None:
                    new[id(relu.output)] = y
                return new[key]
            found = deconv_chain(bn)
            if found is not None:
                chain, convs = found
                phases = []
                for conv in convs:
                    kernel, bias = _fold(conv, bn)
                    phases.append(_emit_conv(get(g.inputs_of(conv)[0]), conv, kernel, bias,
                                             "relu" if relu else None))
                y = phases
                for layer_ in reversed(chain):  # Concatenate, Reshape, Permute, Reshape
                    y = clone(layer_)(y)
                new[id(bn.output)] = y
                if relu is not None:
                    new[id(relu.output)] = y
                return new[key]
            relu = None  # plain BN (+ ReLU): clone below
        ins = g.inputs_of(layer)
        if _is_hard_swish(layer):
            out = lowering.hard_swish(get(ins[0]), HARD_SWISH_METHOD[quantization], name=layer.name)
        elif _is_conv(layer):
            w = layer.get_weights()
            out = _emit_conv(get(ins[0]), layer, w[0], w[1] if layer.use_bias else None, None)
        else:
            c = clone(layer)
            args = [get(t) for t in ins]
            out = c(args if len(args) > 1 or _takes_list(layer) else args[0])
            if layer.weights:
                c.set_weights(layer.get_weights())
        new[key] = out
        return out

    inputs = [get(t) for t in model.inputs]
    outputs = [get(t) for t in model.outputs]
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs if len(outputs) > 1 else outputs[0],
                       name=name or f"{model.name}_lowered")


def _takes_list(layer) -> bool:
    return isinstance(layer, (keras.layers.Add, keras.layers.Multiply, keras.layers.Concatenate,
                              keras.layers.Average, keras.layers.Maximum, keras.layers.Minimum,
                              keras.layers.Subtract, keras.layers.Dot))


def random_representative(model: keras.Model, num: int = 4, seed: int = 0):
    """N(0, 1) inputs for int8 calibration (ranges do not change the speed)."""
    shapes = [(1,) + tuple(int(d) for d in i.shape[1:]) for i in model.inputs]

    def gen():
        rng = np.random.default_rng(seed)
        for _ in range(num):
            yield [rng.standard_normal(s).astype(np.float32) for s in shapes]

    return gen


def convert(model: keras.Model, quantization: str = "float32", io_dtype: str = "float32",
            lowered: bool = False, path: Optional[str] = None, calibration_samples: int = 4) -> bytes:
    """Lowers (unless `lowered`) and converts `model` to a .tflite flatbuffer.

    Args:
        model: a static functional Keras model.
        quantization: "float32" or "int8" (int8: full-integer, calibrated on random
            inputs: enough for timing, not for accuracy).
        io_dtype: int8 only: "float32" (deployed form: QUANTIZE/DEQUANTIZE at the
            edges) or "int8" (integer I/O: how table units are timed, see latency.py).
        lowered: the model is already lowered.
        path: also write the .tflite there (atomically).
    """
    check_quantization(quantization)
    if not lowered:
        model = lower_static_model(model, quantization)
    if quantization == "int8":
        cfg = quant_lib.QuantizationConfig.for_int8(random_representative(model, calibration_samples),
                                                    num_calibration_samples=calibration_samples,
                                                    io_dtype=io_dtype)
    else:
        if io_dtype != "float32":
            raise ValueError(f"io_dtype={io_dtype!r} needs quantization='int8'")
        cfg = quant_lib.QuantizationConfig.for_float32()
    return tflite_export.export_tflite(model, os.fspath(path) if path else None, quantization=cfg)
