"""Deployment lowering of a whole static Keras model: `lower_model(model)`.

`extract()` / `build_static()` emit the plain formulation of every op (Keras
`Conv2D(groups=g)`, whole 7x7 depthwise kernels, BN layers, `Activation
("hard_swish")`, sub-pixel deconvs followed by BN and ReLU). `lower_model` rewrites
such a functional model, node by node, into an equivalent one made of what runs fast
in TFLite/XNNPACK (measurements: tflite/README.md, "Per-layer findings"):

- BatchNormalization right after a conv (Conv2D, DepthwiseConv2D) is folded into
  the conv's kernel and bias (`batch_norm.fold_batch_norm`); so is a BN after the
  pixel shuffle of a sub-pixel deconv (Concatenate of phase convs -> Reshape ->
  Permute -> Reshape -> BN): it is per channel, so it folds into every phase conv.
  This includes the head BNs, which the converter cannot fold (in int8 they would
  stay float MUL/ADD islands).
- A ReLU / ReLU6 after such a conv (or after its folded BN) is fused into the conv;
  after a sub-pixel shuffle it moves into the phase convs (it commutes with the
  shuffle), since a standalone int8 RELU is off XNNPACK's fast path.
- Grouped convs: `grouped_conv2d(method="auto")`: depthwise when one input
  channel per group, the dense block-diagonal conv when <= 16 input channels,
  otherwise `GroupedConv2D` (TFLite's grouped CONV_2D, the fastest measured
  form; runs without Keras' XLA path in TF). No Keras `Conv2D(groups>1)` remains.
- Depthwise kernels of more than 25 taps are split into row bands
  (`depthwise.depthwise_conv2d`).
- hard-swish: `Activation("hard_swish")` (float, TFLite HARD_SWISH) or the int8 form
  (`hard_swish.hard_swish(x, "int8")`), chosen by `hard_swish=`.

Every other layer is re-created from its config with its weights copied, keeping its
name (so `UnsupportedOpError` still names the original layer). The result computes the
same function (tests: max abs difference <= 1e-4 at the model output).

Example:
    >>> static = supernet.extract(arch, (256, 192))
    >>> fast = lower_model(static, hard_swish="int8")        # for int8 export
    >>> export_tflite(fast, "m_int8.tflite", quantization=cfg)
"""
import collections
import dataclasses
from typing import Dict, List, Optional

import keras
import numpy as np

from vipnas_tf.export.lowering.batch_norm import fold_batch_norm as fold_bn_weights
from vipnas_tf.export.lowering.depthwise import depthwise_conv2d
from vipnas_tf.export.lowering.grouped_conv import GroupedConv2D, grouped_conv2d
from vipnas_tf.export.lowering.hard_swish import HARD_SWISH_METHODS, hard_swish as hard_swish_layers

_HARD_SWISH_NAMES = ("hard_swish", "hard_silu")


@dataclasses.dataclass(frozen=True)
class LoweringOptions:
    """What `lower_model` does.

    Attributes:
        hard_swish: "activation" (TFLite HARD_SWISH; fastest in float) or "int8"
            (1x1 depthwise affines + MUL; 2x faster in int8, ~3% slower in float).
        grouped_method: `grouped_conv.grouped_conv2d` method for grouped convs ("auto").
        max_depthwise_taps: band split threshold (None: the measured 25; 0: off).
        fold_batch_norm: fold BNs into the preceding convs.
        fuse_activations: fuse ReLU/ReLU6 into the preceding convs.
    """

    hard_swish: str = "activation"
    grouped_method: str = "auto"
    max_depthwise_taps: Optional[int] = None
    fold_batch_norm: bool = True
    fuse_activations: bool = True

    def __post_init__(self):
        if self.hard_swish not in HARD_SWISH_METHODS:
            raise ValueError(f"hard_swish must be one of {HARD_SWISH_METHODS}, got {self.hard_swish!r}")


# ------------------------------------------------------------------------------
# Graph analysis.


class _Graph:
    """Topologically ordered nodes of a functional model and who consumes what."""

    def __init__(self, model: keras.Model):
        by_depth = model._nodes_by_depth  # pylint: disable=protected-access
        self.nodes = [n for d in sorted(by_depth, reverse=True) for n in by_depth[d]
                      if not isinstance(n.operation, keras.layers.InputLayer)]
        self.consumers = collections.defaultdict(list)
        self.producer = {}
        self.calls = collections.Counter(id(n.operation) for n in self.nodes)
        for node in self.nodes:
            for t in node.input_tensors:
                self.consumers[id(t)].append(node)
            for t in node.outputs:
                self.producer[id(t)] = node
        self.model_outputs = {id(t) for t in model.outputs}

    def single_use(self, tensor) -> bool:
        return len(self.consumers[id(tensor)]) == 1 and id(tensor) not in self.model_outputs

    @staticmethod
    def sole_input(node):
        inputs = node.input_tensors
        return inputs[0] if len(inputs) == 1 else None

    def parent(self, node, cls):
        """The producer node of `node`'s only input, if that tensor is used only by
        `node` and the producer is a `cls` layer called once; else None."""
        t = self.sole_input(node)
        if t is None or not self.single_use(t):
            return None
        p = self.producer.get(id(t))
        if p is None or not isinstance(p.operation, cls) or self.calls[id(p.operation)] != 1:
            return None
        return p


