"""What a `.tflite` pose model needs to be fed: metadata in the file, a JSON sidecar, signatures.

An app that runs an exported model must know how to cut the crop (box padding, aspect
ratio), what pixels to feed (colour order, dtype, value range or normalisation), what
the outputs mean (keypoint names, flip pairs, skeleton, heatmap stride, decode) and
where the weights came from. `model_metadata` collects that in one JSON-able dict
(format: docs/tflite.md, "Model metadata"); `embed_metadata` stores it in the
flatbuffer's metadata table under `METADATA_NAME` (the buffer holds the UTF-8 JSON),
and `sidecar_path` names the JSON file written beside the model.

`with_signature` adds the named `serving_default` SignatureDef (inputs `image`, and
`prev_heatmaps` for a T-ViPNet; outputs `heatmaps`, `keypoints`, `scores`) so that
`Interpreter.get_signature_runner()` works; the converter writes none for a frozen
concrete function.

Example:
    >>> meta = model_metadata(input_size=(256, 192), heatmap_size=(64, 48), num_keypoints=17,
    ...                       input_dtype="uint8", keypoint_layout="coco")
    >>> flatbuffer = embed_metadata(flatbuffer, meta)
    >>> read_metadata(flatbuffer)["keypoints"]["names"][0]
    'nose'
"""
import json
import os
from typing import Dict, Optional, Sequence

import numpy as np
from tensorflow.lite.python import schema_py_generated as schema

from vipnas_tf.codecs.dataset_info import DATASET_INFOS
from vipnas_tf.data.transforms import IMAGENET_MEAN_RGB, IMAGENET_STD_RGB
from vipnas_tf.export.flatbuffer import decode_name, read_model, write_model

METADATA_NAME = "vipnas_metadata"
FORMAT_VERSION = 1
SIGNATURE_KEY = "serving_default"
INPUT_DTYPES = ("float32", "uint8")
# Top-down crops as the project's evaluation and mmpose's top-down test cut them.
BOX_PADDING = 1.25

# Signature names of the inputs (image crop; a T-ViPNet also takes the previous heatmaps)
# and of the outputs (heatmaps; keypoints and scores with the decode).
INPUT_NAMES = ("image", "prev_heatmaps")
OUTPUT_NAMES = ("heatmaps", "keypoints", "scores")


def sidecar_path(tflite_path) -> str:
    """The metadata JSON written beside a model: `m.tflite` -> `m.json`."""
    root, _ = os.path.splitext(os.fspath(tflite_path))
    return root + ".json"


def summary_path(tflite_path) -> str:
    """The conversion summary written beside a model: `m.tflite` -> `m.summary.json`."""
    root, _ = os.path.splitext(os.fspath(tflite_path))
    return root + ".summary.json"


def _normalisation():
    return {"mean": list(IMAGENET_MEAN_RGB), "std": list(IMAGENET_STD_RGB)}


