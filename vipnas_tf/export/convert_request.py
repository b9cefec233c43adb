"""One conversion job of `tflite/convert.py`: a model or a video schedule to TFLite.

`ConvertRequest` holds what the command line asks for (plain values), `run_convert`
carries it out with `vipnas_tf.export` (`deploy` loads, `convert` converts) and returns the JSON summary: path, size,
quantization, where the weights came from, the architecture's cost and the parity
report (or, for a schedule, the folder and its manifest). The summary is also saved
beside the model (`m.summary.json` for `m.tflite`, `DIR/convert_summary.json` for a
schedule), the model's metadata in it and beside it (`m.json`). Bad input raises ValueError
(int8 / QAT without data, a bad input size, data paths, schedule fields) or
`tflite_export.UnsupportedOpError`.
"""
import dataclasses
import os
import time
from typing import Callable, Optional

from vipnas_tf.arch import arch_cost
from vipnas_tf.arch.cost import parse_input_size
from vipnas_tf.export import convert as convert_lib
from vipnas_tf.export import data as data_lib
from vipnas_tf.export import deploy
from vipnas_tf.export import metadata as metadata_lib
from vipnas_tf.export.parity import predict_keras
from vipnas_tf.export.schedule_export import SUMMARY, convert_schedule
from vipnas_tf.utils.io import write_json


@dataclasses.dataclass
class ConvertRequest:
    """What to convert and how (see `tflite/convert.py` for each field's flag).

    Attributes:
      quantization: "float32" | "float16" | "dynamic" | "int8" | "qat".
      output: the .tflite path (a folder for a schedule).
      arch / model_dir: the model (one of them at least), or `schedule`.
      data / image_root: COCO keypoints file and image folder for int8 calibration, QAT
        and the parity crops; eval_data / eval_image_root: other parity crops.
      frame_factory: "module:function" building frame model i of a schedule.
      input_dtype: "float32" (normalised crops) or "uint8" (RGB pixels 0-255, the
        normalisation folded into the model).
    """

    quantization: str
    output: str
    arch: Optional[str] = None
    model_dir: Optional[str] = None
    input_size: Optional[str] = None
    data: Optional[str] = None
    image_root: Optional[str] = None
    eval_data: Optional[str] = None
    eval_image_root: Optional[str] = None
    eval_crops: int = 32
    calibration_samples: int = 200
    qat_steps: int = 200
    qat_learning_rate: float = 5e-5
    qat_batch_size: int = 8
    qat_batches: int = 25
    qat_target: str = "teacher"
    decode: bool = False
    lower: bool = True
    schedule: Optional[str] = None
    frame_factory: Optional[str] = None
    seed: int = 0
    progress: bool = True
    input_dtype: str = "float32"


def _data(req, size):
    """(calibration/QAT training-mode dataset, eval crops or None)."""
    train_ds = eval_images = None
    if req.data:
        if not req.image_root:
            raise ValueError("--data needs --image_root (the folder its file_names are relative to)")
        train_ds = data_lib.coco_dataset(req.data, req.image_root, size,
                                         batch_size=req.qat_batch_size, training=True, seed=req.seed)
    eval_ann = req.eval_data or req.data
    if eval_ann:
        root = req.eval_image_root or req.image_root
        eval_images = data_lib.take_images(data_lib.coco_dataset(eval_ann, root, size, batch_size=8), req.eval_crops)
    return train_ds, eval_images


def _qat_batches(req, train_ds, teacher):
    """QAT batches: (images, targets) with targets from the teacher or the labels."""
    batches = []
    for batch in train_ds.take(req.qat_batches):
        images = batch["image"].numpy()
        target = (batch["heatmaps"].numpy() if req.qat_target == "labels"
                  else predict_keras(teacher, [images]))
        batches.append((images, target))
    return batches


def _check_data(req):
    if req.input_dtype not in metadata_lib.INPUT_DTYPES:
        raise ValueError(f"--input must be one of {metadata_lib.INPUT_DTYPES}, got {req.input_dtype!r}")
    if req.input_dtype == "uint8" and req.quantization == "qat":
        raise ValueError("--input=uint8 is available for float32, float16, dynamic and int8, not qat "
                         "(the QAT export keeps the normalised float input)")
    if req.quantization in ("int8", "qat") and not req.data:
        raise ValueError(convert_lib.INT8_NEEDS_DATA.format(
            mode="int8 quantization" if req.quantization == "int8" else "QAT"))