def _is_conv(op) -> bool:
    return (isinstance(op, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D))
            and op.data_format == "channels_last")


def _activation_name(value) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return value.get("config", {}).get("name") or value.get("class_name")
    try:
        return keras.activations.serialize(value)
    except (ValueError, TypeError):
        return getattr(value, "__name__", None)


def _conv_activation(op) -> Optional[str]:
    name = _activation_name(op.get_config().get("activation"))
    return None if name in (None, "linear") else name


def _relu_kind(op) -> Optional[str]:
    """'relu' / 'relu6' when `op` is a standalone activation a conv can fuse."""
    if isinstance(op, keras.layers.ReLU):
        cfg = op.get_config()
        if cfg.get("negative_slope", 0.0) or cfg.get("threshold", 0.0):
            return None
        if cfg.get("max_value") is None:
            return "relu"
        return "relu6" if float(cfg["max_value"]) == 6.0 else None
    if type(op) is keras.layers.Activation:  # pylint: disable=unidiomatic-typecheck
        name = _activation_name(op.get_config().get("activation"))
        return name if name in ("relu", "relu6") else None
    return None


def _is_hard_swish(op) -> bool:
    return (type(op) is keras.layers.Activation  # pylint: disable=unidiomatic-typecheck
            and _activation_name(op.get_config().get("activation")) in _HARD_SWISH_NAMES)


@dataclasses.dataclass
class _ConvPlan:
    bn: Optional[keras.layers.BatchNormalization] = None
    activation: Optional[str] = None


class _Planner:
    """Decides which BNs fold into which convs and which activations fuse."""

    def __init__(self, graph: _Graph, options: LoweringOptions):
        self.g = graph
        self.options = options
        self.plans: Dict[int, _ConvPlan] = {}
        self.absorbed = set()  # ids of BN / activation layers that become identities
        self.bn_groups = {}  # id(bn op) -> conv ops it was folded into
        for node in graph.nodes:
            op = node.operation
            if options.fold_batch_norm and isinstance(op, keras.layers.BatchNormalization):
                self._plan_bn(node)
            elif options.fuse_activations and _relu_kind(op):
                self._plan_activation(node)

    def _foldable_conv_node(self, node) -> bool:
        op = node.operation
        return (_is_conv(op) and self.g.calls[id(op)] == 1 and _conv_activation(op) is None
                and len(node.outputs) == 1)

    def conv_group(self, tensor) -> Optional[List]:
        """Conv layers whose outputs make `tensor` channel for channel: [conv], or the
        phase convs of a sub-pixel shuffle; None when there is no such group."""
        g = self.g
        if not g.single_use(tensor):
            return None
        node = g.producer.get(id(tensor))
        if node is None:
            return None
        if self._foldable_conv_node(node):
            return [node.operation]
        # Sub-pixel shuffle: convs -> Concatenate -> Reshape -> Permute -> Reshape.
        if not isinstance(node.operation, keras.layers.Reshape) or g.calls[id(node.operation)] != 1:
            return None
        merge = node
        perm = g.parent(merge, keras.layers.Permute)
        split = perm and g.parent(perm, keras.layers.Reshape)
        concat_node = split and g.producer.get(id(g.sole_input(split)))
        if not concat_node or not isinstance(concat_node.operation, keras.layers.Concatenate):
            return None
        if g.calls[id(concat_node.operation)] != 1 or not g.single_use(g.sole_input(split)):
            return None
        rank = len(concat_node.outputs[0].shape)
        if concat_node.operation.axis not in (-1, rank - 1):
            return None
        dims = tuple(perm.operation.dims)
        if dims[-1] != len(dims):
            return None  # the permutation moves the channel axis
        channels = merge.outputs[0].shape[-1]
        if split.outputs[0].shape[-1] != channels:
            return None
        convs = []
        for t in concat_node.input_tensors:
            p = g.producer.get(id(t))
            if (p is None or not g.single_use(t) or not self._foldable_conv_node(p)
                    or t.shape[-1] != channels):
                return None
            convs.append(p.operation)
        return convs

    def _plan_bn(self, node):
        op = node.operation
        axis = op.axis if isinstance(op.axis, int) else (op.axis[0] if len(op.axis) == 1 else None)
        t = self.g.sole_input(node)
        if t is None or axis not in (-1, len(t.shape) - 1) or self.g.calls[id(op)] != 1:
            return
        group = self.conv_group(t)
        if not group or any(id(c) in self.plans for c in group):
            return
        for c in group:
            self.plans[id(c)] = _ConvPlan(bn=op)
        self.absorbed.add(id(op))
        self.bn_groups[id(op)] = group

    def _plan_activation(self, node):
        op = node.operation
        t = self.g.sole_input(node)
        if t is None or self.g.calls[id(op)] != 1:
            return
        prod = self.g.producer.get(id(t))
        if prod is not None and id(prod.operation) in self.bn_groups:
            if not self.g.single_use(t):
                return
            group = self.bn_groups[id(prod.operation)]
        else:
            group = self.conv_group(t)
            if not group or any(id(c) in self.plans for c in group):
                return
        if any(self.plans.get(id(c), _ConvPlan()).activation for c in group):
            return
        for c in group:
            self.plans.setdefault(id(c), _ConvPlan()).activation = _relu_kind(op)
        self.absorbed.add(id(op))


