"""Build the per-unit TFLite latency tables of search spaces (XNNPACK, 1 or more threads).

Every unit the space can produce at the input size (stem, each block choice, head
deconvs, final conv) is converted to a one-unit .tflite (lowered like the deployed
network) and timed with the LiteRT interpreter, interleaved in chunks with a
near-empty model whose time is subtracted; then --calibration_archs whole networks
fit the table's scale (see LatencyModel.calibrate). The table is saved after every
chunk; a re-run with the same --out resumes (--noresume starts over; --recalibrate
re-fits the scale of a finished table; a table from another CPU model, CPU flags or
LiteRT version is started over).

--space, --input_size, --quantization and --threads take comma-separated lists: one
table per combination, at --out with {space}, {size}, {quantization}, {threads} and
{cpu} (the CPU flags hash) filled in. Spaces: the mobilenetv3 and resnet families
(mobilenetv3, mobilenetv3_quick, mobilenetv3_dense, resnet50, resnet50_dense: every
unit of the space) and hrnet_w32 (the units of --sample_archs architectures; a search
measures the others as it meets them).

Usage:
  python scripts/build_latency_table.py --space=mobilenetv3 --input_size=128x96 \
      --quantization=float32 --out=runs/latency/mbv3_128x96_float32.json --json
  python scripts/build_latency_table.py --space=mobilenetv3_dense,resnet50_dense \
      --input_size=256x192,128x96 --quantization=float32,int8 --threads=1,2 \
      --out='runs/latency/{cpu}/{space}_{size}_{quantization}_{threads}t.json' --json
"""
import itertools
import json
import os
import sys
import time

from absl import app, flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FLAGS = flags.FLAGS
flags.DEFINE_list("space", ["mobilenetv3"], "Search space name(s).")
flags.DEFINE_list("input_size", ["256x192"], "Input HEIGHTxWIDTH (multiples of 32), one or more.")
flags.DEFINE_list("quantization", ["float32"], "TFLite precision(s): float32, int8.")
flags.DEFINE_list("threads", ["1"], "Interpreter thread count(s).")
flags.DEFINE_string("out", None, "Where to write the table JSON; a template with {space}, {size}, {quantization}, "
                    "{threads}, {cpu} when several tables are built.")
flags.DEFINE_integer("runs", 30, "Timed interleaved rounds per chunk.")
flags.DEFINE_integer("warmup", 3, "Untimed rounds per chunk.")
flags.DEFINE_integer("chunk_size", 24, "Units timed together (interleaved) per chunk.")
flags.DEFINE_enum("clock", "auto", ["auto", "cpu", "wall"],
                  "cpu: the invoke's thread CPU time (robust on a shared machine; 1 thread only); wall: wall "
                  "time; auto: cpu for 1 thread, wall for more.")
flags.DEFINE_integer("sample_archs", 0, "0: every unit of the space; N: only the units of N random architectures "
                     "(seed 0) and the space's smallest and biggest (a partial table, filled lazily by searches).")
flags.DEFINE_integer("calibration_archs", 8, "Whole networks measured to fit the table's scale (0: none).")
flags.DEFINE_bool("recalibrate", False, "Re-fit the scale of an existing table.")
flags.DEFINE_bool("resume", True, "Keep the entries of an existing table at --out.")
flags.DEFINE_bool("json", False, "Print a JSON summary (a list when several tables are built).")
flags.mark_flag_as_required("out")


