"""How latency grows with work: measured p50 against MACs over input sizes, in one plot.

Converts each architecture at each input size (float32 and/or int8, int8 calibrated on
random inputs: speed does not depend on the weights), times every model in one
interleaved run (`vipnas_tf.litert`, `--threads` threads), and plots p50 ms against
MACs (log-log), one line per architecture and precision, each point labelled with its
input size. A straight line of slope 1 means the network's cost is its MACs; a line
that bends up at small sizes means fixed per-layer overheads dominate there.

  python research/latency/cost_vs_size.py --archs=s_vipnas_mbv3 \\
      --sizes=128x96,160x128,256x192,320x256,384x288 --precisions=float32,int8 --threads=1 --runs=50 \\
      --data=SYNTH/coco/annotations/person_keypoints_val.json --image_root=SYNTH/coco/images/val \\
      --out=research/latency/results/cost_vs_size_1thread.json \\
      --plot=research/latency/results/cost_vs_size_1thread.png
"""
import json
import os
import sys
import tempfile

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from tqdm import tqdm  # noqa: E402

from vipnas_tf import litert  # noqa: E402
from vipnas_tf.arch import arch_cost, resolve_arch  # noqa: E402
from vipnas_tf.arch.cost import parse_input_size  # noqa: E402
from vipnas_tf.export.convert_request import ConvertRequest, run_convert  # noqa: E402
from vipnas_tf.utils import io as io_utils  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("archs", ["s_vipnas_mbv3"], "Preset names, arch JSON files or compact strings.")
flags.DEFINE_list("labels", [], "A short label per --archs entry (default: the preset name or arch i).")
flags.DEFINE_list("sizes", ["128x96", "160x128", "256x192", "320x256", "384x288"],
                  "Input sizes HxW (multiples of 32: the networks downsample 32x).")
flags.DEFINE_list("precisions", ["float32", "int8"], "float32 and/or int8.")
flags.DEFINE_integer("runs", 50, "Timed interleaved rounds.")
flags.DEFINE_integer("warmup", 5, "Untimed rounds first.")
flags.DEFINE_integer("threads", 1, "Interpreter threads.")
flags.DEFINE_string("data", "", "int8: COCO keypoints JSON of the calibration crops (e.g. the synthetic val set).")
flags.DEFINE_string("image_root", "", "int8: image folder of --data.")
flags.DEFINE_string("workdir", "", "Where the .tflite files go (default: a temporary folder).")
flags.DEFINE_string("out", "", "Write the JSON report here.")
flags.DEFINE_string("plot", "", "Write the plot (PNG) here.")


def _label(spec, i):
    if FLAGS.labels:
        return FLAGS.labels[i]
    return spec if not spec.endswith(".json") and "_" in spec and " " not in spec and len(spec) < 40 else f"arch{i}"


def plot(rows, path, title):
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
    fig, ax = plt.subplots(figsize=(7, 5))
    for (label, precision) in sorted({(r["label"], r["precision"]) for r in rows}):
        pts = sorted((r for r in rows if r["label"] == label and r["precision"] == precision), key=lambda r: r["macs"])
        x = [r["macs"] / 1e9 for r in pts]
        y = [r["p50_ms"] for r in pts]
        ax.plot(x, y, "o-" if precision == "float32" else "s--", label=f"{label} {precision}")
        for r, xi, yi in zip(pts, x, y):
            ax.annotate(r["input_size"], (xi, yi), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("GMACs (the project's cost model)")
    ax.set_ylabel("p50 latency, ms")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv):
    del argv
    workdir = FLAGS.workdir or tempfile.mkdtemp(prefix="cost_vs_size_")
    jobs = []
    for i, spec in enumerate(FLAGS.archs):
        arch = resolve_arch(spec)
        for size in FLAGS.sizes:
            h, w = parse_input_size(size)
            for precision in FLAGS.precisions:
                path = os.path.join(workdir, f"{_label(spec, i)}_{size}_{precision}.tflite")
                jobs.append(dict(label=_label(spec, i), arch=arch.to_string(), input_size=size, precision=precision,
                                 macs=int(arch_cost(arch, (h, w)).macs), path=path, spec=spec))
    for job in tqdm(jobs, desc="convert", file=sys.stderr):
        if not os.path.isfile(job["path"]):
            run_convert(ConvertRequest(quantization=job["precision"], output=job["path"], arch=job["spec"],
                                       input_size=job["input_size"], progress=False, data=FLAGS.data or None,
                                       image_root=FLAGS.image_root or None, calibration_samples=50))
    report = litert.run_benchmark(litert.BenchmarkSpec(
        models=[j["path"] for j in jobs], schedule_dirs=[], threads=FLAGS.threads, runs=FLAGS.runs,
        warmup=FLAGS.warmup, measure_memory=False, macs={j["path"]: j["macs"] for j in jobs}))
    rows = []
    for job, res in zip(jobs, report["results"]):
        rows.append(dict({k: v for k, v in job.items() if k not in ("path", "spec")},
                         **{k: res.get(k) for k in ("p50_ms", "p90_ms", "min_ms", "fps", "gflops_per_s", "error")
                            if k in res}))
    out = dict(command=" ".join(sys.argv), machine=report["machine"], threads=FLAGS.threads, runs=FLAGS.runs,
               results=rows)
    if FLAGS.out:
        io_utils.write_json(FLAGS.out, out)
    if FLAGS.plot:
        plot(rows, FLAGS.plot, f"latency vs work, {FLAGS.threads} thread(s), "
                               f"{litert.describe_machine(report['machine'])}")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    app.run(main)
