"""From an architecture (and optionally a trained model directory) to deployable files.

The library behind `tflite/convert.py` and `scripts/export_savedmodel.py`:

- `load_static_model(arch, model_dir, input_size)`: the static (extracted) Keras model;
  weights from the model directory's latest checkpoint, or randomly initialised (the
  presets are architectures; trained weights come from a model directory: a training
  run, or mmpose's published checkpoints imported by `scripts/import_mmpose.py`).
- `convert(model, mode, path, ...)`: lowering (`lower_model`) + TFLite conversion in
  float32 / float16 / dynamic / int8 / qat, with a parity / keypoint-error report
  against the un-lowered float Keras model.
- `convert_schedule(...)`: a video schedule (key model + T frame models) to a folder
  of .tflite files and the benchmark `manifest.json`.
- Real-data helpers: representative crops for int8 calibration and fine-tune batches
  for QAT from the project's input pipeline (`make_topdown_dataset`).

Keypoint error (`compare_heatmaps`): both heatmaps are decoded with `HeatmapCodec.decode`
(argmax + quarter-pixel shift) and the Euclidean distance between the two keypoints is
averaged over crops and keypoints, in input-crop pixels.
"""
import dataclasses
import os
import shutil
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import keras
import numpy as np
import tensorflow as tf

from vipnas_tf.arch import parse_arch, resolve_arch
from vipnas_tf.export import quantization as quant_lib
from vipnas_tf.export import tflite_export
from vipnas_tf.export.lowered_model import hard_swish_method_for, layer_summary, lower_model
from vipnas_tf.models import SuperNetwork, build_static
from vipnas_tf.models.random_init import calibrate_batch_norm, randomize_weights
from vipnas_tf.temporal.frame_arch import FrameArch
from vipnas_tf.temporal.supernet import TemporalSuperNetwork
from vipnas_tf.training.model_dir import keypoint_layout_of_run, load_model

MODES = ("float32", "float16", "dynamic", "int8", "qat")
RANDOM_INIT_NOTE = ("weights randomly initialised (fan-in scaled normal, seed {seed}): no "
                    "pretrained weights come with presets, they are architectures; pass "
                    "--model_dir to convert trained weights (a training run, or an mmpose "
                    "checkpoint imported by scripts/import_mmpose.py)")


