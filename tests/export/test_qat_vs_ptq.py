"""QAT vs post-training int8 at small scale: keypoint error against the float model.

A tiny pose model is briefly trained on synthetic COCO crops (so that its heatmaps
mean something), then exported as post-training int8 (calibrated on pipeline crops)
and as QAT int8 (ranges calibrated the same way, then a short fine-tune towards the
float model's heatmaps). Both are compared with the float Keras model on validation
crops: mean distance of the decoded keypoints, in crop pixels.
"""
import keras
import numpy as np
import pytest

from tiny_models import build_tiny_pose_model
from vipnas_tf.export import convert as convert_lib, data as data_lib, parity
from vipnas_tf.export.lowering import lower_model

pytestmark = pytest.mark.slow  # traces super-networks / runs the real commands

pytest.importorskip("vipnas_tf.export.qat")

SIZE = (64, 32)  # heatmaps 16 x 8, one heatmap cell = 4 crop pixels


@pytest.fixture(scope="module")
def trained(synthetic_coco):
    train_ann, train_root, val_ann, val_root = synthetic_coco
    train = data_lib.coco_dataset(train_ann, train_root, SIZE, batch_size=16, training=True, seed=1)
    val = data_lib.take_images(data_lib.coco_dataset(val_ann, val_root, SIZE, batch_size=16), 24)
    # BN kept for training; grouped convs as lowering.GroupedConv2D (no XLA path).
    model = lower_model(build_tiny_pose_model(k=17, size=SIZE, seed=0), fold_batch_norm=False)
    model.compile(keras.optimizers.Adam(3e-3), "mse")
    model.fit(train.map(lambda b: (b["image"], b["heatmaps"])), steps_per_epoch=150, epochs=1, verbose=0)
    return model, train, val


def test_qat_and_ptq_keypoint_error_bounded(trained):
    model, train, val = trained
    _, ptq = convert_lib.convert(model, "int8", calibration_inputs=[data_lib.take_images(train, 64)],
                                 eval_inputs=[val])
    batches = [(b["image"].numpy(), parity.predict_keras(model, [b["image"].numpy()]))
               for b in train.take(6)]
    _, qat = convert_lib.convert(model, "qat", qat_batches=batches,
                                 qat=convert_lib.QatOptions(steps=40, learning_rate=1e-4), eval_inputs=[val])
    e_ptq, e_qat = ptq["parity"]["keypoint_error_px"], qat["parity"]["keypoint_error_px"]
    print(f"keypoint error vs float on {len(val)} val crops: PTQ int8 {e_ptq:.3f} px, "
          f"QAT int8 {e_qat:.3f} px")
    assert qat["qat"]["calibrated_ranges"] > 10
    # Both stay within two heatmap cells (8 px) of the float model on average; a briefly
    # trained tiny model has flat heatmaps whose argmax flips easily, hence the margin.
    # QAT with TFMOT's default [-6, 6] starting ranges measured 15 px here.
    assert e_ptq <= 8.0 and e_qat <= 8.0
    # QAT (ranges from data, then fine-tuned) is not worse than PTQ beyond noise.
    assert e_qat <= 1.25 * e_ptq + 0.5
