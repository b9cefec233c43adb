"""Grouped convs with 2 channels per group as depthwise convs: measured formulations.

A grouped conv with 2 input and 2 output channels per group (S-ViPNAS-MobileNetV3's
stage 5: 7x7, 560 channels, 280 groups at 16x12) runs at ~10 GFLOP/s in XNNPACK, and
int8 gains nothing there. It is exactly two depthwise convs:

    y[2g + j] = K[j, j] * x[2g + j]  +  K[1 - j, j] * x[2g + 1 - j]

the first a depthwise conv of x, the second a depthwise conv of x with the channels of
each pair swapped (`xs`). Depthwise convs of <= 25 taps are XNNPACK's fast path (7x7 is
cut into row bands, `lowering.depthwise_conv2d`). The swap costs something; where it
happens is what the variants differ in:

  conv          the grouped Conv2D (what the export emits today)
  swap_flip     y = dw(x) + swap(dw'(x)), swap = Reshape + REVERSE_V2 + Reshape
  swap_slice    the same, swap = Reshape + two STRIDED_SLICEs + CONCATENATION + Reshape
  swap_conv     the same, swap = Reshape + a 2->2 1x1 Conv2D + Reshape
  block_*       the whole expand 1x1 + middle conv: `block_conv` (the grouped conv) vs
                `block_two_expand` (a second expand conv emits xs: its weights are the
                first's with the pairs swapped, so the swap is free at run time but the
                expand's MACs double) vs `block_wide_expand` (one expand conv of 2C
                outputs [x, xs], one depthwise conv of 2C channels, the halves summed)

Every variant is checked against the grouped conv in float (max abs diff printed), then
converted to float32 and int8 TFLite and timed interleaved (1 thread by default).

  python research/export/pair_groups.py --runs=40 --out=research/export/results/pair_groups_1thread.json
"""
import json
import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import layer_bench  # noqa: E402
from vipnas_tf import litert  # noqa: E402
from vipnas_tf.export import lowering  # noqa: E402

FLAGS = flags.FLAGS  # --precisions, --runs, --warmup, --threads, --out: layer_bench's flags

# (H, W, expand input channels, middle channels, kernel): stage 5 of S-ViPNAS-MobileNetV3
# at 256x192 (16x12, 112 -> 560, 7x7), the same with 5x5 / 3x3 kernels, and a larger map.
SHAPES = [(16, 12, 112, 560, 7), (16, 12, 112, 560, 5), (16, 12, 112, 560, 3),
          (32, 24, 80, 400, 5)]