# ------------------------------------------------------------------------------
# Rebuild.


def _bn_params(bn):
    c = int(bn.moving_mean.shape[0])
    gamma = np.asarray(bn.gamma) if bn.scale else np.ones(c, np.float32)
    beta = np.asarray(bn.beta) if bn.center else np.zeros(c, np.float32)
    return gamma, beta, np.asarray(bn.moving_mean), np.asarray(bn.moving_variance), float(bn.epsilon)


def _emit_conv(x, op, plan: Optional[_ConvPlan], options: LoweringOptions):
    """The lowered form of one Conv2D / DepthwiseConv2D, weights set."""
    weights = op.get_weights()
    kernel = np.asarray(weights[0], np.float32)
    bias = np.asarray(weights[1], np.float32) if op.use_bias else None
    activation = _conv_activation(op)
    depthwise = isinstance(op, keras.layers.DepthwiseConv2D)
    if plan is not None and plan.bn is not None:
        gamma, beta, mean, var, eps = _bn_params(plan.bn)
        if depthwise:  # [k, k, C, m] -> output channel c * m + j on the last axis
            kh, kw, c, m = kernel.shape
            k2, bias = fold_bn_weights(kernel.reshape(kh, kw, 1, c * m), bias,
                                       gamma, beta, mean, var, eps)
            kernel = k2.reshape(kh, kw, c, m)
        else:
            kernel, bias = fold_bn_weights(kernel, bias, gamma, beta, mean, var, eps)
    if plan is not None and plan.activation:
        activation = plan.activation
    strides = tuple(op.strides)
    simple = (tuple(op.dilation_rate) == (1, 1) and strides[0] == strides[1]
              and op.padding in ("same", "valid"))
    groups = 1 if depthwise else int(op.groups)
    if simple and depthwise:
        return depthwise_conv2d(x, kernel, bias, strides=strides[0], padding=op.padding,
                                activation=activation, max_taps=options.max_depthwise_taps,
                                name=op.name)
    if simple and groups > 1:
        return grouped_conv2d(x, kernel, bias, groups=groups, strides=strides[0],
                              padding=op.padding, method=options.grouped_method,
                              activation=activation, name=op.name)
    # Plain conv (or an unusual one: dilated, non-square strides): same layer type,
    # folded weights.
    config = dict(op.get_config())
    config.update(activation=activation, use_bias=bias is not None)
    cls = GroupedConv2D if groups > 1 else type(op)
    layer = cls.from_config(config)
    y = layer(x)
    layer.set_weights([kernel] + ([bias] if bias is not None else []))
    return y


def _clone_layer(op):
    try:
        return type(op).from_config(op.get_config())
    except (TypeError, ValueError, NotImplementedError):
        return op  # not re-creatable from its config: share the original layer


def lower_model(model: keras.Model, *, hard_swish: str = "activation",
                grouped_method: str = "auto", max_depthwise_taps: Optional[int] = None,
                fold_batch_norm: bool = True, fuse_activations: bool = True,
                name: Optional[str] = None) -> keras.Model:
    """The deployment form of a static functional Keras model (see module docstring).

    Args:
        model: a functional Keras 3 model (e.g. `SuperNetwork.extract(arch)`,
            `build_static(arch)`, a two-input T-ViPNet); any number of inputs and
            outputs, nested functional models are lowered recursively.
        hard_swish, grouped_method, max_depthwise_taps, fold_batch_norm,
            fuse_activations: see `LoweringOptions`.
        name: the new model's name (default: the old one).

    Returns:
        A new functional model with the same inputs/outputs (names, order) computing
        the same function in inference mode. The original model is not modified.
    """
    options = LoweringOptions(hard_swish=hard_swish, grouped_method=grouped_method,
                              max_depthwise_taps=max_depthwise_taps,
                              fold_batch_norm=fold_batch_norm, fuse_activations=fuse_activations)
    return _lower(model, options, name)