def _convert_single(req, log):
    if not req.arch and not req.model_dir:
        raise ValueError("give --arch (and/or --model_dir)")
    mode = req.quantization
    _check_data(req)
    t0 = time.time()
    if req.model_dir:
        loaded = deploy.load_static_model(req.arch, req.model_dir, req.input_size, req.seed)
        train_ds, eval_images = _data(req, loaded.input_size)
    else:
        # Random initialisation: BN statistics from real crops when there are any.
        size = parse_input_size(req.input_size or (256, 192))
        train_ds, eval_images = _data(req, size)
        bn_images = data_lib.take_images(train_ds, 8) if train_ds is not None else None
        loaded = deploy.load_static_model(req.arch, None, size, req.seed, calibration_images=bn_images)
    log(f"model: {loaded.arch.to_string() if loaded.arch else loaded.model.name} at "
        f"{loaded.input_size[0]}x{loaded.input_size[1]}; {loaded.weights}")
    kwargs = {}
    if mode == "int8":
        kwargs["calibration_inputs"] = [data_lib.take_images(train_ds, req.calibration_samples)]
    elif mode == "qat":
        kwargs["qat_batches"] = _qat_batches(req, train_ds, loaded.model)
        kwargs["qat"] = convert_lib.QatOptions(req.qat_steps, req.qat_learning_rate, req.qat_target)
    if eval_images is not None:
        kwargs["eval_inputs"] = [eval_images]
    arch = loaded.arch.to_string() if loaded.arch else None
    fields = {"arch": arch, "provenance": metadata_lib.provenance(loaded.weights, loaded.random_init,
                                                                  req.model_dir, loaded.run_config)}
    _, summary = convert_lib.convert(loaded.model, mode, req.output, decode=req.decode,
                                     lower=req.lower, num_calibration_samples=req.calibration_samples,
                                     keypoint_layout=loaded.keypoint_layout, input_dtype=req.input_dtype,
                                     metadata=fields, **kwargs)
    cost = None
    if loaded.arch is not None:
        c = arch_cost(loaded.arch, loaded.input_size)
        cost = {"macs": int(c.macs), "paper_gflops": round(float(c.paper_gflops), 4), "params": int(c.params)}
    result = {"path": summary.pop("path"), "size_bytes": summary.pop("size_bytes"),
              "quantization": mode, "arch": arch,
              "input_size": list(loaded.input_size), "weights": loaded.weights,
              "random_init": loaded.random_init, "model_dir": req.model_dir, "cost": cost,
              **summary, "seconds": round(time.time() - t0, 1)}
    result["summary_path"] = os.path.abspath(metadata_lib.summary_path(req.output))
    write_json(result["summary_path"], result)
    return result


def _convert_schedule(req, log):
    mode = req.quantization
    _check_data(req)
    t0 = time.time()
    loaded = deploy.load_schedule(
        req.schedule, req.input_size, req.seed,
        frame_factory=deploy.frame_factory_from_spec(req.frame_factory) if req.frame_factory else None)
    size, key = loaded.input_size, loaded.key
    log(f"key model: {loaded.schedule.key_arch.to_string()}; {key.weights}")
    train_ds, eval_images = _data(req, size)
    data = None
    if mode == "int8":
        data = data_lib.take_images(train_ds, req.calibration_samples)
    elif mode == "qat":
        data = data_lib.take_images(train_ds, req.qat_batches * req.qat_batch_size)
    result = convert_schedule(
        loaded.schedule, key.model, loaded.frame_model, req.output, mode,
        calibration_images=data if mode == "int8" else None,
        qat_images=data if mode == "qat" else None,
        qat=convert_lib.QatOptions(req.qat_steps, req.qat_learning_rate, req.qat_target),
        eval_images=eval_images, decode=req.decode, progress=req.progress, input_dtype=req.input_dtype,
        key_provenance=metadata_lib.provenance(key.weights, key.random_init, loaded.schedule.key_model_path,
                                               key.run_config))
    result.update(quantization=mode, schedule=os.path.abspath(req.schedule),
                  key_weights=key.weights, random_init_key=key.random_init,
                  seconds=round(time.time() - t0, 1))
    result["summary_path"] = os.path.join(result["out_dir"], SUMMARY)
    write_json(result["summary_path"], result)
    return result


def run_convert(req: ConvertRequest, log: Callable[[str], None] = lambda msg: None):
    """Converts `req`'s model or schedule; the JSON summary. `log` gets progress lines."""
    if req.schedule:
        return _convert_schedule(req, log)
    return _convert_single(req, log)
