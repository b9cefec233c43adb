"""Keras 3 model -> .tflite (float32, float16, dynamic-range, full-integer int8).

The recipe (measured with TF 2.21 on the published models): trace the model as a
`tf.function` with a *fixed* batch-1 input signature and convert that concrete
function. Converting a Keras model whose batch is dynamic failed on some ops (the
converter kept `tf.DepthwiseConv2dNative` as a flex op); a static signature lets
every op lower to a builtin, and batch 1 is what a phone runs anyway.

Only TFLite builtin ops are allowed (no SELECT_TF_OPS): a model with an op TFLite
cannot run raises `UnsupportedOpError`, naming the TF op and the Keras layer it came
from, instead of a .tflite that needs the full TF runtime.

Multi-input models (a T-ViPNet takes the image crop [1, H, W, 3] and the previous
frame's heatmaps [1, H/4, W/4, K]) convert the same way; the TFLite inputs keep the
Keras input order.

Optional post-processing (`decode_fn`): the exported model also returns decoded
keypoints [1, K, 2] (input-image pixels, x then y) and scores [1, K], so the app
needs no heatmap code. Outputs are then, in this order: heatmaps, keypoints, scores.

Every model has the named signature `serving_default` (`metadata.with_signature`):
inputs `image` (and `prev_heatmaps` for a T-ViPNet), outputs `heatmaps` (and
`keypoints`, `scores`), so `Interpreter.get_signature_runner()` works.

`input_dtype="uint8"` folds the normalisation into the graph: the image input is a
uint8 RGB crop 0-255, as a camera delivers it. In float modes the graph casts it and
normalises ((pixel - mean) / std, ImageNet mean/std in RGB); in int8 the network is
calibrated on pixel values and the image input is uint8 with scale 1 and zero point 0,
i.e. the pixels themselves (other inputs, the previous heatmaps, are then uint8 too,
with their own scale and zero point).

Example:
    >>> from vipnas_tf.export import quantization, tflite_export
    >>> tflite_export.export_tflite(model, "m_fp32.tflite")
    >>> cfg = quantization.QuantizationConfig.for_int8(rep_data)
    >>> tflite_export.export_tflite(model, "m_int8.tflite", quantization=cfg,
    ...                             decode_fn="default")
"""
import dataclasses
import os
import re
from typing import Callable, List, Optional, Sequence, Tuple, Union

import keras
import numpy as np
import tensorflow as tf

from vipnas_tf.codecs.heatmap import HeatmapCodec
from vipnas_tf.data.transforms import IMAGENET_MEAN_RGB, IMAGENET_STD_RGB
from vipnas_tf.export.metadata import INPUT_DTYPES, signature_names, with_signature
from vipnas_tf.export.quantization import QuantizationConfig, arrays_representative, random_representative
from vipnas_tf.export.requantization import floor_scales
from vipnas_tf.litert.interpreter import load_interpreter
from vipnas_tf.utils.io import write_bytes

# How the traced function takes the image: normalised float (the Keras model's own
# input), uint8 pixels (cast and normalised inside), or float pixels 0-255 normalised
# inside (the int8 conversion of a uint8-input model, calibrated on pixel values).
IMAGE_INPUTS = ("normalized", "uint8", "pixels")

# decode_fn(heatmaps [N, H, W, K] float32) -> (keypoints [N, K, 2], scores [N, K]).
DecodeFn = Callable[[tf.Tensor], Tuple[tf.Tensor, tf.Tensor]]


@dataclasses.dataclass(frozen=True)
class UnsupportedOp:
    """One op the TFLite builtin op set cannot run.

    Attributes:
        tf_op: the TF op type, e.g. "Erf".
        layer: name of the Keras layer that emitted it ("" when unknown).
        location: the TF name-scope path of the op, e.g. "functional/my_layer_1/Erf".
    """

    tf_op: str
    layer: str
    location: str


