"""SavedModel export for TensorFlow Serving / TF runtimes: `export_savedmodel(model, dir)`.

The `serving_default` signature takes what a camera pipeline has and returns what an
app needs:

  inputs:  image          uint8 [N, H, W, 3]  RGB person crops (0..255)
           prev_heatmaps  float32 [N, h, w, K] (T-ViPNets only: the previous frame's
                          heatmaps, as returned by the previous call)
  outputs: heatmaps       float32 [N, h, w, K]
           keypoints      float32 [N, K, 2]   (x, y) in crop pixels
           scores         float32 [N, K]      heatmap peak values

Normalisation (ImageNet mean/std in RGB, as the input pipeline does) happens inside;
decoding is `HeatmapCodec.decode_tf` (argmax + quarter-pixel shift). The model is
lowered first (`lower_model`: BN folded, grouped convs without Keras' XLA path), so the
SavedModel runs fast in TensorFlow on CPU. The batch dimension is dynamic.

The folder is written atomically: to a temporary sibling folder, then renamed over
the destination (an existing SavedModel there is replaced only once the new one is
complete). `serving_version_dir(base, N)` is TF Serving's layout, `base/N/`; the
temporary sibling's name is not a number, so a model server watching `base` never
loads a half-written version.

`export_keras_file(model, "pose.keras")` writes the static model itself (float input,
normalised; BN layers kept, trainable) as a Keras 3 `.keras` file that
`keras.saving.load_model` reads after `import vipnas_tf`.

Example:
    >>> export_savedmodel(static_model, "/tmp/pose_sm")
    >>> sm = tf.saved_model.load("/tmp/pose_sm")
    >>> out = sm.signatures["serving_default"](image=tf.constant(crops_uint8))
    >>> out["keypoints"]   # [N, K, 2]
    >>> export_keras_file(static_model, "/tmp/pose.keras")
    >>> model = keras.saving.load_model("/tmp/pose.keras")  # after `import vipnas_tf`
"""
import os
import tempfile
from typing import Dict, Optional

import keras
import numpy as np
import tensorflow as tf

from vipnas_tf.codecs.heatmap import HeatmapCodec
from vipnas_tf.export.lowering import lower_model
from vipnas_tf.export.tflite_export import normalize_pixels
from vipnas_tf.utils.io import new_file_mode, write_dir_atomic, write_json

SIGNATURE = "serving_default"


def serving_function(model: keras.Model, codec=None):
    """(fn, input_signature): the serving function of `model` and its TensorSpecs.

    Args:
        model: a functional Keras model: image [N, H, W, 3] (normalised float) ->
            heatmaps, or (image, previous heatmaps) -> heatmaps.
        codec: a `HeatmapCodec` (default: the model's input and heatmap sizes).
    """

    if len(model.inputs) not in (1, 2):
        raise ValueError(f"model {model.name!r} has {len(model.inputs)} inputs; expected the image "
                         "crop (and, for a T-ViPNet, the previous heatmaps)")
    h, w = (int(d) for d in model.inputs[0].shape[1:3])
    out_shape = tuple(int(d) for d in model.outputs[0].shape[1:])
    codec = codec or HeatmapCodec((h, w), heatmap_size=out_shape[:2])
    specs = [tf.TensorSpec([None, h, w, 3], tf.uint8, name="image")]
    if len(model.inputs) == 2:
        specs.append(tf.TensorSpec([None] + [int(d) for d in model.inputs[1].shape[1:]], tf.float32,
                                   name="prev_heatmaps"))

    def _outputs(heatmaps):
        if isinstance(heatmaps, (list, tuple)):
            heatmaps = heatmaps[0]
        heatmaps = tf.cast(heatmaps, tf.float32)
        keypoints, scores = codec.decode_tf(heatmaps)
        return {"heatmaps": heatmaps, "keypoints": keypoints, "scores": scores}

    if len(specs) == 1:
        def serve(image):
            return _outputs(model(normalize_pixels(image), training=False))
    else:
        def serve(image, prev_heatmaps):
            return _outputs(model([normalize_pixels(image), prev_heatmaps], training=False))
    return serve, specs


