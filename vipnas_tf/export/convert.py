"""A static Keras model to one .tflite: lowering, conversion in every mode, parity.

`convert(model, mode, path, ...)`: lowering (`lower_model`) + TFLite conversion in
float32 / float16 / dynamic / int8 / qat, with a parity / keypoint-error report
against the un-lowered float Keras model (`parity.parity_report`).
"""
import dataclasses
import os
from typing import Dict, Optional, Sequence, Tuple

import keras
import numpy as np

from vipnas_tf.export import tflite_export
from vipnas_tf.export.lowering import hard_swish_method_for, layer_summary, lower_model
from vipnas_tf.export.parity import parity_report
from vipnas_tf.utils.io import write_bytes

MODES = ("float32", "float16", "dynamic", "int8", "qat")

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
        from vipnas_tf.export import qat as qat_lib  # pylint: disable=import-outside-toplevel  (tf-keras + TFMOT load only for QAT)

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
        num = None
        if mode == "int8":
            num = min(len(calibration_inputs[0]), num_calibration_samples)
            summary["calibration_samples"] = num
        flatbuffer = tflite_export.export_quantized(deploy, mode, representative_inputs=calibration_inputs,
                                                    num_calibration_samples=num, decode_fn=decode_fn)
    if path is not None:
        write_bytes(path, flatbuffer)
        summary["path"] = os.path.abspath(path)
    summary["size_bytes"] = len(flatbuffer)
    summary["parity"] = parity_report(model, flatbuffer, eval_inputs)
    return flatbuffer, summary