def _combinations():
    """[(space, (H, W), quantization, threads)] of the flags; SystemExit naming a bad value."""
    from vipnas_tf.arch import cost as cost_lib  # pylint: disable=import-outside-toplevel
    from vipnas_tf.arch.space import get_space  # pylint: disable=import-outside-toplevel
    from vipnas_tf.search import latency_units  # pylint: disable=import-outside-toplevel

    try:
        spaces = [get_space(s) for s in FLAGS.space]
        sizes = [cost_lib.parse_input_size(s) for s in FLAGS.input_size]
    except ValueError as e:
        sys.exit(f"error: {e}")
    for space in spaces:
        if space.family not in latency_units.FAMILIES:
            sys.exit(f"error: --space={space.name}: the latency table supports the "
                     f"{', '.join(latency_units.FAMILIES)} families, not {space.family!r}")
        if space.family not in latency_units.ENUMERATED_FAMILIES and FLAGS.sample_archs < 1:
            sys.exit(f"error: --space={space.name}: the units of a {space.family} space are not enumerated; give "
                     "--sample_archs=N (the units of N random architectures and the smallest and biggest)")
    for q in FLAGS.quantization:
        if q not in ("float32", "int8"):
            sys.exit(f"error: --quantization={q!r}: expected float32 or int8")
    threads = []
    for t in FLAGS.threads:
        if not t.isdigit() or int(t) < 1:
            sys.exit(f"error: --threads={t!r}: expected positive integers")
        threads.append(int(t))
    combos = list(itertools.product(spaces, sizes, FLAGS.quantization, threads))
    if len(combos) > 1 and "{" not in FLAGS.out:
        sys.exit(f"error: --out={FLAGS.out!r} names one file but {len(combos)} tables are asked for: use "
                 "{space}, {size}, {quantization}, {threads} in it")
    return combos


def main(argv):
    del argv
    from absl import logging  # pylint: disable=import-outside-toplevel
    logging.set_verbosity(logging.ERROR)  # the converter logs every conversion
    from vipnas_tf.search import latency_budget  # pylint: disable=import-outside-toplevel
    from vipnas_tf.litert import cpu_flags_hash  # pylint: disable=import-outside-toplevel
    from vipnas_tf.search.latency import LatencyModel  # pylint: disable=import-outside-toplevel

    import numpy as np  # pylint: disable=import-outside-toplevel
    from vipnas_tf.search import latency_units  # pylint: disable=import-outside-toplevel

    summaries = []
    for space, input_size, quantization, threads in _combinations():
        units = None
        if FLAGS.sample_archs > 0:
            archs = [space.min(), space.max(), *space.sample(np.random.default_rng(0), FLAGS.sample_archs)]
            units = [u for a in archs for u in latency_units.arch_units(a, input_size, quantization)]
        out = FLAGS.out.format(space=space.name, size=f"{input_size[0]}x{input_size[1]}", quantization=quantization,
                               threads=threads, cpu=cpu_flags_hash())
        clock = FLAGS.clock if FLAGS.clock != "auto" else ("cpu" if threads == 1 else "wall")
        if clock == "cpu" and threads != 1:
            sys.exit(f"error: --clock=cpu measures the calling thread only: use it with --threads=1, not {threads}")
        t0 = time.time()
        model = LatencyModel.build(space, input_size, quantization, out, progress=True, runs=FLAGS.runs,
                                   warmup=FLAGS.warmup, threads=threads, chunk_size=FLAGS.chunk_size,
                                   resume=FLAGS.resume, clock=clock, units=units,
                                   calibration_archs=FLAGS.calibration_archs,
                                   recalibrate=FLAGS.recalibrate)
        summaries.append({
            "out": os.path.abspath(out), "space": space.name, "input_size": list(input_size),
            "quantization": quantization, "threads": threads, "clock": model.meta.get("clock"),
            "provenance": latency_budget.table_provenance(model), "entries": len(model.entries),
            "space_units": model.meta.get("space_units"), "complete": model.meta.get("complete"),
            "overhead_ms": round(model.overhead_ms, 4), "scale": model.scale,
            "build_seconds_total": model.meta.get("build_seconds"),
            "seconds_this_run": round(time.time() - t0, 1),
            "max_arch_ms": round(model.predict_ms(space.max()), 3),
            "min_arch_ms": round(model.predict_ms(space.min()), 3),
        })
    if FLAGS.json:
        print(json.dumps(summaries[0] if len(summaries) == 1 else summaries, indent=2))
    else:
        for summary in summaries:
            for k, v in summary.items():
                print(f"{k}: {v}")


if __name__ == "__main__":
    app.run(main)
