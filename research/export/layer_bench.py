"""Per-layer TFLite latency research at the shapes of S-ViPNAS-MobileNetV3 (256x192).

Micro-benchmarks of single layers / blocks, each converted to TFLite (float32 and
int8, int8 calibrated on random N(0,1) inputs: ranges do not change the speed) and
run by the LiteRT interpreter with XNNPACK on 1 thread; the variants of one
question are timed interleaved (round-robin) in one loop. Results are printed as
JSON and written to --out; research/README.md ("Export layer studies", sections 1, 3, 4
and 7) is written from them.

Sections (--sections):
  components  stem, and per stage the expand 1x1, grouped kxk, SE, project 1x1 and
              whole block (first block of the stage and a repeated one), with and
              without XNNPACK for int8 (which ops fall off the fast path).
  grouped     the middle grouped convs in every formulation of
              `vipnas_tf.export.lowering.grouped_conv2d`.
  deconv      the head's depthwise 4x4/2 deconvs: sub-pixel vs fused sub-pixel
              vs (not equivalent) nearest-upsample + 3x3 depthwise.
  e2e         whole S-ViPNAS-MobileNetV3 in several lowerings and SimpleBaseline
              ResNet-50, float32 and int8, interleaved in one run (also writes the
              .tflite files to --model_dir for tflite/benchmark.py).

Example:
  python research/export/layer_bench.py --sections=grouped,deconv --runs=30 --out=/tmp/lb.json
"""
import json
import os
import sys
import time

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import keras  # noqa: E402

import published_models as pm  # noqa: E402
from vipnas_tf import litert  # noqa: E402
from vipnas_tf.export import lowering, tflite_export  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("sections", ["components", "grouped", "deconv", "e2e"], "What to measure.")
flags.DEFINE_list("precisions", ["float32", "int8"], "float32 and/or int8.")
flags.DEFINE_integer("runs", 30, "Timed interleaved rounds per question.")
flags.DEFINE_integer("warmup", 3, "Untimed rounds first.")
flags.DEFINE_integer("threads", 1, "Interpreter threads.")
flags.DEFINE_string("out", "", "Write the JSON results here too.")
flags.DEFINE_string("model_dir", "/tmp/vipnas_layer_bench", "e2e: where .tflite files go.")
flags.DEFINE_list("e2e_variants", ["mbv3_naive", "mbv3_lowered", "mbv3_lowered_hs8",
                                   "mbv3_dw_multiplier", "sbl_res50"], "e2e: which models.")


def convert(model, precision):
    return tflite_export.export_quantized(model, precision, num_calibration_samples=8)


class _BytesRunner(litert.ModelRunner):
    pass


def time_models(named_flatbuffers, runs, warmup, threads, use_xnnpack=True):
    """{name: p50_ms} of flatbuffers timed interleaved."""
    runners = [_BytesRunner(fb, threads, name=n, use_xnnpack=use_xnnpack)
               for n, fb in named_flatbuffers]
    times = litert.measure_interleaved(runners, runs, warmup)
    return {r.name: litert.latency_stats(t)["p50_ms"] for r, t in zip(runners, times)}


def _model(inp_shape, build, name="m"):
    x = keras.Input(inp_shape, name="x")
    return keras.Model(x, build(x), name=name)


def stage_shapes(input_size=(256, 192)):
    """Per stage: (input HxW, in channels) of the first and of a repeated block."""
    h, w = input_size[0] // 2, input_size[1] // 2
    cin = pm.MBV3_STEM
    out = []
    for s, (width, exp, depth, k, groups, se, stride, act) in enumerate(pm.MBV3_STAGES, 1):
        out.append(dict(stage=s, hw=(h, w), cin=cin, width=width, mid=width * exp, kernel=k,
                        groups=groups, se=se, stride=stride, act=act, depth=depth))
        h, w = h // stride, w // stride
        cin = width
    return out


