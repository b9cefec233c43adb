"""Int8 models XNNPACK can load: floor the output scales that calibration left degenerate.

XNNPACK builds an int8 convolution (and depthwise, fully connected, transposed
convolution) only if every output channel's requantization scale

    input_scale * filter_scale[c] / output_scale

is below 256 (its `xnn_create_convolution2d_nhwc_qs8_qc8w` and friends return
`xnn_status_unsupported_parameter` otherwise). The LiteRT delegate does not check it
before it claims the op, so such a model does not fall back to the reference kernels:
`allocate_tensors()` fails with "failed to create XNNPACK runtime" and the app cannot
run the model at all.

The converter produces such an op when calibration saw (almost) nothing at its
output: an SE branch whose reduce conv + ReLU was zero on every representative
sample gets an output range of ~1e-6 and an output scale of ~1e-8, five orders of
magnitude finer than its input step times its filter step (measured: a random-weight
HRNet-W32 network at 256x192, requantization scale 1.3e6). The values of that
tensor are zero, so any coarser scale represents them exactly.

`floor_degenerate_scales(flatbuffer)` raises every such output scale to
`input_scale * max(filter_scale)` (requantization scale 1: an output step no finer
than one input step times the largest filter step) and keeps the model consistent:
ops that pass the tensor through unchanged (reshape, tile, pooling, padding, ...)
get the same scale on their outputs, and the convolutions that read it get their
int32 biases re-expressed in the new `input_scale * filter_scale`. Anything that
requantizes its input (add, mul, mean, logistic, hard-swish, concatenation,
quantize, dequantize) reads the new scale from the tensor. A raised tensor read by an
op outside those sets makes the export fail with a ValueError naming the tensor.
"""
import copy
import logging
from typing import List, Tuple

import numpy as np
from tensorflow.lite.python import schema_py_generated as schema

from vipnas_tf.export.flatbuffer import decode_name, read_model, write_model

log = logging.getLogger(__name__)

# XNNPACK refuses a requantization scale >= 256; floor from half of it, clear of rounding.
MAX_REQUANTIZATION_SCALE = 128.0

_OPS = schema.BuiltinOperator
# op -> (input, filter, bias) indices of its inputs
_CONV_LIKE = {_OPS.CONV_2D: (0, 1, 2), _OPS.DEPTHWISE_CONV_2D: (0, 1, 2), _OPS.FULLY_CONNECTED: (0, 1, 2),
              _OPS.TRANSPOSE_CONV: (2, 1, 3)}
# outputs carry the input's quantization (the int8 kernels copy or select values)
_PASS_THROUGH = {_OPS.RESHAPE, _OPS.SQUEEZE, _OPS.EXPAND_DIMS, _OPS.TILE, _OPS.MAX_POOL_2D, _OPS.AVERAGE_POOL_2D,
                 _OPS.PAD, _OPS.PADV2, _OPS.TRANSPOSE, _OPS.RESIZE_NEAREST_NEIGHBOR, _OPS.RESIZE_BILINEAR,
                 _OPS.STRIDED_SLICE, _OPS.SLICE, _OPS.SPLIT, _OPS.SPLIT_V, _OPS.GATHER, _OPS.DEPTH_TO_SPACE,
                 _OPS.SPACE_TO_DEPTH}
# read their inputs' scales and requantize
_REQUANTIZING = {_OPS.ADD, _OPS.SUB, _OPS.MUL, _OPS.MEAN, _OPS.SUM, _OPS.LOGISTIC, _OPS.TANH, _OPS.HARD_SWISH,
                 _OPS.CONCATENATION, _OPS.QUANTIZE, _OPS.DEQUANTIZE, _OPS.RELU, _OPS.RELU6, _OPS.LEAKY_RELU,
                 _OPS.PRELU, _OPS.MAXIMUM, _OPS.MINIMUM}


def _code(model, op) -> int:
    code = model.operatorCodes[op.opcodeIndex]
    return max(code.builtinCode, code.deprecatedBuiltinCode)


def _scales(tensor):
    q = tensor.quantization
    if q is None or q.scale is None or len(q.scale) == 0:
        return None
    return np.asarray(q.scale, np.float64)


