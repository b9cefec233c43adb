"""float32 against mixed bfloat16: the sandwich step (biggest + smallest member) of the
MobileNetV3 super-network at 128x96, batch 8, the two steps interleaved in one process on
the same batch for 10 steps, both networks built from seed 0. Prints the median step time
after the first step and the losses after the last (docs/distributed.md, "Measured here").

    python research/distributed/mixed_precision_step.py
"""
import json, time, sys
import numpy as np, tensorflow as tf, keras
from vipnas_tf.models import build_supernet
from vipnas_tf.training.losses import keypoint_mse
from vipnas_tf.training.sandwich import SandwichSampler
from vipnas_tf.training.step import TrainStep
h, w, batch, steps = 128, 96, 8, 10
rng = np.random.default_rng(0)
data = {"image": tf.constant(rng.normal(size=(batch, h, w, 3)).astype(np.float32)),
        "heatmaps": tf.constant(rng.uniform(size=(batch, h // 4, w // 4, 17)).astype(np.float32)),
        "target_weight": tf.ones([batch, 17])}
def make(policy):
    keras.utils.set_random_seed(0)
    keras.config.set_dtype_policy(policy)
    net = build_supernet("mobilenetv3", input_size=(h, w))
    keras.config.set_dtype_policy("float32")
    opt = keras.optimizers.Adam(1e-3); opt.build(net.trainable_variables)
    return TrainStep(tf.distribute.get_strategy(), net, opt,
        forward=lambda b, a, t: net(b["image"], arch=a, training=t),
        loss_fn=lambda p, b: keypoint_mse(p, b["heatmaps"], b["target_weight"]),
        teacher_shape=lambda b: [tf.shape(b["image"])[0], h // 4, w // 4, 17],
        global_batch_size=batch, num_members=2)
sampler = SandwichSampler(__import__("vipnas_tf.arch", fromlist=["get_space"]).get_space("mobilenetv3"), 0, 0)
fns = {"float32": make("float32"), "bfloat16": make("mixed_bfloat16")}
times = {k: [] for k in fns}
for s in range(steps):
    for k, f in fns.items():
        t0 = time.perf_counter(); f(data, sampler.vectors(s)); f.read_losses(); times[k].append(time.perf_counter() - t0)
out = {k: {"median_step_s_after_first": round(float(np.median(v[1:])), 4), "first_step_s": round(v[0], 1),
           "loss_after_%d_steps" % steps: fns[k].read_losses()[0].tolist(), "traces": fns[k].tracing_count}
       for k, v in times.items()}
print(json.dumps(out))
