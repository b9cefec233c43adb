"""Run as a script: one sandwich step on 1 device vs MirroredStrategy on 2 logical CPUs.

The global batch is two identical halves, so each replica's batch-norm statistics
equal the whole batch's (statistics are per replica, not synchronised); then the
two updates must agree to float rounding if the per-replica loss scaling and the
cross-replica gradient sum are right. Prints a JSON line with the max difference.
"""
import json
import sys

import numpy as np
import tensorflow as tf

cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402

from tests.training.toy import K, ToyNet, toy_batch  # noqa: E402
from vipnas_tf.training.losses import keypoint_mse  # noqa: E402
from vipnas_tf.training.step import TrainStep  # noqa: E402


def run(strategy, batch, members, init):
    with strategy.scope():
        model = ToyNet()
        opt = keras.optimizers.Adam(1e-2)
        opt.build(model.trainable_variables)
    for v, w in zip(model.weights, init):
        v.assign(w)
    before = [np.array(v) for v in model.trainable_variables]
    step = TrainStep(
        strategy, model, opt,
        forward=lambda b, a, t: model(b["image"], arch=a, training=t),
        loss_fn=lambda p, b: keypoint_mse(p, b["heatmaps"], b["target_weight"]),
        teacher_shape=lambda b: tf.concat([tf.shape(b["image"])[:3], [K]], 0),
        global_batch_size=len(batch["image"]), num_members=len(members))
    ds = tf.data.Dataset.from_tensor_slices(batch).batch(len(batch["image"])).repeat()
    it = iter(strategy.experimental_distribute_dataset(ds))
    losses = []
    for _ in range(3):
        gt, _ = step(next(it), members)
        losses.append(gt.numpy().tolist())
    after = [np.array(v) for v in model.trainable_variables]
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(after, before))
    return after, losses, strategy.num_replicas_in_sync, moved


def main():
    half = toy_batch(n=2, seed=3)
    batch = {k: np.concatenate([v, v]) for k, v in half.items()}
    members = np.array([[8], [3], [6]], np.int32)
    keras.utils.set_random_seed(0)
    init = [np.array(v) for v in ToyNet().weights]
    w1, l1, n1, moved = run(tf.distribute.get_strategy(), batch, members, init)
    w2, l2, n2, _ = run(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), batch, members, init)
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(w1, w2))
    print(json.dumps({"replicas": [n1, n2], "max_weight_diff": diff, "max_update": moved,
                      "losses_default": l1, "losses_mirrored": l2}))


if __name__ == "__main__":
    sys.exit(main())
