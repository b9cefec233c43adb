"""Per-layer-type time breakdown of a deployed (lowered) model with the LiteRT interpreter.

The Python LiteRT interpreter has no per-op profiler, so this times every layer of the
lowered Keras model on its own: each layer becomes a one-layer model (its input shapes,
its weights), converted to TFLite (float32, or int8 with int8 I/O so that no
QUANTIZE/DEQUANTIZE is timed), and all of them plus the whole model are timed
interleaved (round-robin) on one thread with XNNPACK. Per layer p50s are summed by
category; the sum is compared with the whole model's p50 in the same run (layers
timed alone miss cross-layer cache reuse and the converter's cross-layer fusions, so
the sum is an approximation: the report shows both). A ReLU after an Add is timed with
the Add, as the converter fuses it.

  python research/export/op_breakdown.py --arch=s_vipnas_mbv3 --input_size=256x192 \\
      --precisions=float32,int8 --runs=30 --out=research/export/results/breakdown_s_vipnas_mbv3_256x192.json
"""
import collections
import json
import os
import sys
import time

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from vipnas_tf.arch import arch_cost, resolve_arch  # noqa: E402
from vipnas_tf import litert  # noqa: E402
from vipnas_tf.export import tflite_export  # noqa: E402
from vipnas_tf.export.lowering import hard_swish_method_for, lower_model  # noqa: E402
from vipnas_tf.models import build_static  # noqa: E402
from vipnas_tf.models.random_init import randomize_weights  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("arch", "s_vipnas_mbv3", "Preset name, arch JSON or compact string.")
flags.DEFINE_string("input_size", "256x192", "HxW.")
flags.DEFINE_list("precisions", ["float32", "int8"], "float32 and/or int8.")
flags.DEFINE_integer("runs", 30, "Timed interleaved rounds.")
flags.DEFINE_integer("warmup", 3, "Untimed rounds first.")
flags.DEFINE_integer("threads", 1, "Interpreter threads.")
flags.DEFINE_string("out", "", "Write the JSON report here too.")


def category(layer) -> str:
    """What kind of work a layer of a lowered model is (the breakdown's rows)."""
    name = layer.name
    if "_se__" in name:
        return "SE (pool, 1x1 convs, scale)"
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kh, kw = layer.kernel_size
        if (kh, kw) == (1, 1):
            return "hard-swish, int8 form (1x1 depthwise affines)"
        if "head_deconv" in name:
            return "head deconv phases (2x2 depthwise)"
        return f"depthwise {kh}x{kw}" + (" (band of a 7x7)" if "band" in name else "")
    if isinstance(layer, keras.layers.Conv2D):
        kh, kw = layer.kernel_size
        cin = layer.kernel.shape[2] * layer.groups
        if layer.groups > 1:
            return f"grouped conv {kh}x{kw}, {cin // layer.groups} ch/group"
        if "head_deconv" in name:
            return "head deconv phases (2x2 conv)"
        if (kh, kw) == (1, 1):
            return "head final 1x1" if "head_final" in name else "1x1 conv (expand/project)"
        if "mid_conv" in name:
            return f"grouped conv {kh}x{kw} as dense block-diagonal"
        return f"conv {kh}x{kw} ({name.split('_')[0]})"
    if isinstance(layer, keras.layers.Activation):
        return "hard-swish (HARD_SWISH)" if "hard" in str(layer.get_config()["activation"]) else "activation"
    if isinstance(layer, keras.layers.Multiply):
        return "hard-swish, int8 form (MUL)"
    if isinstance(layer, keras.layers.Add):
        return "band sum (ADD, ReLU fused)" if name.endswith("_sum") else "residual ADD"
    if isinstance(layer, (keras.layers.ZeroPadding2D, keras.layers.Cropping2D)):
        return "pad / crop (bands, deconv phases)"
    if isinstance(layer, (keras.layers.Concatenate, keras.layers.Reshape, keras.layers.Permute)):
        return "pixel shuffle (concat, reshape, transpose)"
    return type(layer).__name__


def layer_macs(layer) -> int:
    """Multiply-accumulates of a conv layer (0 for other layers)."""
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        out = layer.output.shape
        return int(out[1] * out[2] * out[3] * int(np.prod(layer.kernel_size)))
    if isinstance(layer, keras.layers.Conv2D):
        out = layer.output.shape
        return int(out[1] * out[2] * out[3] * int(np.prod(layer.kernel.shape[:3])))
    return 0


def _fused_activations(nodes):
    """{id(Add node): ReLU Activation node} for activations the converter fuses into the
    preceding ADD (their single-layer timing would be a standalone RELU, which in int8
    is off XNNPACK's fast path and does not exist in the converted model)."""
    producer = {id(t): n for n in nodes for t in n.outputs}
    users = {}
    for n in nodes:
        for t in n.input_tensors:
            users.setdefault(id(t), []).append(n)
    fused = {}
    for n in nodes:
        op = n.operation
        if (isinstance(op, keras.layers.Activation)
                and op.get_config()["activation"] in ("relu", "relu6") and len(n.input_tensors) == 1):
            t = n.input_tensors[0]
            p = producer.get(id(t))
            if p is not None and isinstance(p.operation, keras.layers.Add) and len(users[id(t)]) == 1:
                fused[id(p)] = n
    return fused