def _lower(model, options, name=None):
    if not hasattr(model, "_nodes_by_depth"):
        raise ValueError(f"lower_model needs a functional Keras model, got {type(model).__name__} "
                         f"{getattr(model, 'name', '')!r} (use extract()/build_static())")
    graph = _Graph(model)
    planner = _Planner(graph, options)
    tensor_map = {}
    new_inputs = []
    for inp in model.inputs:
        t = keras.Input(shape=tuple(inp.shape[1:]), batch_size=inp.shape[0],
                        name=inp.name.split(":")[0], dtype=inp.dtype)
        tensor_map[id(inp)] = t
        new_inputs.append(t)
    clones = {}

    def lookup(v):
        return tensor_map[id(v)] if isinstance(v, keras.KerasTensor) else v

    for node in graph.nodes:
        op = node.operation
        if id(op) in planner.absorbed:
            tensor_map[id(node.outputs[0])] = tensor_map[id(node.input_tensors[0])]
            continue
        args = keras.tree.map_structure(lookup, list(node.arguments.args))
        kwargs = keras.tree.map_structure(lookup, dict(node.arguments.kwargs))
        kwargs.pop("training", None)
        single = graph.calls[id(op)] == 1
        if single and _is_conv(op) and len(args) == 1 and not kwargs:
            outputs = _emit_conv(args[0], op, planner.plans.get(id(op)), options)
        elif (single and _is_hard_swish(op) and options.hard_swish == "int8"
              and len(args[0].shape) == 4):
            outputs = hard_swish_layers(args[0], "int8", name=op.name)
        elif hasattr(op, "_nodes_by_depth"):  # nested functional model
            if id(op) not in clones:
                clones[id(op)] = _lower(op, options)
            outputs = clones[id(op)](*args, **kwargs)
        else:
            if id(op) not in clones:
                clones[id(op)] = _clone_layer(op)
            layer = clones[id(op)]
            outputs = layer(*args, **kwargs)
            if layer is not op and op.weights and not getattr(layer, "_vipnas_weights_set", False):
                layer.set_weights(op.get_weights())
                layer._vipnas_weights_set = True  # pylint: disable=protected-access
        for old_t, new_t in zip(keras.tree.flatten(node.outputs), keras.tree.flatten(outputs)):
            tensor_map[id(old_t)] = new_t
    new_outputs = [tensor_map[id(t)] for t in model.outputs]
    inputs = _pack(getattr(model, "_inputs_struct", None), new_inputs)
    outputs = _pack(getattr(model, "_outputs_struct", None), new_outputs)
    return keras.Model(inputs, outputs, name=name or model.name)


def _pack(struct, flat):
    """`flat` in the nesting the original model was built with (a list stays a list)."""
    if struct is not None:
        try:
            return keras.tree.pack_sequence_as(struct, flat)
        except (ValueError, TypeError):
            pass
    return flat if len(flat) > 1 else flat[0]


def extract_lowered(supernet, arch, input_size=None, **options) -> keras.Model:
    """`lower_model(supernet.extract(arch, input_size), **options)`."""
    return lower_model(supernet.extract(arch, input_size), **options)


def layer_summary(model: keras.Model) -> Dict[str, int]:
    """Layer counts by kind, for reports: how much of the model is what.

    Keys: "grouped_conv" (GroupedConv2D and Keras Conv2D with groups > 1),
    "keras_grouped_conv" (Keras Conv2D(groups > 1): the XLA-path layer that lowering
    removes), "depthwise", "max_depthwise_taps", "conv", "batch_norm", "hard_swish",
    "layers".
    """
    out = collections.Counter()
    max_taps = 0
    for layer in _all_layers(model):
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            out["depthwise"] += 1
            max_taps = max(max_taps, int(np.prod(layer.kernel_size)))
        elif isinstance(layer, keras.layers.Conv2D):
            if layer.groups > 1:
                out["grouped_conv"] += 1
                if not isinstance(layer, GroupedConv2D):
                    out["keras_grouped_conv"] += 1
            else:
                out["conv"] += 1
        elif isinstance(layer, keras.layers.BatchNormalization):
            out["batch_norm"] += 1
        elif _is_hard_swish(layer):
            out["hard_swish"] += 1
        out["layers"] += 1
    out["max_depthwise_taps"] = max_taps
    for key in ("grouped_conv", "keras_grouped_conv", "depthwise", "conv", "batch_norm", "hard_swish"):
        out.setdefault(key, 0)
    return dict(out)


def _all_layers(model):
    for layer in model.layers:
        if hasattr(layer, "_nodes_by_depth"):
            yield from _all_layers(layer)
        else:
            yield layer
