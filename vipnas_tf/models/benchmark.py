"""Step-time benchmark of a super-network against its extracted static models.

Measures what matters for weight-sharing training: the forward+backward step of the
super-network under an architecture (graph mode, the architecture fed as a tensor)
against the same step of the extracted static model, and how often the super-network
step re-traces while the architecture changes.
"""
import numpy as np
import tensorflow as tf

from vipnas_tf.arch import cost as cost_lib
from vipnas_tf.models.supernet import build_supernet
from vipnas_tf.models.random_init import randomize_weights
from vipnas_tf.litert.timing import summarize, time_named


class TraceCounter:
    """Counts Python executions of a tf.function body, i.e. traces."""

    def __init__(self):
        self.count = 0

    def __call__(self):
        self.count += 1


def make_grad_step(model, takes_arch):
    """A tf.function computing the MSE loss and gradients of all trainable weights."""
    counter = TraceCounter()

    @tf.function(reduce_retracing=True)
    def step(images, targets, arch=None):
        counter()
        with tf.GradientTape() as tape:
            out = model(images, arch=arch, training=True) if takes_arch else model(images, training=True)
            loss = tf.reduce_mean(tf.square(out - targets))
        grads = tape.gradient(loss, model.trainable_weights)
        return loss, [g for g in grads if g is not None]

    return step, counter


def make_fixed_step(net, arch):
    """The super-network's ops specialised to one architecture (Python-int choices):
    a static graph with the same TF kernels. Keras 3 runs grouped `Conv2D` layers
    through XLA on CPU, which is far slower than `tf.nn.conv2d`'s grouped kernel, so
    this is the fair measure of what the elastic machinery itself costs."""

    @tf.function
    def step(images, targets):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(net(images, arch=arch, training=True) - targets))
        grads = tape.gradient(loss, net.trainable_weights)
        return loss, [g for g in grads if g is not None]

    return step


def bench_space(space_name, archs, input_size=(256, 192), batch=8, runs=10, cycle=50, seed=0, static_runs=None):
    """Benchmarks one space. `archs` maps a label to an Arch of the space.

    Returns a dict with, per arch, supernet and static step times and their ratio, and
    the number of traces while cycling through `cycle` random architectures after
    warm-up.
    """
    h, w = cost_lib.check_input_size(input_size)
    net = build_supernet(space_name, input_size=(h, w))
    randomize_weights(net, seed)
    rng = np.random.default_rng(seed)
    images = tf.random.stateless_normal([batch, h, w, 3], seed=[seed, 1])
    targets = tf.zeros([batch, h // 4, w // 4, net.num_keypoints])
    super_step, counter = make_grad_step(net, takes_arch=True)
    result = {"space": space_name, "input_size": [h, w], "batch": batch, "runs": runs, "archs": {}}
    for label, arch in archs.items():
        static = net.extract(arch, (h, w))
        static_step, _ = make_grad_step(static, takes_arch=False)
        fixed_step = make_fixed_step(net, arch)
        vec = tf.constant(net.encode(arch))
        times = time_named(
            {
                "supernet": lambda: super_step(images, targets, vec)[0].numpy(),
                "fixed": lambda: fixed_step(images, targets)[0].numpy(),
            },
            runs=runs,
            warmup=2,
        )
        # Keras 3 sends grouped Conv2D layers through XLA on CPU, which makes the
        # extracted model's step very slow; `static_runs` bounds the time spent on it.
        times.update(time_named({"static": lambda: static_step(images, targets)[0].numpy()}, runs=static_runs or runs, warmup=1))
        sup, sta, fix = (summarize(times[k])["median_ms"] for k in ("supernet", "static", "fixed"))
        result["archs"][label] = {
            "arch": arch.to_string(),
            "supernet_step_ms": sup,
            "static_step_ms": sta,
            "ratio": round(sup / sta, 3),
            "fixed_graph_step_ms": fix,
            "ratio_vs_fixed_graph": round(sup / fix, 3),
        }
    before = counter.count
    for arch in net.space.sample(rng, cycle):
        super_step(images, targets, tf.constant(net.encode(arch)))[0].numpy()
    result["traces_after_warmup"] = counter.count - before
    result["random_archs_cycled"] = cycle
    result["total_traces"] = counter.count
    result["max_ratio"] = max(a["ratio"] for a in result["archs"].values())
    result["max_ratio_vs_fixed_graph"] = max(a["ratio_vs_fixed_graph"] for a in result["archs"].values())
    return result