def components(precisions, runs, warmup, threads):
    """Stem, expand / grouped / SE / project / block per stage, fp32 and int8."""
    wts = pm._Weights(0)  # pylint: disable=protected-access
    rows = []
    questions = []  # (row key, keras model)
    questions.append(("stem", _model((256, 192, 3), lambda x: pm._act(  # pylint: disable=protected-access
        keras.layers.Conv2D(16, 3, strides=2, padding="same")(x), "hard_swish", "a"))))
    for st in stage_shapes():
        s, (h, w), cin, mid = st["stage"], st["hw"], st["cin"], st["mid"]
        for which in ("first", "repeat"):
            if which == "repeat" and st["depth"] == 1:
                continue
            c_in = cin if which == "first" else st["width"]
            stride = st["stride"] if which == "first" else 1
            hh, ww = (h, w) if which == "first" else (h // st["stride"], w // st["stride"])
            oh, ow = hh // stride, ww // stride
            key = f"s{s}_{which}"
            if mid != c_in:
                questions.append((f"{key}/expand", _model((hh, ww, c_in), lambda x: pm.conv1x1(
                    x, mid, wts, "e", act=st["act"]))))
            questions.append((f"{key}/grouped", _model((hh, ww, mid), lambda x: pm._act(  # pylint: disable=protected-access
                lowering.grouped_conv2d(x, wts(st["kernel"], st["kernel"], mid // st["groups"], mid),
                                        wts.bias(mid), groups=st["groups"], strides=stride,
                                        method="auto"), st["act"], "a"))))
            if st["se"]:
                questions.append((f"{key}/se", _model((oh, ow, mid), lambda x: pm.se_block(x, wts, "se"))))
            questions.append((f"{key}/project", _model((oh, ow, mid), lambda x: pm.conv1x1(
                x, st["width"], wts, "p"))))
            questions.append((f"{key}/block", _model((hh, ww, c_in), lambda x: pm.inverted_residual(
                x, st["width"], mid, st["kernel"], st["groups"], st["se"], stride, st["act"], wts, "b"))))
    for i, (h, w) in enumerate([(8, 6), (16, 12), (32, 24)]):
        questions.append((f"head{i}/deconv", _model((h, w, 160), lambda x: keras.layers.ReLU()(
            lowering.grouped_conv2d_transpose_s2k4(x, wts(4, 4, 1, 160), wts.bias(160), groups=160)))))
    questions.append(("head/final1x1", _model((64, 48, 160), lambda x: pm.conv1x1(x, 17, wts, "f"))))
    fbs = {p: [(k, convert(m, p)) for k, m in questions] for p in precisions}
    res = {p: time_models(fbs[p], runs, warmup, threads) for p in precisions}
    if "int8" in precisions:
        res["int8_no_xnnpack"] = time_models(fbs["int8"], max(5, runs // 3), 1, threads, use_xnnpack=False)
    for k, m in questions:
        row = {"layer": k, "macs": pm.count_macs(m)}
        for p, r in res.items():
            row[f"{p}_ms"] = round(r[k], 4)
        rows.append(row)
    return rows


def grouped(precisions, runs, warmup, threads):
    """Every formulation of each distinct middle grouped conv of the model."""
    wts = pm._Weights(1)  # pylint: disable=protected-access
    rows = []
    for st in stage_shapes():
        for which in ("first", "repeat"):
            if which == "repeat" and st["depth"] == 1:
                continue
            stride = st["stride"] if which == "first" else 1
            h, w = st["hw"] if which == "first" else (st["hw"][0] // st["stride"], st["hw"][1] // st["stride"])
            mid, g, k = st["mid"], st["groups"], st["kernel"]
            kern, bias = wts(k, k, mid // g, mid), wts.bias(mid)
            methods = ["conv", "dw_multiplier", "dw_multiplier_transposed", "dense"]
            if mid == g:
                methods = ["depthwise", "conv"]
            models = []
            for method in methods:
                real = "dw_multiplier" if method.startswith("dw_multiplier") else method
                pre = method == "dw_multiplier" and mid != g
                models.append((method, _model((h, w, mid), lambda x: lowering.grouped_conv2d(
                    x, kern, bias, groups=g, strides=stride, method=real, input_interleaved=pre))))
            base_macs = pm.count_macs(models[0][1])
            for p in precisions:
                r = time_models([(n, convert(m, p)) for n, m in models], runs, warmup, threads)
                for n, m in models:
                    rows.append({"stage": st["stage"], "which": which, "shape": [h, w, mid],
                                 "groups": g, "kernel": k, "stride": stride, "method": n,
                                 "precision": p, "macs": pm.count_macs(m), "grouped_macs": base_macs,
                                 "p50_ms": round(r[n], 4),
                                 "gflops_per_s": round(2 * base_macs / r[n] / 1e6, 2)})
    return rows


def deconv(precisions, runs, warmup, threads):
    """Depthwise 4x4/2 deconv of 160 channels at the head's three resolutions."""
    wts = pm._Weights(2)  # pylint: disable=protected-access
    rows = []
    for h, w in [(8, 6), (16, 12), (32, 24)]:
        kern, bias = wts(4, 4, 1, 160), wts.bias(160)
        models = [(m, _model((h, w, 160), lambda x: lowering.grouped_conv2d_transpose_s2k4(
            x, kern, bias, groups=160, method=m))) for m in lowering.DECONV_METHODS]
        models.append(("upsample_dw3x3 (not equivalent)", _model((h, w, 160), lambda x: keras.layers.DepthwiseConv2D(
            3, padding="same")(keras.layers.UpSampling2D(2)(x)))))
        for p in precisions:
            r = time_models([(n, convert(m, p)) for n, m in models], runs, warmup, threads)
            for n, m in models:
                rows.append({"input": [h, w, 160], "method": n, "precision": p,
                             "macs": pm.count_macs(m), "p50_ms": round(r[n], 4)})
    return rows


E2E_BUILDERS = {
    # What a straightforward extract() emits: native grouped/depthwise convs (7x7
    # depthwise whole), sub-pixel deconv with the ReLU after the pixel shuffle.
    "mbv3_naive": lambda: pm.build_svipnas_mbv3(
        grouped_method="conv", split_large_depthwise=False, fuse_head_relu=False,
        name="mbv3_naive"),
    # The recommended lowering: 7x7 depthwise split in <= 25-tap bands, head ReLU
    # fused into the phase convs, HARD_SWISH.
    "mbv3_lowered": lambda: pm.build_svipnas_mbv3(name="mbv3_lowered"),
    # Same with the int8-friendly hard-swish.
    "mbv3_lowered_hs8": lambda: pm.build_svipnas_mbv3(hswish="int8", name="mbv3_lowered_hs8"),
    "mbv3_dw_multiplier": lambda: pm.build_svipnas_mbv3(grouped_method="dw_multiplier",
                                                        name="mbv3_dw_multiplier"),
    "mbv3_subpixel_fused": lambda: pm.build_svipnas_mbv3(deconv_method="subpixel_fused",
                                                         name="mbv3_subpixel_fused"),
    "mbv3_upsample_head": lambda: pm.build_svipnas_mbv3(head_deconv="upsample",
                                                        name="mbv3_upsample_head"),
    "mbv3_dense": lambda: pm.build_svipnas_mbv3(grouped_method="dense", name="mbv3_dense"),
    "sbl_res50": pm.build_sbl_res50,
}


def e2e(precisions, runs, warmup, threads, model_dir, variants):
    os.makedirs(model_dir, exist_ok=True)
    paths, macs = [], {}
    canonical = {"mbv3": pm.count_macs(pm.build_svipnas_mbv3(grouped_method="conv")),
                 "sbl": pm.count_macs(pm.build_sbl_res50())}
    for v in variants:
        model = E2E_BUILDERS[v]()
        for p in precisions:
            path = os.path.join(model_dir, f"{v}_{p}.tflite")
            t0 = time.time()
            with open(path, "wb") as f:
                f.write(convert(model, p))
            print(f"converted {path} in {time.time() - t0:.1f}s", file=sys.stderr)
            paths.append(path)
            macs[path] = canonical["sbl" if v.startswith("sbl") else "mbv3"]
    report = litert.run_benchmark(litert.BenchmarkSpec(
        models=paths, threads=threads, runs=runs, warmup=warmup, measure_memory=False, macs=macs))
    return [{k: r.get(k) for k in ("name", "p50_ms", "p90_ms", "fps", "macs", "gflops_per_s", "error")}
            for r in report["results"]]


def main(argv):
    del argv
    out = {"threads": FLAGS.threads, "runs": FLAGS.runs, "machine": litert.machine_info()}
    for section in FLAGS.sections:
        t0 = time.time()
        if section == "components":
            out[section] = components(FLAGS.precisions, FLAGS.runs, FLAGS.warmup, FLAGS.threads)
        elif section == "grouped":
            out[section] = grouped(FLAGS.precisions, FLAGS.runs, FLAGS.warmup, FLAGS.threads)
        elif section == "deconv":
            out[section] = deconv(FLAGS.precisions, FLAGS.runs, FLAGS.warmup, FLAGS.threads)
        elif section == "e2e":
            out[section] = e2e(FLAGS.precisions, FLAGS.runs, FLAGS.warmup, FLAGS.threads,
                               FLAGS.model_dir, FLAGS.e2e_variants)
        else:
            raise app.UsageError(f"unknown section {section!r}")
        print(f"section {section}: {time.time() - t0:.0f}s", file=sys.stderr)
        if FLAGS.out:
            with open(FLAGS.out, "w", encoding="utf-8") as f:
                json.dump(out, f, indent=1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    app.run(main)
