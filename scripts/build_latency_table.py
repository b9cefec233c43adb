"""Build the per-unit TFLite latency table of a search space (1 thread, XNNPACK).

Every unit the space can produce at the input size (stem, each block choice, head
deconvs, final conv) is converted to a one-unit .tflite (lowered like the deployed
network) and timed with the LiteRT interpreter, interleaved in chunks with a
near-empty model whose time is subtracted; then --calibration_archs whole networks
fit the table's scale (see LatencyModel.calibrate). The table is saved after every
chunk; a re-run with the same --out resumes (--noresume starts over; --recalibrate
re-fits the scale of a finished table).

Usage:
  python scripts/build_latency_table.py --space=mobilenetv3 --input_size=128x96 \
      --quantization=float32 --out=runs/latency/mbv3_128x96_float32.json --json
"""
import json
import os
import sys
import time

from absl import app, flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FLAGS = flags.FLAGS
flags.DEFINE_string("space", "mobilenetv3", "Search space name.")
flags.DEFINE_string("input_size", "256x192", "Input HEIGHTxWIDTH (multiples of 32).")
flags.DEFINE_enum("quantization", "float32", ["float32", "int8"], "TFLite precision.")
flags.DEFINE_string("out", None, "Where to write the table JSON.")
flags.DEFINE_integer("runs", 30, "Timed interleaved rounds per chunk.")
flags.DEFINE_integer("warmup", 3, "Untimed rounds per chunk.")
flags.DEFINE_integer("chunk_size", 24, "Units timed together (interleaved) per chunk.")
flags.DEFINE_integer("threads", 1, "Interpreter threads.")
flags.DEFINE_enum("clock", "cpu", ["cpu", "wall"],
                  "cpu: the invoke's thread CPU time (robust on the shared machine); wall: wall time.")
flags.DEFINE_integer("calibration_archs", 8, "Whole networks measured to fit the table's scale (0: none).")
flags.DEFINE_bool("recalibrate", False, "Re-fit the scale of an existing table.")
flags.DEFINE_bool("resume", True, "Keep the entries of an existing table at --out.")
flags.DEFINE_bool("json", False, "Print a JSON summary.")
flags.mark_flag_as_required("out")


def main(argv):
    del argv
    from absl import logging  # pylint: disable=import-outside-toplevel
    logging.set_verbosity(logging.ERROR)  # the converter logs every conversion
    from vipnas_tf.arch import cost as cost_lib  # pylint: disable=import-outside-toplevel
    from vipnas_tf.arch.space import get_space  # pylint: disable=import-outside-toplevel
    from vipnas_tf.search.latency import LatencyModel  # pylint: disable=import-outside-toplevel

    try:
        input_size = cost_lib.parse_input_size(FLAGS.input_size)
        space = get_space(FLAGS.space)
    except ValueError as e:
        sys.exit(f"error: {e}")
    t0 = time.time()
    model = LatencyModel.build(space, input_size, FLAGS.quantization, FLAGS.out, progress=True,
                               runs=FLAGS.runs, warmup=FLAGS.warmup, threads=FLAGS.threads,
                               chunk_size=FLAGS.chunk_size, resume=FLAGS.resume, clock=FLAGS.clock,
                               calibration_archs=FLAGS.calibration_archs, recalibrate=FLAGS.recalibrate)
    summary = {
        "out": os.path.abspath(FLAGS.out), "space": space.name, "input_size": list(input_size),
        "quantization": FLAGS.quantization, "clock": model.meta.get("clock"), "entries": len(model.entries),
        "space_units": model.meta.get("space_units"), "complete": model.meta.get("complete"),
        "overhead_ms": round(model.overhead_ms, 4), "scale": model.scale,
        "build_seconds_total": model.meta.get("build_seconds"),
        "seconds_this_run": round(time.time() - t0, 1),
        "max_arch_ms": round(model.predict_ms(space.max()), 3),
        "min_arch_ms": round(model.predict_ms(space.min()), 3),
    }
    if FLAGS.json:
        print(json.dumps(summary, indent=2))
    else:
        for k, v in summary.items():
            print(f"{k}: {v}")


if __name__ == "__main__":
    app.run(main)
