"""Run as a script by test_distribute.py: one MultiWorkerMirroredStrategy worker
(TF_CONFIG from the environment) training the toy model for a few sandwich steps on
its shard of the data. Prints a JSON line with its losses and a weight checksum."""
import json

import numpy as np
import tensorflow as tf

import keras  # noqa: E402

from tests.training.toy import K, ToyNet, toy_batch  # noqa: E402
from vipnas_tf.training.losses import keypoint_mse  # noqa: E402
from vipnas_tf.training.step import TrainStep  # noqa: E402
from vipnas_tf.training.strategy import is_chief, make_strategy  # noqa: E402


def main():
    strategy = make_strategy("multi_worker")
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = ToyNet()
        opt = keras.optimizers.Adam(1e-2)
        opt.build(model.trainable_variables)
    before = [np.array(v) for v in model.trainable_variables]
    global_batch = 8
    step = TrainStep(
        strategy, model, opt,
        forward=lambda b, a, t: model(b["image"], arch=a, training=t),
        loss_fn=lambda p, b: keypoint_mse(p, b["heatmaps"], b["target_weight"]),
        teacher_shape=lambda b: tf.concat([tf.shape(b["image"])[:3], [K]], 0),
        global_batch_size=global_batch, num_members=3)
    data = toy_batch(n=32, seed=1)
    ds = tf.data.Dataset.from_tensor_slices(data).repeat().batch(global_batch)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    it = iter(strategy.experimental_distribute_dataset(ds.with_options(options)))
    members = np.array([[8], [2], [5]], np.int32)
    losses = [step(next(it), members)[0].numpy().tolist() for _ in range(4)]
    after = [np.array(v) for v in model.trainable_variables]
    print("RESULT " + json.dumps({
        "chief": is_chief(strategy), "replicas": strategy.num_replicas_in_sync, "losses": losses,
        "checksum": float(sum(np.sum(np.abs(a)) for a in after)),
        "moved": max(float(np.max(np.abs(a - b))) for a, b in zip(after, before))}), flush=True)


if __name__ == "__main__":
    main()