class UnsupportedOpError(RuntimeError):
    """The model uses ops that TFLite builtins (and so XNNPACK) cannot run.

    Attributes:
        ops: list of `UnsupportedOp`.
    """

    def __init__(self, ops: Sequence[UnsupportedOp], converter_message: str = ""):
        self.ops = list(ops)
        lines = [f"  tf.{o.tf_op} in Keras layer {o.layer or '<unknown>'!r} ({o.location})"
                 for o in self.ops]
        msg = ("The model contains ops that TFLite builtins cannot run (they would "
               "need SELECT_TF_OPS / flex, which phones and XNNPACK do not have):\n"
               + "\n".join(lines)
               + "\nRewrite those layers with standard Keras layers that lower to "
               "TFLite builtins (see vipnas_tf/export/lowering/).")
        if not self.ops:
            msg += "\nConverter said:\n" + converter_message[:4000]
        super().__init__(msg)


def static_input_signature(model: keras.Model, batch_size: int = 1) -> List[tf.TensorSpec]:
    """Fixed-shape TensorSpecs for the model's inputs, batch dimension set.

    Raises:
        ValueError: when a non-batch dimension is unknown (TFLite needs static
            shapes to plan memory and pick XNNPACK kernels).
    """
    specs = []
    for i, inp in enumerate(model.inputs):
        dims = list(inp.shape[1:])
        if any(d is None for d in dims):
            raise ValueError(f"input {i} ({inp.name}) has an unknown dimension {inp.shape}; "
                             "build the model with a fixed input size")
        name = (getattr(inp, "name", None) or f"input_{i}").split(":")[0]
        specs.append(tf.TensorSpec([batch_size] + dims, tf.float32, name=name))
    return specs