def parse_input_size(text) -> Tuple[int, int]:
    """'256x192' (or (256, 192)) -> (256, 192); ValueError naming the value otherwise."""
    if isinstance(text, (tuple, list)):
        values = list(text)
    else:
        values = str(text).lower().replace(",", "x").split("x")
    try:
        h, w = (int(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f"input_size must be HxW, e.g. 256x192; got {text!r}") from None
    if h <= 0 or w <= 0 or h % 32 or w % 32:
        raise ValueError(f"input_size {h}x{w}: height and width must be positive multiples of 32")
    return h, w


# ------------------------------------------------------------------------------
# Models.


@dataclasses.dataclass
class LoadedModel:
    """A static Keras model and where its weights came from.

    Attributes:
        model: functional Keras model (not lowered), inputs [N, H, W, 3] (+ previous
            heatmaps for a T-ViPNet).
        arch: the architecture (an `Arch`) or None.
        input_size: (H, W).
        weights: human-readable origin of the weights.
        random_init: True when no checkpoint was loaded.
        run_config: the model directory's run_config.json, or None.
        keypoint_layout: "coco" | "posetrack18" of a model directory's run (None for
            randomly initialised weights: the channels mean nothing yet).
    """

    model: keras.Model
    arch: object
    input_size: Tuple[int, int]
    weights: str
    random_init: bool
    run_config: Optional[Dict] = None
    keypoint_layout: Optional[str] = None


def load_static_model(arch_spec=None, model_dir=None, input_size=None, seed: int = 0,
                      calibration_images: Optional[np.ndarray] = None) -> LoadedModel:
    """The static Keras model to deploy.

    Args:
        arch_spec: preset name, arch JSON path, compact string or `Arch`; required
            without `model_dir` and for super-network runs (which sub-network).
        model_dir: a model directory (`vipnas_tf.training.model_dir.load_model`), or None for
            randomly initialised weights.
        input_size: (H, W) or "HxW"; default: the run's input size, else 256x192.
        seed: seed of the random initialisation.
        calibration_images: for random initialisation: images [n, H, W, 3] whose
            statistics set the BN layers (`calibrate_batch_norm`); default N(0, 1).
    """
    arch = resolve_arch(arch_spec) if arch_spec else None
    if model_dir is None:
        if arch is None:
            raise ValueError("an architecture (--arch) is required without --model_dir")
        size = parse_input_size(input_size or (256, 192))
        model = randomize_weights(build_static(arch, size), seed=seed)
        if calibration_images is None:
            calibration_images = np.random.default_rng(seed).standard_normal(
                (4,) + tuple(size) + (3,)).astype(np.float32)
            source = "N(0,1) images"
        else:
            source = f"{len(calibration_images)} crops"
        calibrate_batch_norm(model, calibration_images)
        note = (RANDOM_INIT_NOTE.format(seed=seed) + f"; BN statistics set from {source}, "
                "final conv scaled to heatmap peak 1")
        return LoadedModel(model, arch, size, note, True)
    net, cfg = load_model(model_dir)
    cfg = dict(cfg or {})
    layout = keypoint_layout_of_run(model_dir, cfg)
    size = parse_input_size(input_size or cfg.get("input_size") or (256, 192))
    if arch is None and cfg.get("arch"):
        arch = parse_arch(cfg["arch"])
    weights = f"checkpoint {cfg.get('checkpoint') or model_dir}"
    if isinstance(net, SuperNetwork):
        if arch is None:
            raise ValueError(f"{model_dir} is a super-network run ({cfg.get('mode')!r}) with no "
                             "'arch' in run_config.json: pass --arch (the sub-network to extract)")
        return LoadedModel(net.extract(arch, size), arch, size, weights, False, cfg, layout)
    if hasattr(net, "_nodes_by_depth"):  # already a static functional model ("static" dirs)
        stored = parse_arch(cfg["arch"]) if cfg.get("arch") else None
        if arch is not None and stored is not None and arch != stored:
            raise ValueError(f"{model_dir} holds the static model {stored.to_string()}; --arch "
                             f"{arch.to_string()} differs (leave --arch out)")
        arch = stored or arch
        if arch is not None and tuple(size) != tuple(net.inputs[0].shape[1:3]):
            resized = build_static(arch, size)  # same weights, other input size
            resized.set_weights(net.get_weights())
            net = resized
        return LoadedModel(net, arch, tuple(net.inputs[0].shape[1:3]), weights, False, cfg, layout)
    raise ValueError(f"{model_dir}: load_model returned a {type(net).__name__}, which has no "
                     "extract(); cannot make a static model")


# ------------------------------------------------------------------------------
# Real data from the input pipeline.


def coco_dataset(ann_file, image_root, input_size, batch_size=8, training=False, seed=0):
    """`make_topdown_dataset` over a COCO keypoints file (validation mode by default)."""
    from vipnas_tf.data import load_coco  # pylint: disable=import-outside-toplevel
    from vipnas_tf.data.pipeline import make_topdown_dataset  # pylint: disable=import-outside-toplevel

    samples = load_coco(ann_file, image_root)
    if len(samples):
        first = str(samples.image_paths[0])
        if not os.path.isfile(first):
            # A training pipeline skips unreadable images and would spin forever.
            raise ValueError(f"{ann_file}: image {first} not found; is --image_root "
                             f"({image_root}) the folder the file_names are relative to?")
    return make_topdown_dataset(samples, tuple(input_size), batch_size=batch_size,
                                training=training, seed=seed)


def take_images(dataset, limit: int) -> np.ndarray:
    """Up to `limit` normalised crops [n, H, W, 3] float32 from a pipeline of dicts."""
    out, n = [], 0
    for batch in dataset:
        images = batch["image"].numpy() if isinstance(batch, dict) else np.asarray(batch)
        out.append(images[: limit - n])
        n += len(out[-1])
        if n >= limit:
            break
    if not out:
        raise ValueError("the data pipeline yielded no crops")
    return np.concatenate(out).astype(np.float32)


def chain_inputs(models: Sequence[keras.Model], images: np.ndarray, batch_size: int = 8
                 ) -> List[List[np.ndarray]]:
    """Inputs of each model of a schedule cycle run on still crops.

    models[0] is the key model (image -> heatmaps); models[i > 0] take (image,
    previous heatmaps) and get the float output of models[i - 1] on the same crops.

    Returns:
        per model, the list of its input arrays ([images] or [images, prev heatmaps]).
    """
    inputs, prev = [], None
    for i, m in enumerate(models):
        args = [images] if i == 0 else [images, prev]
        inputs.append(args)
        prev = predict_keras(m, args, batch_size)
    return inputs


def predict_keras(model, inputs: Sequence[np.ndarray], batch_size: int = 8) -> np.ndarray:
    """First output of `model` on `inputs` (arrays in input order), in batches."""
    n = len(inputs[0])
    fn = tf.function(lambda *a: _first(model(list(a) if len(a) > 1 else a[0], training=False)),
                     reduce_retracing=True)
    outs = [np.asarray(fn(*[tf.constant(a[i:i + batch_size]) for a in inputs]))
            for i in range(0, n, batch_size)]
    return np.concatenate(outs)


def _first(out):
    return out[0] if isinstance(out, (list, tuple)) else out


def predict_tflite(flatbuffer, inputs: Sequence[np.ndarray], threads: int = 1) -> np.ndarray:
    """First output of a batch-1 .tflite on every sample of `inputs` (one interpreter)."""
    from vipnas_tf.export.benchmark import load_interpreter  # pylint: disable=import-outside-toplevel

    interp = load_interpreter(flatbuffer, threads)
    ins, out = interp.get_input_details(), interp.get_output_details()[0]
    results = []
    for i in range(len(inputs[0])):
        for detail, arr in zip(ins, inputs):
            interp.set_tensor(detail["index"], tflite_export.quantize_array(arr[i:i + 1], detail))
        interp.invoke()
        results.append(tflite_export.dequantize_array(interp.get_tensor(out["index"]), out))
    return np.concatenate(results)


def compare_heatmaps(ref: np.ndarray, got: np.ndarray, input_size) -> Dict:
    """Heatmap and decoded-keypoint differences of `got` against `ref` ([n, h, w, K]).

    Returns:
        max_abs_diff, mean_abs_diff, argmax_identical (all argmax positions equal),
        argmax_agreement (share of (crop, keypoint) pairs with the same argmax),
        keypoint_error_px (mean distance of decoded keypoints, input-crop pixels),
        keypoint_error_px_p90, num_crops, output_scale (max |ref|),
        relative_max_abs_diff (max_abs_diff / output_scale).
    """
    from vipnas_tf.codecs.heatmap import HeatmapCodec  # pylint: disable=import-outside-toplevel

    ref, got = np.asarray(ref, np.float32), np.asarray(got, np.float32)
    if ref.shape != got.shape:
        raise ValueError(f"heatmap shapes differ: {ref.shape} vs {got.shape}")
    codec = HeatmapCodec(tuple(input_size), heatmap_size=ref.shape[1:3])
    k = ref.shape[-1]
    am_ref = ref.reshape(len(ref), -1, k).argmax(1)
    am_got = got.reshape(len(got), -1, k).argmax(1)
    kp_ref, _ = codec.decode(ref)
    kp_got, _ = codec.decode(got)
    dist = np.linalg.norm(np.asarray(kp_ref) - np.asarray(kp_got), axis=-1)
    return {"max_abs_diff": float(np.abs(ref - got).max()),
            "mean_abs_diff": float(np.abs(ref - got).mean()),
            "argmax_identical": bool((am_ref == am_got).all()),
            "argmax_agreement": float((am_ref == am_got).mean()),
            "keypoint_error_px": float(dist.mean()),
            "keypoint_error_px_p90": float(np.percentile(dist, 90)),
            "num_crops": int(len(ref)),
            "output_scale": float(np.abs(ref).max()),
            "relative_max_abs_diff": float(np.abs(ref - got).max() / max(np.abs(ref).max(), 1e-12))}


# ------------------------------------------------------------------------------
# Conversion.

INT8_NEEDS_DATA = (
    "{mode} needs real input crops: full-integer int8 calibrates every activation's range "
    "on representative inputs, and QAT fine-tunes on them; random or missing data gives "
    "wrong ranges and garbage heatmaps. Pass --data=COCO_KEYPOINTS_JSON --image_root=DIR "
    "(e.g. the synthetic val set: python scripts/make_synthetic.py --out=/tmp/synth, then "
    "--data=/tmp/synth/coco/annotations/person_keypoints_val.json "
    "--image_root=/tmp/synth/coco/images), or use --quantization=dynamic (int8 weights, "
    "float activations, no data needed).")


@dataclasses.dataclass
class QatOptions:
    """QAT fine-tune settings.

    Attributes:
        steps: optimizer steps (a brief fine-tune).
        learning_rate: Adam learning rate.
        target: "teacher" (the float model's own heatmaps: QAT learns to reproduce
            the float model under quantization; needs no labels) or "labels" (the
            pipeline's ground-truth target heatmaps).
    """

    steps: int = 200
    learning_rate: float = 5e-5
    target: str = "teacher"

    def __post_init__(self):
        if self.target not in ("teacher", "labels"):
            raise ValueError(f"QAT target must be 'teacher' or 'labels', got {self.target!r}")
        if self.steps < 1:
            raise ValueError("QAT steps must be >= 1")


def convert(model: keras.Model, mode: str, path: Optional[str] = None, *,
            calibration_inputs: Optional[Sequence[np.ndarray]] = None,
            qat_batches: Optional[Sequence] = None, qat: Optional[QatOptions] = None,
            eval_inputs: Optional[Sequence[np.ndarray]] = None, decode: bool = False,
            lower: bool = True, num_calibration_samples: int = 200,
            keypoint_layout: Optional[str] = None) -> Tuple[bytes, Dict]:
    """Lowers `model` and converts it to TFLite in `mode`, with a parity report.

    Args:
        model: the static (un-lowered) float Keras model; the reference for parity.
        mode: one of `MODES`.
        path: where to write the .tflite (atomically), or None.
        calibration_inputs: for "int8": per model input, an array [n, ...] of real
            inputs (normalised crops; previous heatmaps for a T-ViPNet).
        qat_batches: for "qat": list of (inputs, target heatmaps) batches, inputs an
            array or a list of arrays in model input order.
        qat: QAT settings.
        eval_inputs: per model input an array [n, ...] on which the TFLite model is
            compared with `model` (keypoint error etc.); None: 4 random N(0, 1) inputs.
        decode: the .tflite also outputs keypoints [1, K, 2] and scores [1, K]
            (`HeatmapCodec.decode_tf`).
        lower: apply `lower_model` (the deployment rewrite) first.
        keypoint_layout: "coco" | "posetrack18", what the heatmap channels mean;
            recorded in the summary.

    Returns:
        (flatbuffer bytes, summary dict).

    Raises:
        ValueError: int8 / qat without data, unknown mode.
        tflite_export.UnsupportedOpError: an op TFLite builtins cannot run.
    """
    if mode not in MODES:
        raise ValueError(f"quantization must be one of {MODES}, got {mode!r}")
    if mode == "int8" and calibration_inputs is None:
        raise ValueError(INT8_NEEDS_DATA.format(mode="int8 quantization"))
    if mode == "qat" and not qat_batches:
        raise ValueError(INT8_NEEDS_DATA.format(mode="QAT"))
    # QAT decomposes hard-swish itself (qat.to_tf_keras(split_activations=True)).
    deploy = (lower_model(model, hard_swish=hard_swish_method_for(mode) if mode != "qat" else "activation")
              if lower else model)
    decode_fn = "default" if decode else None
    summary = {"quantization": mode, "lowered": bool(lower), "decode": bool(decode),
               "inputs": [[i.name.split(":")[0]] + [int(d) for d in i.shape[1:]] for i in model.inputs],
               "layers": layer_summary(deploy)}
    if keypoint_layout is not None:
        summary["keypoint_layout"] = keypoint_layout
    if mode == "qat":
        from vipnas_tf.export import qat as qat_lib  # pylint: disable=import-outside-toplevel

        qat = qat or QatOptions()
        tfk = qat_lib.to_tf_keras(deploy, split_activations=True)
        qmodel = qat_lib.quantize_model(tfk)
        ranges = qat_lib.calibrate_ranges(qmodel, tfk, [b[0] for b in list(qat_batches)[:8]])
        history = qat_lib.fine_tune(qmodel, list(qat_batches), steps=qat.steps,
                                    learning_rate=qat.learning_rate)
        losses = history.history.get("loss", [])
        summary["qat"] = {"steps": qat.steps, "learning_rate": qat.learning_rate,
                          "calibrated_ranges": ranges,
                          "target": qat.target, "batches": len(qat_batches),
                          "final_loss": float(losses[-1]) if losses else None}
        flatbuffer = qat_lib.export_qat_tflite(qmodel, decode_fn=decode_fn)
    else:
        if mode == "int8":
            n = len(calibration_inputs[0])
            data = [list(a) for a in zip(*[np.asarray(x, np.float32)[:, None] for x in calibration_inputs])]
            cfg = quant_lib.QuantizationConfig.for_int8(
                data, num_calibration_samples=min(n, num_calibration_samples))
            summary["calibration_samples"] = min(n, num_calibration_samples)
        else:
            cfg = {"float32": quant_lib.QuantizationConfig.for_float32,
                   "float16": quant_lib.QuantizationConfig.for_float16,
                   "dynamic": quant_lib.QuantizationConfig.for_dynamic}[mode]()
        flatbuffer = tflite_export.export_tflite(deploy, quantization=cfg, decode_fn=decode_fn)
    if path is not None:
        tflite_export._write_atomic(path, flatbuffer)  # pylint: disable=protected-access
        summary["path"] = os.path.abspath(path)
    summary["size_bytes"] = len(flatbuffer)
    summary["parity"] = parity_report(model, flatbuffer, eval_inputs)
    return flatbuffer, summary


def parity_report(model, flatbuffer, eval_inputs=None) -> Dict:
    """`compare_heatmaps` of the .tflite against the float Keras `model`."""
    source = "validation crops"
    if eval_inputs is None:
        rng = np.random.default_rng(0)
        eval_inputs = [rng.standard_normal((4,) + tuple(i.shape[1:])).astype(np.float32)
                       for i in model.inputs]
        source = "random N(0,1) inputs"
    ref = predict_keras(model, eval_inputs)
    got = predict_tflite(flatbuffer, eval_inputs)
    input_size = tuple(int(d) for d in model.inputs[0].shape[1:3])
    return {"against": "un-lowered float Keras model", "inputs": source,
            **compare_heatmaps(ref, got, input_size)}


# ------------------------------------------------------------------------------
# Video schedules.

SCHEDULE_FORMAT = "vipnas-tf/schedule/v1"


def read_schedule(path) -> Dict:
    """Loads and checks a schedule.json ("vipnas-tf/schedule/v1", see notes/common.md).

    Uses `vipnas_tf.temporal.schedule.Schedule` when it exists; the returned dict has
    the documented fields plus "_dir" (the file's folder, for relative paths). Its
    "keypoint_layout" is the file's, checked against its model directories (a schedule
    written before that field existed takes theirs; None when nothing states it).
    """
    from vipnas_tf.utils.io import read_json  # pylint: disable=import-outside-toplevel

    path = os.fspath(path)
    layout = None
    try:
        from vipnas_tf.temporal.schedule import Schedule  # pylint: disable=import-outside-toplevel
        layout = Schedule.load(path).check_model_layouts(required=False)  # validates
    except ImportError:
        pass
    data = read_json(path)
    if data.get("format") != SCHEDULE_FORMAT:
        raise ValueError(f"{path}: 'format' must be {SCHEDULE_FORMAT!r}, got {data.get('format')!r}")
    for key in ("space", "input_size", "key", "frames"):
        if key not in data:
            raise ValueError(f"{path}: missing field {key!r}")
    frames = data["frames"]
    if not isinstance(frames, list) or not frames:
        raise ValueError(f"{path}: 'frames' must be a non-empty list")
    if "num_frames" in data and data["num_frames"] != len(frames):
        raise ValueError(f"{path}: num_frames={data['num_frames']} but {len(frames)} frame entries")
    interval = data.get("key_frame_interval", len(frames) + 1)
    if interval != len(frames) + 1:
        raise ValueError(f"{path}: key_frame_interval={interval}, must be T + 1 = {len(frames) + 1}")
    for i, f in enumerate(frames):
        if "arch" not in f:
            raise ValueError(f"{path}: frames[{i}] has no 'arch'")
    if "arch" not in data["key"]:
        raise ValueError(f"{path}: key has no 'arch'")
    data = dict(data)
    data["_dir"] = os.path.dirname(os.path.abspath(path))
    data["keypoint_layout"] = layout or data.get("keypoint_layout")
    return data


def schedule_path(schedule: Dict, value):
    """A path field of the schedule, resolved against the schedule's folder."""
    if not value:
        return None
    return value if os.path.isabs(value) else os.path.join(schedule["_dir"], value)


def write_dir_atomic(final_dir, fill: Callable[[str], None]):
    """Calls fill(tmp_dir) and renames tmp_dir to `final_dir` (replacing an old one).

    A crash leaves the previous folder (or none), never a half-written one.
    """
    final_dir = os.path.abspath(os.fspath(final_dir))
    parent = os.path.dirname(final_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = f"{final_dir}.tmp-{os.getpid()}"
    old = f"{final_dir}.old-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        fill(tmp)
        if os.path.exists(final_dir):
            os.rename(final_dir, old)
        os.rename(tmp, final_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if os.path.exists(old) and not os.path.exists(final_dir):
            os.rename(old, final_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)


def convert_schedule(schedule: Dict, key_model: keras.Model,
                     frame_model_fn: Callable[[int], keras.Model], out_dir, mode: str, *,
                     calibration_images: Optional[np.ndarray] = None,
                     qat_images: Optional[np.ndarray] = None, qat: Optional[QatOptions] = None,
                     eval_images: Optional[np.ndarray] = None, decode: bool = False,
                     name: Optional[str] = None, progress: bool = True) -> Dict:
    """Converts a video schedule to `out_dir`: key.tflite, frame{i}.tflite, manifest.json.

    Args:
        schedule: from `read_schedule` (or a dict with its fields).
        key_model: the static key-frame model (image -> heatmaps).
        frame_model_fn: i (0-based) -> the static Keras model of frame i + 1 of a cycle
            (inputs: image crop, previous heatmaps).
        out_dir: the folder to write (atomically: a temp folder renamed at the end).
        mode: one of `MODES`.
        calibration_images / qat_images: normalised crops [n, H, W, 3] for int8 / qat;
            each frame model's previous-heatmap inputs come from running the float
            models of the cycle in order on the same crops (`chain_inputs`).
        eval_images: crops for the per-model parity report (None: random inputs).
        decode: also output keypoints and scores from every model.

    Returns:
        The summary: manifest fields plus per-model conversion summaries.
    """
    from tqdm import tqdm  # pylint: disable=import-outside-toplevel

    if mode in ("int8", "qat") and (calibration_images if mode == "int8" else qat_images) is None:
        raise ValueError(INT8_NEEDS_DATA.format(mode="int8 quantization" if mode == "int8" else "QAT"))
    num = len(schedule["frames"])
    models = [key_model] + [frame_model_fn(i) for i in range(num)]
    for i, m in enumerate(models[1:], 1):
        if len(m.inputs) != 2:
            raise ValueError(f"frame model {i} has {len(m.inputs)} inputs; a T-ViPNet takes 2 "
                             "(image crop, previous heatmaps)")
    data_images = calibration_images if mode == "int8" else qat_images
    chained = chain_inputs(models, data_images) if data_images is not None else None
    eval_chain = chain_inputs(models, eval_images) if eval_images is not None else None
    files = ["key.tflite"] + [f"frame{i + 1}.tflite" for i in range(num)]
    summaries = []

    def fill(tmp):
        for i, (m, f) in enumerate(tqdm(list(zip(models, files)), desc=f"convert schedule ({mode})",
                                        disable=not progress)):
            kwargs = {}
            if mode == "int8":
                kwargs["calibration_inputs"] = chained[i]
            elif mode == "qat":
                targets = predict_keras(m, chained[i])
                x = chained[i]
                kwargs["qat_batches"] = _batches(x, targets, 8)
                kwargs["qat"] = qat
            if eval_chain is not None:
                kwargs["eval_inputs"] = eval_chain[i]
            _, s = convert(m, mode, os.path.join(tmp, f), decode=decode,
                           keypoint_layout=schedule.get("keypoint_layout"), **kwargs)
            s["path"] = f
            summaries.append(s)
        write_manifest(tmp, schedule, files, name=name or os.path.basename(os.path.normpath(out_dir)),
                       image_input=key_model.inputs[0].name.split(":")[0],
                       heatmap_input=_heatmap_input_name(models[1]), quantization=mode,
                       input_size=[int(d) for d in key_model.inputs[0].shape[1:3]])

    write_dir_atomic(out_dir, fill)
    from vipnas_tf.utils.io import read_json  # pylint: disable=import-outside-toplevel
    manifest = read_json(os.path.join(out_dir, "manifest.json"))
    return {"out_dir": os.path.abspath(out_dir), "manifest": manifest, "models": summaries,
            "keypoint_layout": schedule.get("keypoint_layout")}


def temporal_frame_factory(schedule: Dict, size, seed: int = 0) -> Callable[[int], keras.Model]:
    """Frame models from vipnas_tf.temporal: `TemporalSuperNetwork.extract(FrameArch)`
    of the schedule's temporal model_dir (latest checkpoint; a PropagationModel's
    `.temporal`), or of a randomly initialised TemporalSuperNetwork bounded by the key
    architecture."""
    model_dir = schedule_path(schedule, schedule.get("model_dir"))
    if model_dir:
        net, _ = load_model(model_dir)
        net = getattr(net, "temporal", net)
        if not isinstance(net, TemporalSuperNetwork):
            raise ValueError(f"{model_dir}: holds a {type(net).__name__}, not a temporal "
                             "(T-ViPNet) model")
    else:
        net = TemporalSuperNetwork(schedule["space"], tuple(size),
                                   max_arch=parse_arch(schedule["key"]["arch"]))
        randomize_weights(net, seed=seed + 1)

    def build(i):
        frame = FrameArch.from_dict(schedule["frames"][i], source=f"schedule frames[{i}]")
        model = net.extract(frame, tuple(size))
        if not model_dir:  # random init: BN statistics from N(0,1) images, small heatmaps
            rng = np.random.default_rng(seed + i)
            images = rng.standard_normal((4,) + tuple(size) + (3,)).astype(np.float32)
            prev = rng.uniform(0, 0.3, (4,) + tuple(model.inputs[1].shape[1:])).astype(np.float32)
            calibrate_batch_norm(model, [images, prev])
        return model
    return build


def _heatmap_input_name(frame_model):
    out_shape = tuple(frame_model.outputs[0].shape[1:])
    for inp in frame_model.inputs:
        if tuple(inp.shape[1:]) == out_shape:
            return inp.name.split(":")[0]
    return frame_model.inputs[1].name.split(":")[0]


def _batches(inputs, targets, batch_size):
    out = []
    for i in range(0, len(targets), batch_size):
        x = [a[i:i + batch_size] for a in inputs]
        out.append((x if len(x) > 1 else x[0], targets[i:i + batch_size]))
    return out


def _recompute_costs(key, frames, input_size):
    """MACs / paper GFLOPs of the key and frame models at `input_size` (the schedule's
    figures are for its own input size); None where they cannot be computed."""
    from vipnas_tf.arch import arch_cost, parse_arch  # pylint: disable=import-outside-toplevel
    size = tuple(int(v) for v in input_size)
    try:
        c = arch_cost(parse_arch(key["arch"]), size)
        key.update(macs=int(c.macs), paper_gflops=float(c.paper_gflops))
    except (ValueError, KeyError):
        key.update(macs=None, paper_gflops=None)
    for i, f in enumerate(frames):
        try:
            from vipnas_tf.temporal.frame_arch import FrameArch, frame_cost  # pylint: disable=import-outside-toplevel
            c = frame_cost(FrameArch.from_dict(f, source=f"frames[{i}]"), size)
            f.update(macs=int(c.macs), paper_gflops=float(c.paper_gflops))
        except (ImportError, ValueError, KeyError):
            f.update(macs=None, paper_gflops=None)


def write_manifest(folder, schedule: Dict, files: Sequence[str], *, name: str,
                   image_input: str = "image", heatmap_input: Optional[str] = None,
                   quantization: str = "float32", input_size=None):
    """Writes folder/manifest.json in the benchmark's format (vipnas_tf/export/benchmark.py)."""
    from vipnas_tf.export.benchmark import MANIFEST  # pylint: disable=import-outside-toplevel
    from vipnas_tf.utils.io import write_json  # pylint: disable=import-outside-toplevel

    key = dict(schedule["key"])
    frames = [dict(f) for f in schedule["frames"]]
    if input_size is not None and list(input_size) != list(schedule.get("input_size", [])):
        _recompute_costs(key, frames, input_size)
    manifest = {
        "name": name, "key_model": files[0],
        "key_gflops": key.get("paper_gflops"), "key_macs": key.get("macs"),
        "frame_models": [{"file": f, "gflops": fr.get("paper_gflops"), "macs": fr.get("macs"),
                          "arch": fr.get("arch"), "fusion_op": fr.get("fusion_op"),
                          "fusion_stage": fr.get("fusion_stage")}
                         for f, fr in zip(files[1:], frames)],
        "key_frame_interval": len(frames) + 1,
        "image_input": image_input,
        "quantization": quantization,
        "key_arch": key.get("arch"),
        "space": schedule.get("space"),
        "input_size": list(input_size) if input_size is not None else schedule.get("input_size"),
    }
    if schedule.get("keypoint_layout"):
        manifest["keypoint_layout"] = schedule["keypoint_layout"]
    gflops = [manifest["key_gflops"]] + [f["gflops"] for f in manifest["frame_models"]]
    if all(g is not None for g in gflops):
        manifest["avg_gflops"] = float(np.mean(gflops))
        manifest["avg_gflops_nonkey"] = float(np.mean(gflops[1:]))
    if heatmap_input:
        manifest["heatmap_input"] = heatmap_input
    write_json(os.path.join(folder, MANIFEST), manifest)
    return manifest