def single_layer_models(model):
    """(layer name, category, MACs, one-layer Keras model) for every layer with work.

    A ReLU after an Add is timed together with the Add (the converter fuses it)."""
    out = []
    by_depth = model._nodes_by_depth  # pylint: disable=protected-access
    nodes = [n for d in sorted(by_depth, reverse=True) for n in by_depth[d]]
    fused = _fused_activations(nodes)
    fused_ids = {id(n) for n in fused.values()}
    for node in nodes:
        op = node.operation
        if isinstance(op, keras.layers.InputLayer) or id(node) in fused_ids:
            continue
        if isinstance(op, keras.layers.Activation) and op.get_config()["activation"] == "linear":
            continue
        inputs = [keras.Input(tuple(t.shape[1:]), batch_size=1) for t in node.input_tensors]
        it = iter(inputs)
        args = keras.tree.map_structure(
            lambda v: next(it) if isinstance(v, keras.KerasTensor) else v, list(node.arguments.args))
        layer = type(op).from_config(op.get_config())
        y = layer(*args)
        if op.weights:
            layer.set_weights(op.get_weights())
        if id(node) in fused:
            act = fused[id(node)].operation
            y = type(act).from_config(act.get_config())(y)
        out.append((op.name, category(op), layer_macs(op),
                    keras.Model(inputs if len(inputs) > 1 else inputs[0], y)))
    return out


def convert(model, precision, io_dtype="int8"):
    return tflite_export.export_quantized(model, precision, num_calibration_samples=4,
                                          io_dtype=io_dtype if precision == "int8" else "float32")


def breakdown(static_model, precision, runs, warmup, threads):
    lowered = lower_model(static_model, hard_swish=hard_swish_method_for(precision))
    layers = single_layer_models(lowered)
    runners = [litert.ModelRunner(convert(lowered, precision, io_dtype="float32"), threads,
                                  name="__whole_model__")]
    for name, _, _, m in tqdm(layers, desc=f"convert layers ({precision})", file=sys.stderr):
        runners.append(litert.ModelRunner(convert(m, precision), threads, name=name))
    times = litert.measure_interleaved(runners, runs, warmup)
    p50 = [float(np.percentile(t, 50)) * 1e3 for t in times]
    whole = p50[0]
    rows = []
    by_cat = collections.defaultdict(lambda: {"ms": 0.0, "layers": 0, "macs": 0})
    for (name, cat, macs, _), ms in zip(layers, p50[1:]):
        rows.append({"layer": name, "category": cat, "macs": macs, "p50_ms": round(ms, 4)})
        by_cat[cat]["ms"] += ms
        by_cat[cat]["layers"] += 1
        by_cat[cat]["macs"] += macs
    total = sum(v["ms"] for v in by_cat.values())
    cats = sorted(({"category": k, "layers": v["layers"], "macs": v["macs"], "ms": round(v["ms"], 3),
                    "share": round(v["ms"] / total, 4),
                    "gflops_per_s": round(2 * v["macs"] / v["ms"] / 1e6, 1) if v["macs"] else None}
                   for k, v in by_cat.items()), key=lambda r: -r["ms"])
    return {"precision": precision, "whole_model_p50_ms": round(whole, 3),
            "sum_of_layers_ms": round(total, 3), "categories": cats, "layers": rows}


def main(argv):
    del argv
    h, w = (int(v) for v in FLAGS.input_size.lower().split("x"))
    arch = resolve_arch(FLAGS.arch)
    static = randomize_weights(build_static(arch, (h, w)), seed=0)
    report = {"arch": arch.to_string(), "input_size": [h, w], "threads": FLAGS.threads,
              "runs": FLAGS.runs, "macs": arch_cost(arch, (h, w)).macs,
              "machine": litert.machine_info(), "load_avg_before": os.getloadavg()}
    t0 = time.time()
    for p in FLAGS.precisions:
        report[p] = breakdown(static, p, FLAGS.runs, FLAGS.warmup, FLAGS.threads)
    report["load_avg_after"] = os.getloadavg()
    report["seconds"] = round(time.time() - t0, 1)
    text = json.dumps(report, indent=1)
    if FLAGS.out:
        from vipnas_tf.utils.io import write_json  # pylint: disable=import-outside-toplevel
        write_json(FLAGS.out, report)
    for p in FLAGS.precisions:
        r = report[p]
        print(f"\n{p}: whole model p50 {r['whole_model_p50_ms']:.2f} ms, sum of layers "
              f"{r['sum_of_layers_ms']:.2f} ms", file=sys.stderr)
        for c in r["categories"]:
            print(f"  {c['category']:50s} {c['layers']:4d} layers {c['ms']:8.2f} ms "
                  f"{100 * c['share']:5.1f}%  {c['gflops_per_s'] or '':>6} GFLOP/s", file=sys.stderr)
    print(text)


if __name__ == "__main__":
    app.run(main)