def argmax_decode(heatmaps: tf.Tensor, input_size: Optional[Tuple[int, int]] = None
                  ) -> Tuple[tf.Tensor, tf.Tensor]:
    """Minimal pure-TF heatmap decode: per-keypoint argmax, no sub-pixel refinement.

    A stand-in until `vipnas_tf.codecs.heatmap.HeatmapCodec.decode_tf` exists, and a
    reference for how a decode function plugs into the export.

    Args:
        heatmaps: [N, H, W, K] float32.
        input_size: (height, width) of the input crop in pixels; when given the
            keypoints are scaled from heatmap cells to input pixels (cell centres).

    Returns:
        keypoints [N, K, 2] float32 (x, y) and scores [N, K] float32 (the peak value).
    """
    shape = tf.shape(heatmaps)
    n, h, w, k = shape[0], shape[1], shape[2], shape[3]
    flat = tf.reshape(tf.transpose(heatmaps, [0, 3, 1, 2]), [n, k, h * w])
    idx = tf.argmax(flat, axis=-1, output_type=tf.int32)
    scores = tf.reduce_max(flat, axis=-1)
    x = tf.cast(idx % w, tf.float32)
    y = tf.cast(idx // w, tf.float32)
    if input_size is not None:
        hh, ww = heatmaps.shape[1], heatmaps.shape[2]
        x = (x + 0.5) * (input_size[1] / ww) - 0.5
        y = (y + 0.5) * (input_size[0] / hh) - 0.5
    return tf.stack([x, y], axis=-1), scores


def default_decode_fn(model: keras.Model) -> DecodeFn:
    """The project's codec decode when it exists, else `argmax_decode`.

    Uses `vipnas_tf.codecs.heatmap.HeatmapCodec(input_size=(H, W),
    heatmap_size=(h, w)).decode_tf`; if the codec module is missing or has another
    constructor, falls back to `argmax_decode` scaled to input pixels.
    """
    image = model.inputs[0]
    input_size = (int(image.shape[1]), int(image.shape[2]))
    out = model.outputs[0]
    heatmap_size = (int(out.shape[1]), int(out.shape[2]))
    try:
        codec = HeatmapCodec(input_size=input_size, heatmap_size=heatmap_size)
        return codec.decode_tf
    except (ImportError, TypeError, AttributeError):
        return lambda hm: argmax_decode(hm, input_size)


def _resolve_decode(model, decode_fn):
    if decode_fn is None:
        return None
    if isinstance(decode_fn, str):
        if decode_fn != "default":
            raise ValueError(f"decode_fn must be a callable, None or 'default', got {decode_fn!r}")
        return default_decode_fn(model)
    return decode_fn


def normalize_pixels(images: tf.Tensor) -> tf.Tensor:
    """(pixel - mean) / std of RGB 0-255 images (any dtype), as the input pipeline
    normalises (ImageNet mean and std, `vipnas_tf.data.transforms`)."""
    mean = tf.constant(IMAGENET_MEAN_RGB, tf.float32)
    inv_std = tf.constant([1.0 / s for s in IMAGENET_STD_RGB], tf.float32)
    return (tf.cast(images, tf.float32) - mean) * inv_std


def concrete_function(model: keras.Model, batch_size: int = 1,
                      decode_fn: Optional[DecodeFn] = None, image_input: str = "normalized"):
    """Traces `model` (inference mode) with a fixed input signature.

    Args:
        model: the static Keras model.
        batch_size: the fixed batch.
        decode_fn: appends keypoints and scores to the outputs.
        image_input: one of `IMAGE_INPUTS`: what the first input takes.

    Returns the concrete function whose outputs are the model's outputs in order,
    followed by keypoints and scores when `decode_fn` is given.
    """
    if image_input not in IMAGE_INPUTS:
        raise ValueError(f"image_input must be one of {IMAGE_INPUTS}, got {image_input!r}")
    specs = static_input_signature(model, batch_size)
    if image_input == "uint8":
        specs[0] = tf.TensorSpec(specs[0].shape, tf.uint8, name=specs[0].name)

    @tf.function(input_signature=specs, autograph=False)
    def serve(*inputs):
        inputs = list(inputs)
        if image_input != "normalized":
            inputs[0] = normalize_pixels(inputs[0])
        outputs = model(_pack_inputs(model, inputs), training=False)
        outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        if decode_fn is not None:
            keypoints, scores = decode_fn(outputs[0])
            outputs += [tf.cast(keypoints, tf.float32), tf.cast(scores, tf.float32)]
        return outputs

    return serve.get_concrete_function()


def _pack_inputs(model, inputs):
    """Inputs in the nesting the functional model was built with (avoids Keras'
    structure-mismatch warning for `keras.Model([image], ...)`)."""
    struct = getattr(model, "_inputs_struct", None)
    if struct is not None:
        try:
            return keras.tree.pack_sequence_as(struct, inputs)
        except (ValueError, TypeError):
            pass
    return inputs[0] if len(inputs) == 1 else inputs


def to_pixels(images: np.ndarray) -> np.ndarray:
    """Normalised crops -> the uint8 RGB crops they came from (rounded, clipped to 0-255)."""
    mean = np.asarray(IMAGENET_MEAN_RGB, np.float32)
    std = np.asarray(IMAGENET_STD_RGB, np.float32)
    return np.clip(np.round(np.asarray(images, np.float32) * std + mean), 0, 255).astype(np.uint8)


def _pixel_representative(data, num_inputs: int):
    """Representative data of normalised crops -> the same crops as 0-255 pixel values.

    The first sample gets one black and one white pixel, so that the calibrated range
    of the image input is exactly [0, 255]: a uint8 input of scale 1 and zero point 0.
    """
    def gen():
        source = data() if callable(data) else data
        first = True
        for batch in source:
            arrays = list(batch) if isinstance(batch, (list, tuple)) else [batch]
            if len(arrays) == 2 and num_inputs == 1:  # (features, labels)
                arrays = arrays[:1]
            image = to_pixels(arrays[0]).astype(np.float32)
            if first:
                image[0, 0, 0, :] = 0.0
                image[0, 0, 1, :] = 255.0
                first = False
            yield [image] + [np.asarray(a, np.float32) for a in arrays[1:]]

    return gen


def _check_pixel_input(flatbuffer):
    detail = load_interpreter(flatbuffer).get_input_details()[0]
    scale, zero = detail["quantization"]
    if detail["dtype"] != np.uint8 or abs(scale - 1.0) > 1e-6 or zero != 0:
        raise RuntimeError(f"int8 with a uint8 image input: the converter gave the image input "
                           f"{np.dtype(detail['dtype']).name} scale {scale} zero point {zero}, not the "
                           "pixels themselves (uint8, scale 1, zero point 0)")


def export_tflite(model: keras.Model, path: Optional[Union[str, os.PathLike]] = None, *,
                  quantization: Optional[QuantizationConfig] = None,
                  batch_size: int = 1,
                  decode_fn: Union[None, str, DecodeFn] = None,
                  input_dtype: str = "float32") -> bytes:
    """Converts a static Keras 3 model to a TFLite flatbuffer.

    Args:
        model: a Keras model with fixed input sizes (any number of float32 inputs).
        path: where to write the .tflite (parent folders are created, the file is
            written atomically); None returns the bytes only.
        quantization: a `QuantizationConfig`; default float32.
        batch_size: the fixed batch of the exported model (1 for on-device use).
        decode_fn: None (heatmaps only), "default" (the project's codec, see
            `default_decode_fn`), or a callable heatmaps -> (keypoints, scores).
        input_dtype: "float32" (the image input is the normalised crop) or "uint8"
            (RGB pixels 0-255, normalisation in the graph; see the module docstring).
            int8 representative data stays normalised crops either way.

    Returns:
        The .tflite flatbuffer bytes.

    Raises:
        UnsupportedOpError: the model needs ops outside the TFLite builtins.
        ValueError: an unknown input dtype, or uint8 input with integer outputs.
    """
    quantization = quantization or QuantizationConfig.for_float32()
    if input_dtype not in INPUT_DTYPES:
        raise ValueError(f"input_dtype must be one of {INPUT_DTYPES}, got {input_dtype!r}")
    pixels_int8 = input_dtype == "uint8" and quantization.mode == "int8"
    if pixels_int8:
        if quantization.io_dtype != "float32":
            raise ValueError(f"input_dtype='uint8' sets the int8 model's image input to uint8 pixels; "
                             f"io_dtype={quantization.io_dtype!r} (integer outputs too) cannot be combined "
                             "with it, leave io_dtype at 'float32'")
        quantization = dataclasses.replace(
            quantization, representative_data=_pixel_representative(quantization.representative_data,
                                                                    len(model.inputs)))
    image_input = "normalized" if input_dtype == "float32" else ("pixels" if pixels_int8 else "uint8")
    decode = _resolve_decode(model, decode_fn)
    cf = concrete_function(model, batch_size, decode, image_input)
    # No trackable object: the converter then freezes the captured variables into
    # constants (with one, Keras 3 variables stay READ_VARIABLE ops that fail at
    # run time).
    converter = tf.lite.TFLiteConverter.from_concrete_functions([cf])
    input_shapes = [tuple(s.shape) for s in static_input_signature(model, batch_size)]
    quantization.apply(converter, input_shapes)
    if decode is not None and quantization.mode == "int8" and not quantization.allow_float_fallback:
        # Decoding (argmax index -> coordinates) is float/int32 math with no int8
        # kernels; keep it in float and quantize only the network.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                               tf.lite.OpsSet.TFLITE_BUILTINS]
    if pixels_int8:
        converter.inference_input_type = tf.uint8
    try:
        flatbuffer = converter.convert()
    except Exception as e:  # ConverterError; its class lives in a private module.
        if type(e).__name__ != "ConverterError":
            raise
        ops = unsupported_ops_from_error(e, model)
        raise UnsupportedOpError(ops, str(e)) from e
    if pixels_int8:
        _check_pixel_input(flatbuffer)
    if quantization.mode == "int8":
        flatbuffer = floor_scales(flatbuffer)
    num_outputs = len(cf.structured_outputs)
    flatbuffer = with_signature(flatbuffer, *signature_names(len(model.inputs), num_outputs, decode is not None))
    if path is not None:
        write_bytes(path, flatbuffer)
    return flatbuffer


def export_quantized(model: keras.Model, mode: str = "float32", path: Optional[Union[str, os.PathLike]] = None, *,
                     representative_inputs: Optional[Sequence[np.ndarray]] = None,
                     num_calibration_samples: Optional[int] = None, io_dtype: str = "float32",
                     decode_fn: Union[None, str, DecodeFn] = None, seed: int = 0,
                     input_dtype: str = "float32") -> bytes:
    """`export_tflite` in a quantization mode, int8 calibrated on given or random inputs.

    The one conversion-with-representative-data entry point of the project: deployment
    (`convert.convert`, real crops), the latency table and the layer benchmarks
    (random inputs) all convert through it.

    Args:
        model: a static Keras model.
        mode: "float32", "float16", "dynamic" or "int8".
        path: where to write the .tflite (atomically), or None.
        representative_inputs: for "int8": per model input an array [n, ...] of real
            inputs (normalised crops; previous heatmaps for a T-ViPNet); None calibrates
            on N(0, 1) inputs (`quantization.random_representative`), which is right for
            timing only.
        num_calibration_samples: int8 samples used; default all n of
            `representative_inputs`, or 4 random ones.
        io_dtype: int8 only: "float32", "int8" or "uint8" (see `quantization`).
        decode_fn: see `export_tflite`.
        seed: seed of the random inputs.
        input_dtype: "float32" or "uint8" (see `export_tflite`).
    """
    if mode == "int8":
        if representative_inputs is None:
            num = num_calibration_samples or 4
            data = random_representative([i.shape for i in model.inputs], num, seed)
        else:
            num = num_calibration_samples or len(representative_inputs[0])
            data = arrays_representative(representative_inputs)
        cfg = QuantizationConfig.for_int8(data, num_calibration_samples=num, io_dtype=io_dtype)
    else:
        if io_dtype != "float32":
            raise ValueError(f"io_dtype={io_dtype!r} needs quantization='int8'")
        constructors = {"float32": QuantizationConfig.for_float32, "float16": QuantizationConfig.for_float16,
                        "dynamic": QuantizationConfig.for_dynamic}
        if mode not in constructors:
            raise ValueError(f"mode must be one of {('int8', *constructors)}, got {mode!r}")
        cfg = constructors[mode]()
    return export_tflite(model, path, quantization=cfg, decode_fn=decode_fn, input_dtype=input_dtype)


def unsupported_ops_from_error(error: Exception, model: keras.Model) -> List[UnsupportedOp]:
    """Reads the ops TFLite could not lower, and their Keras layers, from a ConverterError."""
    layer_names = [layer.name for layer in model.layers]
    found = {}
    for err in getattr(error, "errors", None) or []:
        op = err.operator.name if err.HasField("operator") else ""
        if not op:
            continue
        location = ""
        for call in getattr(err.location, "call", []):
            if call.name:
                location = call.name
                break
        if not location and err.location.name:
            location = err.location.name
        tf_op = op[3:] if op.startswith("tf.") else op
        found[(tf_op, location)] = UnsupportedOp(tf_op, _layer_of(location, layer_names), location)
    if not found:
        # Older converters only put it in the text: "TF Select ops: Erf, Lgamma".
        for match in re.finditer(r"'tf\.(\w+)' op is neither", str(error)):
            found[(match.group(1), "")] = UnsupportedOp(match.group(1), "", "")
    return list(found.values())


def _layer_of(location: str, layer_names: Sequence[str]) -> str:
    """Maps a TF name-scope path ("functional_1/my_layer_1/Erf") to a layer name."""
    parts = location.split("/")
    for part in parts:
        if part in layer_names:
            return part
    # TF uniquifies name scopes on re-tracing: "my_layer" becomes "my_layer_1".
    for part in parts:
        base = re.sub(r"_\d+$", "", part)
        if base in layer_names:
            return base
    return ""
