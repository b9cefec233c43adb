"""QAT vs post-training int8: keypoint error against the float model on validation crops.

No trained S-ViPNet exists yet, and a randomly initialised model has flat heatmaps
whose argmax is noise, so this first trains the model briefly on the synthetic COCO
train set (the lowered model with its BN layers kept, so that training runs without
Keras' XLA grouped-conv path), then exports
  - post-training int8: activation ranges calibrated on --calibration_samples crops of
    the training pipeline;
  - QAT int8: the same ranges, then --qat_steps of fine-tuning towards the float
    model's own heatmaps (tflite/convert.py's default, --qat_target=teacher);
and compares both with the float Keras model on the validation crops (mean distance of
the decoded keypoints in crop pixels, argmax agreement, heatmap differences).

  python research/export/qat_vs_ptq.py --arch=s_vipnas_mbv3 --input_size=128x96 \\
      --data_root=/tmp/synth --train_steps=400 --qat_steps=200 \\
      --out=research/export/results/qat_vs_ptq.json
"""
import json
import os
import sys
import time

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import keras  # noqa: E402

from vipnas_tf.arch import resolve_arch  # noqa: E402
from vipnas_tf.arch.cost import parse_input_size  # noqa: E402
from vipnas_tf.export import convert as convert_lib, data as data_lib, parity  # noqa: E402
from vipnas_tf.export.lowering import lower_model  # noqa: E402
from vipnas_tf.models import build_static  # noqa: E402
from vipnas_tf.models.random_init import randomize_weights  # noqa: E402
from vipnas_tf.utils.io import write_json  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("arch", "s_vipnas_mbv3", "Architecture.")
flags.DEFINE_string("input_size", "128x96", "HxW.")
flags.DEFINE_string("data_root", "/tmp/synth", "Folder written by scripts/make_synthetic.py.")
flags.DEFINE_integer("train_steps", 400, "Float training steps (batch --batch_size).")
flags.DEFINE_integer("batch_size", 16, "Batch size.")
flags.DEFINE_float("learning_rate", 2e-3, "Float training learning rate (Adam).")
flags.DEFINE_integer("calibration_samples", 200, "PTQ calibration crops.")
flags.DEFINE_integer("qat_steps", 200, "QAT fine-tune steps.")
flags.DEFINE_float("qat_learning_rate", 5e-5, "QAT learning rate.")
flags.DEFINE_integer("qat_batches", 25, "Distinct QAT batches (cycled).")
flags.DEFINE_integer("eval_crops", 64, "Validation crops.")
flags.DEFINE_string("out", "", "JSON report path.")


def main(argv):
    del argv
    t0 = time.time()
    size = parse_input_size(FLAGS.input_size)
    coco = os.path.join(FLAGS.data_root, "coco")
    train = data_lib.coco_dataset(os.path.join(coco, "annotations", "person_keypoints_train.json"),
                                os.path.join(coco, "images", "train"), size,
                                batch_size=FLAGS.batch_size, training=True, seed=0)
    val = data_lib.take_images(data_lib.coco_dataset(
        os.path.join(coco, "annotations", "person_keypoints_val.json"),
        os.path.join(coco, "images", "val"), size, batch_size=16), FLAGS.eval_crops)
    arch = resolve_arch(FLAGS.arch)
    model = lower_model(randomize_weights(build_static(arch, size), seed=0), fold_batch_norm=False)
    model.compile(keras.optimizers.Adam(FLAGS.learning_rate), "mse")
    hist = model.fit(train.map(lambda b: (b["image"], b["heatmaps"])), epochs=1,
                     steps_per_epoch=FLAGS.train_steps, verbose=0)
    t_train = time.time() - t0
    print(f"trained {FLAGS.train_steps} steps in {t_train:.0f}s, loss "
          f"{hist.history['loss'][0]:.3g}", file=sys.stderr)
    ref = parity.predict_keras(model, [val])
    peak = ref.reshape(len(ref), -1, ref.shape[-1]).max(1)
    report = {"arch": arch.to_string(), "input_size": list(size), "train_steps": FLAGS.train_steps,
              "train_loss": float(hist.history["loss"][0]), "val_crops": int(len(val)),
              "float_heatmap_peak_mean": float(peak.mean()), "float_heatmap_mean": float(ref.mean())}
    _, ptq = convert_lib.convert(model, "int8", calibration_inputs=[data_lib.take_images(
        train, FLAGS.calibration_samples)], eval_inputs=[val],
        num_calibration_samples=FLAGS.calibration_samples)
    report["ptq_int8"] = ptq["parity"]
    print("PTQ", json.dumps(ptq["parity"]), file=sys.stderr)
    batches = [(b["image"].numpy(), parity.predict_keras(model, [b["image"].numpy()]))
               for b in train.take(FLAGS.qat_batches)]
    for steps in sorted({0, FLAGS.qat_steps}):
        if steps == 0:
            # Calibrated ranges without fine-tuning (one step at learning rate 0).
            opts = convert_lib.QatOptions(steps=1, learning_rate=0.0)
        else:
            opts = convert_lib.QatOptions(steps=steps, learning_rate=FLAGS.qat_learning_rate)
        _, q = convert_lib.convert(model, "qat", qat_batches=batches, qat=opts, eval_inputs=[val])
        report[f"qat_int8_{steps}_steps"] = {**q["parity"], "qat": q["qat"]}
        print(f"QAT {steps}", json.dumps(q["parity"]), file=sys.stderr)
    report["seconds"] = round(time.time() - t0, 1)
    if FLAGS.out:
        write_json(FLAGS.out, report)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    app.run(main)