def model_metadata(*, input_size, heatmap_size, num_keypoints: int, input_dtype: str = "float32",
                   keypoint_layout: Optional[str] = None, quantization: str = "float32",
                   decode: bool = False, arch: Optional[str] = None, provenance: Optional[Dict] = None,
                   prev_heatmaps: bool = False, image_quantization=None, extra: Optional[Dict] = None) -> Dict:
    """The metadata dict of one exported pose model (format: docs/tflite.md).

    Args:
        input_size: (H, W) of the crop.
        heatmap_size: (h, w) of the heatmaps.
        num_keypoints: K, heatmap channels.
        input_dtype: "float32" (the caller normalises) or "uint8" (RGB 0-255 pixels,
            normalisation inside the graph).
        keypoint_layout: "coco" | "posetrack18", or None when the channels mean nothing
            yet (random weights); names, flip pairs and skeleton come from the layout
            (null when its keypoint count is not `num_keypoints`).
        quantization: the conversion mode.
        decode: whether the model also outputs keypoints and scores.
        arch: the architecture string, if any.
        provenance: where the weights came from (`provenance`).
        prev_heatmaps: the model is a T-ViPNet taking the previous frame's heatmaps.
        image_quantization: (scale, zero_point) of an integer image input, if any.
        extra: further top-level fields (e.g. the model's role in a schedule).

    Raises:
        ValueError: an unknown input dtype or keypoint layout.
    """
    if input_dtype not in INPUT_DTYPES:
        raise ValueError(f"input dtype must be one of {INPUT_DTYPES}, got {input_dtype!r}")
    if keypoint_layout is not None and keypoint_layout not in DATASET_INFOS:
        raise ValueError(f"keypoint layout {keypoint_layout!r} is not one of {sorted(DATASET_INFOS)}")
    h, w = (int(v) for v in input_size)
    hh, hw = (int(v) for v in heatmap_size)
    k = int(num_keypoints)
    image = {"name": INPUT_NAMES[0], "shape": [1, h, w, 3], "dtype": input_dtype, "color_order": "RGB"}
    if input_dtype == "uint8":
        image.update(value_range=[0, 255], normalization="inside the model: (pixel - mean) / std",
                     **_normalisation())
        if image_quantization is not None:
            image["quantization"] = {"scale": float(image_quantization[0]),
                                     "zero_point": int(image_quantization[1])}
    else:
        image.update(value_range=None, normalization="by the caller: (pixel - mean) / std on 0-255 RGB",
                     **_normalisation())
    inputs = [image]
    if prev_heatmaps:
        inputs.append({"name": INPUT_NAMES[1], "shape": [1, hh, hw, k], "dtype": "float32",
                       "meaning": "the previous frame's heatmaps output, for the same crop"})
    outputs = [{"name": OUTPUT_NAMES[0], "shape": [1, hh, hw, k], "dtype": "float32"}]
    if decode:
        outputs += [{"name": OUTPUT_NAMES[1], "shape": [1, k, 2], "dtype": "float32",
                     "meaning": "(x, y) in crop pixels"},
                    {"name": OUTPUT_NAMES[2], "shape": [1, k], "dtype": "float32",
                     "meaning": "heatmap maximum per keypoint"}]
    info = DATASET_INFOS.get(keypoint_layout)
    if info is not None and info.num_keypoints != k:
        info = None  # a layout of another keypoint count names nothing here
    keypoints = {"layout": keypoint_layout, "count": k,
                 "names": list(info.keypoint_names) if info else None,
                 "flip_pairs": [list(p) for p in info.flip_pairs] if info else None,
                 "skeleton": [list(p) for p in info.skeleton] if info else None}
    meta = {
        "format": METADATA_NAME, "version": FORMAT_VERSION, "signature": SIGNATURE_KEY,
        "inputs": inputs, "outputs": outputs,
        "input_size": [h, w], "input_dtype": input_dtype, "color_order": "RGB",
        "heatmap_size": [hh, hw], "heatmap_stride": [w / hw, h / hh],
        "keypoints": keypoints,
        "crop": {"box_format": "xywh (image pixels)", "padding": BOX_PADDING, "aspect_ratio": w / h,
                 "method": ("centre = box centre; the box is enlarged to width / height = aspect_ratio, "
                            "then multiplied by padding; the crop is the affine warp of that region "
                            "to the input size (bilinear, black border)")},
        "decode": {"in_model": bool(decode),
                   "method": ("per keypoint: argmax of the heatmap, moved 0.25 cell towards the higher "
                              "of its two neighbours along x and along y (not on the border); crop "
                              "pixels = heatmap coordinates * heatmap_stride; image pixels = crop "
                              "pixels * box_size / input_size + box_centre - box_size / 2")},
        "quantization": quantization,
        "arch": arch,
        "provenance": dict(provenance or {}),
    }
    if extra:
        meta.update(extra)
    return meta


def provenance(weights: str, random_init: bool, model_dir: Optional[str] = None,
               run_config: Optional[Dict] = None) -> Dict:
    """Where a model's weights came from: the model directory, its run (training mode,
    run directory) and, for imported checkpoints, the checkpoint file and its sha256."""
    out = {"weights": weights, "random_init": bool(random_init),
           "model_dir": os.path.abspath(model_dir) if model_dir else None}
    cfg = run_config or {}
    if cfg.get("mode"):
        out["run_mode"] = cfg["mode"]
    source = cfg.get("source")
    if isinstance(source, dict):
        out["source"] = source
        if source.get("sha256"):
            out["checkpoint_sha256"] = source["sha256"]
    if cfg.get("checkpoint"):
        out["checkpoint"] = cfg["checkpoint"]
    return out