def export_savedmodel(model: keras.Model, out_dir, *, codec=None, lower: bool = True,
                      metadata: Optional[Dict] = None, keypoint_layout: Optional[str] = None) -> Dict:
    """Writes `model` as a SavedModel with the `serving_default` signature above.

    Args:
        model: the static (un-lowered) Keras model.
        out_dir: destination folder (replaced atomically if it exists).
        codec: optional `HeatmapCodec` for the decode.
        lower: apply `lower_model` first (same function, faster in TF).
        metadata: optional JSON-able dict saved as `assets/vipnas_export.json`.
        keypoint_layout: "coco" | "posetrack18", what the heatmap channels mean; saved
            in that metadata file (with the input size) and returned.

    Returns:
        {"path", "signature", "inputs": {name: [shape, dtype]}, "outputs": {...}}, and
        "keypoint_layout" when given.
    """
    deploy_model = lower_model(model) if lower else model
    serve, specs = serving_function(deploy_model, codec)
    if keypoint_layout is not None:
        metadata = dict(metadata or {}, keypoint_layout=keypoint_layout,
                        input_size=[int(d) for d in model.inputs[0].shape[1:3]])

    def fill(tmp):
        archive = keras.export.ExportArchive()
        archive.track(deploy_model)
        archive.add_endpoint(SIGNATURE, serve, input_signature=specs)
        archive.write_out(tmp, verbose=False)
        if metadata is not None:
            write_json(os.path.join(tmp, "assets", "vipnas_export.json"), metadata)

    write_dir_atomic(out_dir, fill)
    loaded = tf.saved_model.load(os.fspath(out_dir))
    sig = loaded.signatures[SIGNATURE]
    inputs = {k: [list(v.shape), v.dtype.name] for k, v in sig.structured_input_signature[1].items()}
    outputs = {k: [list(v.shape), v.dtype.name] for k, v in sig.structured_outputs.items()}
    out = {"path": os.path.abspath(out_dir), "signature": SIGNATURE, "inputs": inputs,
           "outputs": outputs}
    if keypoint_layout is not None:
        out["keypoint_layout"] = keypoint_layout
    return out


def serving_version_dir(base, version, overwrite: bool = False) -> str:
    """`base/version`: the TF Serving model-version folder to write.

    Raises ValueError for a version that is not a positive integer, and for one that
    exists already unless `overwrite`.
    """
    if isinstance(version, bool) or not isinstance(version, (int, np.integer)) or version < 1:
        raise ValueError(f"--version: expected a positive integer (TF Serving's version folder), got {version!r}")
    path = os.path.join(os.fspath(base), str(int(version)))
    if os.path.exists(path) and not overwrite:
        raise ValueError(f"{path} exists: version {int(version)} of {os.fspath(base)} is already exported "
                         "(pass --overwrite to replace it, or export another --version)")
    return path


def export_keras_file(model: keras.Model, path, *, check: bool = True) -> Dict:
    """Writes `model` as a Keras 3 `.keras` file, atomically.

    The file holds the model as given (for a static model: float input normalised as
    the input pipeline does, BN layers, `GroupedConv2D` for grouped convs), so
    `keras.saving.load_model(path)` after `import vipnas_tf` returns a model that
    `compile` + `fit` fine-tune. With `check`, the written file is loaded back and its
    output compared with `model`'s on one random input (ValueError if they differ);
    nothing is left at `path` then.

    Returns:
        {"path", "bytes", "params", "inputs": [[shape], ...], "reload_max_abs_diff"}.
    """
    path = os.path.abspath(os.fspath(path))
    if not path.endswith(".keras"):
        raise ValueError(f"{path}: a Keras model file must end in .keras")
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.tmp-", suffix=".keras", dir=parent)
    os.close(fd)
    try:
        keras.saving.save_model(model, tmp, overwrite=True)
        diff = None
        if check:
            diff = _reload_difference(model, tmp)
            if not diff <= 1e-5:
                raise ValueError(f"{path}: the saved model, loaded back, differs from the model by {diff:.3g} "
                                 "(max abs output difference); not written")
        os.chmod(tmp, new_file_mode(path))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    inputs = [[None if d is None else int(d) for d in t.shape] for t in model.inputs]
    return {"path": path, "bytes": os.path.getsize(path), "params": int(model.count_params()),
            "inputs": inputs, "reload_max_abs_diff": diff}


def _reload_difference(model, path) -> float:
    loaded = keras.saving.load_model(path, compile=False)
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal([1] + [int(d) for d in t.shape[1:]]).astype(np.float32) for t in model.inputs]
    xs = xs[0] if len(xs) == 1 else xs
    ref = keras.tree.flatten(model(xs, training=False))
    got = keras.tree.flatten(loaded(xs, training=False))
    return max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in zip(ref, got))