class _Graph:
    def __init__(self, model, subgraph):
        self.model = model
        self.tensors = subgraph.tensors
        self.consumers = {}
        for op in subgraph.operators:
            for i in op.inputs if op.inputs is not None else []:
                if i >= 0:
                    self.consumers.setdefault(int(i), []).append(op)
        self.unhandled: List[Tuple[str, str]] = []

    def _rebias(self, op, code, old_in: float, new_in: float):
        """Re-expresses `op`'s int32 bias in its new input scale (a copied tensor and buffer)."""
        _, f, b = _CONV_LIKE[code]
        if len(op.inputs) <= b or op.inputs[b] < 0:
            return
        bias = self.tensors[op.inputs[b]]
        data = self.model.buffers[bias.buffer].data
        if data is None or bias.type != schema.TensorType.INT32:
            return
        filter_scales = _scales(self.tensors[op.inputs[f]])
        values = np.frombuffer(np.asarray(data, np.uint8).tobytes(), np.int32).astype(np.float64)
        rescaled = np.clip(np.round(values * (old_in / new_in)), -2 ** 31, 2 ** 31 - 1).astype(np.int32)
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(rescaled.tobytes(), np.uint8)
        self.model.buffers.append(buffer)
        clone = copy.deepcopy(bias)
        clone.buffer = len(self.model.buffers) - 1
        clone.quantization.scale = (new_in * np.broadcast_to(filter_scales, rescaled.shape)).astype(np.float32)
        self.tensors.append(clone)
        op.inputs[b] = len(self.tensors) - 1

    def set_scale(self, index: int, new: float):
        """Gives tensor `index` the scale `new` and keeps its readers consistent."""
        tensor = self.tensors[index]
        old = float(_scales(tensor)[0])
        zero_point = tensor.quantization.zeroPoint
        tensor.quantization.scale = np.asarray([new], np.float32)
        for op in self.consumers.get(index, []):
            code = _code(self.model, op)
            if code in _CONV_LIKE and op.inputs[_CONV_LIKE[code][0]] == index:
                self._rebias(op, code, old, new)
            elif code in _PASS_THROUGH:
                for out in op.outputs:
                    q = _scales(self.tensors[out])
                    same_zp = np.array_equal(self.tensors[out].quantization.zeroPoint, zero_point)
                    if q is not None and len(q) == 1 and np.isclose(q[0], old, rtol=1e-6) and same_zp:
                        self.set_scale(int(out), new)
            elif code not in _REQUANTIZING and code not in _CONV_LIKE:
                self.unhandled.append((decode_name(tensor.name), f"builtin op {code}"))


def floor_degenerate_scales(flatbuffer: bytes) -> Tuple[bytes, List[str]]:
    """(flatbuffer, names of the tensors whose scale was raised); the bytes are the
    input's own when nothing needed it. ValueError naming the tensor when one of them
    feeds an op whose quantization rule is not known here (see module doc)."""
    model = read_model(flatbuffer)
    raised = []
    for subgraph in model.subgraphs:
        graph = _Graph(model, subgraph)
        for op in subgraph.operators:  # execution order: an input's scale is final when its op is reached
            code = _code(model, op)
            if code not in _CONV_LIKE:
                continue
            i, f, _ = _CONV_LIKE[code]
            s_in, s_f = _scales(graph.tensors[op.inputs[i]]), _scales(graph.tensors[op.inputs[f]])
            out = int(op.outputs[0])
            s_out = _scales(graph.tensors[out])
            if s_in is None or s_f is None or s_out is None or len(s_out) != 1:
                continue  # a float or dynamic-range op
            floor = float(s_in[0] * s_f.max())
            if floor / s_out[0] >= MAX_REQUANTIZATION_SCALE:
                graph.set_scale(out, floor)
                raised.append(decode_name(graph.tensors[out].name))
        if graph.unhandled:
            name, op = graph.unhandled[0]
            raise ValueError(f"int8 tensor {name!r} has a degenerate scale (calibration saw ~0 there) and feeds "
                             f"{op}, whose quantization rule the fix does not know; calibrate with more varied "
                             "representative data")
    if not raised:
        return flatbuffer, []
    return write_model(model), raised


def floor_scales(flatbuffer: bytes) -> bytes:
    """`floor_degenerate_scales`, logging the tensors it raised."""
    flatbuffer, raised = floor_degenerate_scales(flatbuffer)
    if raised:
        log.warning("int8 export: %d output scale(s) left degenerate by calibration raised so that XNNPACK "
                        "can build the model: %s", len(raised), ", ".join(n.split(";")[0] for n in raised))
    return flatbuffer