# ------------------------------------------------------------------------------
# The flatbuffer.


def embed_metadata(flatbuffer: bytes, meta: Dict, name: str = METADATA_NAME) -> bytes:
    """`flatbuffer` with `meta` (UTF-8 JSON) as the metadata entry `name` (replacing one)."""
    model = read_model(flatbuffer)
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(json.dumps(meta, indent=1).encode("utf-8"), np.uint8)
    entries = [m for m in (model.metadata or []) if decode_name(m.name) != name]
    existing = [m for m in (model.metadata or []) if decode_name(m.name) == name]
    if existing:
        model.buffers[existing[0].buffer] = buffer
        index = existing[0].buffer
    else:
        model.buffers.append(buffer)
        index = len(model.buffers) - 1
    entry = schema.MetadataT()
    entry.name = name
    entry.buffer = index
    model.metadata = entries + [entry]
    return write_model(model)


def read_metadata(path_or_bytes, name: str = METADATA_NAME) -> Optional[Dict]:
    """The metadata entry `name` of a .tflite (path or bytes) as a dict; None without one.

    Raises:
        ValueError: the file is missing or not a TFLite model, or the entry is not JSON.
    """
    label = f"<{len(path_or_bytes)} bytes>" if isinstance(path_or_bytes, (bytes, bytearray)) else path_or_bytes
    if isinstance(path_or_bytes, (bytes, bytearray)):
        data = bytes(path_or_bytes)
    else:
        try:
            with open(path_or_bytes, "rb") as f:
                data = f.read()
        except OSError as e:
            raise ValueError(f"cannot read TFLite model {path_or_bytes}: {e}") from e
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ValueError(f"{label}: not a TFLite flatbuffer (no 'TFL3' identifier)")
    model = read_model(data)
    for entry in model.metadata or []:
        if decode_name(entry.name) == name:
            raw = bytes(np.asarray(model.buffers[entry.buffer].data, np.uint8))
            try:
                return json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise ValueError(f"{label}: metadata {name!r} is not UTF-8 JSON: {e}") from e
    return None


def with_signature(flatbuffer: bytes, input_names: Sequence[str], output_names: Sequence[str],
                   key: str = SIGNATURE_KEY) -> bytes:
    """`flatbuffer` with one SignatureDef `key` naming subgraph 0's inputs and outputs
    (in their order), replacing any signature the converter wrote."""
    model = read_model(flatbuffer)
    graph = model.subgraphs[0]
    if len(input_names) != len(graph.inputs) or len(output_names) != len(graph.outputs):
        raise ValueError(f"signature {key!r}: {len(input_names)} input / {len(output_names)} output names "
                         f"for a model with {len(graph.inputs)} inputs and {len(graph.outputs)} outputs")

    def tensor_map(name, index):
        t = schema.TensorMapT()
        t.name = name
        t.tensorIndex = int(index)
        return t

    signature = schema.SignatureDefT()
    signature.signatureKey = key
    signature.subgraphIndex = 0
    signature.inputs = [tensor_map(n, i) for n, i in zip(input_names, graph.inputs)]
    signature.outputs = [tensor_map(n, i) for n, i in zip(output_names, graph.outputs)]
    model.signatureDefs = [signature]
    return write_model(model)


def signature_names(num_inputs: int, num_outputs: int, decode: bool):
    """(input names, output names) of a model with `num_inputs` inputs whose heatmaps
    are followed by keypoints and scores when `decode`."""
    inputs = list(INPUT_NAMES[:num_inputs]) + [f"input_{i}" for i in range(len(INPUT_NAMES), num_inputs)]
    base = num_outputs - (2 if decode else 0)
    outputs = [OUTPUT_NAMES[0]] + [f"output_{i}" for i in range(1, base)]
    if decode:
        outputs += list(OUTPUT_NAMES[1:])
    return inputs, outputs
