"""Training-step benchmark: the sandwich step against the same sub-networks trained alone.

For the members of one sandwich step (biggest, smallest, N random), measures in one
interleaved run:
- `sandwich`: the real `TrainStep` (all members, distillation, one Adam update);
- `static_sum`: the sum of one training step (forward, backward, Adam) of each member
  as an extracted static Keras model. Extracted models use Keras `Conv2D(groups=g)`,
  which Keras 3 runs through XLA on CPU at a fraction of `tf.nn.conv2d`'s speed; the
  static models here therefore replace those layers by `GroupedConv2D` (same layer,
  `tf.nn.conv2d`; `vipnas_tf.export.lower_model` without folding or band splitting),
  so the comparison is against the fastest static formulation, not a strawman.
  `keras_static=True` adds the plain extracted models too (slow);
- `fixed_sum`: each member as the super-network specialised to it (Python-int
  choices: the same TF kernels, no `tf.cond`, no slicing by tensors).
Then it cycles through `cycle` further sandwich steps (new random members each) and
counts re-traces of the step.
"""
import keras
import numpy as np
import tensorflow as tf

from vipnas_tf.arch import cost as cost_lib
from vipnas_tf.arch import get_space
from vipnas_tf.export.lowering import lower_model
from vipnas_tf.litert.timing import summarize, time_named
from vipnas_tf.models import build_supernet
from vipnas_tf.training.losses import keypoint_mse
from vipnas_tf.training.sandwich import SandwichSampler
from vipnas_tf.training.step import TrainStep


def _static_step(model):
    opt = keras.optimizers.Adam(1e-3)
    opt.build(model.trainable_variables)

    @tf.function
    def step(images, heatmaps, weights):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(keypoint_mse(model(images, training=True), heatmaps, weights))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return step


def trainable_static(net, arch, input_size):
    """The extracted static model with grouped convs on `tf.nn.conv2d` (trainable, BN kept)."""
    return lower_model(net.extract(arch, input_size), fold_batch_norm=False, fuse_activations=False,
                       grouped_method="conv", max_depthwise_taps=0, hard_swish="activation")


def bench_train(space="mobilenetv3", input_size=(128, 96), batch=16, runs=5, num_random=2, seed=0,
                cycle=10, keras_static=False, fixed_graph=True, progress=None):
    say = progress or (lambda msg: None)
    h, w = cost_lib.check_input_size(input_size)
    space = get_space(space)
    net = build_supernet(space, input_size=(h, w))
    rng = np.random.default_rng(seed)
    images = tf.constant(rng.normal(size=(batch, h, w, 3)).astype(np.float32))
    heatmaps = tf.constant(rng.uniform(size=(batch, h // 4, w // 4, net.num_keypoints)).astype(np.float32))
    weights = tf.ones([batch, net.num_keypoints])
    data = {"image": images, "heatmaps": heatmaps, "target_weight": weights}
    sampler = SandwichSampler(space, num_random, seed)
    opt = keras.optimizers.Adam(1e-3)
    opt.build(net.trainable_variables)
    step = TrainStep(
        tf.distribute.get_strategy(), net, opt,
        forward=lambda b, a, t: net(b["image"], arch=a, training=t),
        loss_fn=lambda p, b: keypoint_mse(p, b["heatmaps"], b["target_weight"]),
        teacher_shape=lambda b: [tf.shape(b["image"])[0], h // 4, w // 4, net.num_keypoints],
        global_batch_size=batch, num_members=sampler.num_members)
    members = sampler.vectors(0)
    archs = sampler.archs(0)
    fns = {"sandwich": lambda: step(data, members)[0].numpy()}
    say("building static models")
    statics = [_static_step(trainable_static(net, a, (h, w))) for a in archs]
    fns["static_sum"] = lambda: [s(images, heatmaps, weights).numpy() for s in statics]
    if fixed_graph:
        fixed = []
        for a in archs:
            o = keras.optimizers.Adam(1e-3)
            o.build(net.trainable_variables)
            fixed.append(TrainStep(tf.distribute.get_strategy(), net, o, forward=step.forward,
                                   loss_fn=step.loss_fn, teacher_shape=step.teacher_shape,
                                   global_batch_size=batch, num_members=1, fixed_arch=a))
        fns["fixed_sum"] = lambda: [f(data, members[:1])[0].numpy() for f in fixed]
    if keras_static:
        plain = [_static_step(net.extract(a, (h, w))) for a in archs]
        fns["keras_static_sum"] = lambda: [s(images, heatmaps, weights).numpy() for s in plain]
    say("warm-up (traces)")
    times = time_named(fns, runs=runs, warmup=1)
    med = {k: summarize(v)["median_ms"] for k, v in times.items()}
    traces_before = step.trace_count
    say(f"cycling {cycle} sandwich steps with new members")
    for s in range(1, cycle + 1):
        step(data, sampler.vectors(s))[0].numpy()
    result = {
        "space": space.name, "input_size": [h, w], "batch": batch, "runs": runs,
        "members": [a.to_string() for a in archs],
        "sandwich_step_ms": med["sandwich"],
        "static_sum_ms": med["static_sum"],
        "ratio": round(med["sandwich"] / med["static_sum"], 3),
        "traces_after_warmup": step.trace_count - traces_before,
        "cycled_steps": cycle,
    }
    if fixed_graph:
        result["fixed_graph_sum_ms"] = med["fixed_sum"]
        result["ratio_vs_fixed_graph"] = round(med["sandwich"] / med["fixed_sum"], 3)
    if keras_static:
        result["keras_static_sum_ms"] = med["keras_static_sum"]
        result["ratio_vs_keras_static"] = round(med["sandwich"] / med["keras_static_sum"], 3)
    return result