class PairSwap(keras.layers.Layer):
    """Swaps the channels of each pair (2g <-> 2g + 1) of x [N, H, W, C]."""

    def __init__(self, method="flip", **kwargs):
        super().__init__(**kwargs)
        self.method = method

    def call(self, x):
        h, w, c = x.shape[1], x.shape[2], x.shape[3]
        y = keras.ops.reshape(x, (-1, h, w, c // 2, 2))
        if self.method == "flip":
            y = keras.ops.flip(y, axis=-1)
        else:
            y = keras.ops.concatenate([y[..., 1:], y[..., :1]], axis=-1)
        return keras.ops.reshape(y, (-1, h, w, c))


def swap_conv(x, name):
    """The pair swap as a 2 -> 2 1x1 conv over [H, W * C / 2, 2]."""
    h, w, c = x.shape[1], x.shape[2], x.shape[3]
    y = keras.layers.Reshape((h, w * c // 2, 2), name=name + "_r")(x)
    layer = keras.layers.Conv2D(2, 1, use_bias=False, name=name)
    y = layer(y)
    layer.set_weights([np.array([[0, 1], [1, 0]], np.float32).reshape(1, 1, 2, 2)])
    return keras.layers.Reshape((h, w, c), name=name + "_m")(y)


def pair_kernels(kernel):
    """(diagonal, off-diagonal applied at the input channel, off-diagonal applied at
    the output channel) depthwise kernels [k, k, C, 1] of a grouped kernel [k, k, 2, C]."""
    c = kernel.shape[-1]
    o = np.arange(c)
    diag = kernel[:, :, o % 2, o]                # x[o] -> y[o]
    off_in = kernel[:, :, o % 2, o ^ 1]          # x[i] -> y[i ^ 1], weight kept at i
    off_out = kernel[:, :, 1 - o % 2, o]         # xs[o] = x[o ^ 1] -> y[o]
    return diag[..., None], off_in[..., None], off_out[..., None]


def middle_variants(h, w, c, k, kernel, bias):
    diag, off_in, _ = pair_kernels(kernel)
    out = {"conv": lambda x: lowering.grouped_conv2d(x, kernel, bias, groups=c // 2, method="conv")}

    def swapped(how):
        def build(x):
            d1 = lowering.depthwise_conv2d(x, diag, bias, name="d1")
            d2 = lowering.depthwise_conv2d(x, off_in, None, name="d2")
            d2 = swap_conv(d2, "swap") if how == "conv" else PairSwap(how, name="swap")(d2)
            return keras.layers.Add(name="sum")([d1, d2])
        return build
    for how in ("flip", "slice", "conv"):
        out[f"swap_{how}"] = swapped(how)
    return out


def block_variants(cin, c, k, expand_w, expand_b, kernel, bias):
    diag, _, off_out = pair_kernels(kernel)
    swap = np.arange(c) ^ 1

    def expand(x, wts, b, name):
        layer = keras.layers.Conv2D(wts.shape[-1], 1, activation="relu", name=name)
        y = layer(x)
        layer.set_weights([wts, b])
        return y

    def block_conv(x):
        return lowering.grouped_conv2d(expand(x, expand_w, expand_b, "e"), kernel, bias,
                                       groups=c // 2, method="conv")

    def block_two_expand(x):
        e = expand(x, expand_w, expand_b, "e")
        es = expand(x, expand_w[..., swap], expand_b[swap], "es")
        return keras.layers.Add(name="sum")([lowering.depthwise_conv2d(e, diag, bias, name="d1"),
                                             lowering.depthwise_conv2d(es, off_out, None, name="d2")])

    def block_wide_expand(x):
        e = expand(x, np.concatenate([expand_w, expand_w[..., swap]], -1),
                   np.concatenate([expand_b, expand_b[swap]]), "e2")
        d = lowering.depthwise_conv2d(e, np.concatenate([diag, off_out], 2),
                                      np.concatenate([bias, np.zeros_like(bias)]), name="d")
        halves = keras.layers.Reshape((d.shape[1], d.shape[2], 2, c), name="halves")(d)
        return keras.layers.Lambda(lambda t: t[..., 0, :] + t[..., 1, :], name="sum")(halves)
    return {"block_conv": block_conv, "block_two_expand": block_two_expand,
            "block_wide_expand": block_wide_expand}


def run_shape(h, w, cin, c, k, rng):
    kernel = (rng.standard_normal((k, k, 2, c)) * np.sqrt(2 / (2 * k * k))).astype(np.float32)
    bias = (rng.standard_normal(c) * 0.05).astype(np.float32)
    expand_w = (rng.standard_normal((1, 1, cin, c)) * np.sqrt(2 / cin)).astype(np.float32)
    expand_b = (rng.standard_normal(c) * 0.05).astype(np.float32)
    groups = [("middle", (h, w, c), middle_variants(h, w, c, k, kernel, bias)),
              ("block", (h, w, cin), block_variants(cin, c, k, expand_w, expand_b, kernel, bias))]
    rows = []
    for part, shape, builds in groups:
        models = {n: layer_bench._model(shape, b, name=n) for n, b in builds.items()}  # pylint: disable=protected-access
        x = rng.standard_normal((1,) + shape).astype(np.float32)
        ref_name = next(iter(models))
        ref = np.asarray(models[ref_name](x))
        diffs = {n: float(np.abs(np.asarray(m(x)) - ref).max()) for n, m in models.items()}
        for p in FLAGS.precisions:
            fbs = [(n, layer_bench.convert(m, p)) for n, m in models.items()]
            p50 = layer_bench.time_models(fbs, FLAGS.runs, FLAGS.warmup, FLAGS.threads)
            for n in models:
                rows.append({"part": part, "shape": [h, w, c], "expand_in": cin, "kernel": k,
                             "variant": n, "precision": p, "p50_ms": round(p50[n], 4),
                             "vs_grouped": round(p50[n] / p50[ref_name], 3),
                             "max_abs_diff_float": diffs[n]})
                print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv):
    del argv
    rng = np.random.default_rng(0)
    rows = []
    for shape in SHAPES:
        rows += run_shape(*shape, rng)
    result = {"machine": litert.machine_info(), "threads": FLAGS.threads, "runs": FLAGS.runs,
              "rows": rows}
    if FLAGS.out:
        with open(FLAGS.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    app.run(main)
