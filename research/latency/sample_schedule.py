"""A T-frame schedule keyed by a preset, its frame networks drawn from the key's temporal
space at a GFLOPs target: an architecture-only schedule to measure speed with.

Where no trained temporal model of a space exists (the ResNet-50 space needs a
PoseTrack-trained `s_vipnas_res50` for one), the speed of the paper's schedules can still
be measured: the key network is the preset, and each of the T frame networks is drawn at
random from the temporal space bounded by the key (paper Sec. 3.4.2), fusion op and stage
included, until its paper GFLOPs lie within `--tolerance` of `--frame_fraction` x the
key's. The schedule converts with `tflite/convert.py --schedule=OUT` (random weights:
speed does not depend on them) and runs in `tflite/benchmark.py --schedule_dir`. It is a
GFLOPs allocation drawn at random, not a searched one: its accuracy is not a claim.

  python research/latency/sample_schedule.py --key=s_vipnas_res50 --frames=3 --frame_fraction=0.5 \\
      --out=research/latency/results/schedule_res50_T3_sampled.json
"""
import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import numpy as np  # noqa: E402

from vipnas_tf.arch import arch_cost, resolve_arch  # noqa: E402
from vipnas_tf.arch.cost import parse_input_size  # noqa: E402
from vipnas_tf.temporal.frame_arch import TemporalSpace, frame_cost  # noqa: E402
from vipnas_tf.temporal.schedule import Schedule  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("key", "s_vipnas_res50", "Key-frame architecture (preset, JSON or string).")
flags.DEFINE_integer("frames", 3, "T: non-key frames per key frame.")
flags.DEFINE_float("frame_fraction", 0.5, "Each frame network's paper GFLOPs as a fraction of the key's.")
flags.DEFINE_float("tolerance", 0.05, "Accepted relative deviation from the target GFLOPs.")
flags.DEFINE_string("input_size", "256x192", "HxW the costs are taken at.")
flags.DEFINE_integer("seed", 0, "Seed of the draws.")
flags.DEFINE_integer("max_draws", 200000, "Give up after this many draws per frame.")
flags.DEFINE_string("out", None, "Schedule JSON to write.", required=True)


def draw_frame(tspace, target, tolerance, size, rng, max_draws):
    """A random frame architecture whose paper GFLOPs lie within `tolerance` of `target`."""
    best = None
    for _ in range(max_draws):
        frame = tspace.sample(rng)
        g = float(frame_cost(frame, size).paper_gflops)
        if best is None or abs(g - target) < abs(best[1] - target):
            best = (frame, g)
        if abs(g - target) <= tolerance * target:
            return frame
    raise SystemExit(f"no frame architecture within {tolerance:.0%} of {target:.4f} GFLOPs in {max_draws} draws "
                     f"(closest {best[1]:.4f}); widen --tolerance")


def main(argv):
    del argv
    size = parse_input_size(FLAGS.input_size)
    key = resolve_arch(FLAGS.key)
    tspace = TemporalSpace(key.space, max_arch=key)
    target = FLAGS.frame_fraction * float(arch_cost(key, size).paper_gflops)
    rng = np.random.default_rng(FLAGS.seed)
    frames = tuple(draw_frame(tspace, target, FLAGS.tolerance, size, rng, FLAGS.max_draws)
                   for _ in range(FLAGS.frames))
    schedule = Schedule(space=key.space, input_size=size, key_arch=key, frames=frames,
                        extra={"note": f"frame networks drawn at random at {FLAGS.frame_fraction:g} x the key's "
                                       f"paper GFLOPs (seed {FLAGS.seed}); for speed measurements, not searched",
                               "command": " ".join(sys.argv)})
    schedule.save(FLAGS.out)
    print(f"{FLAGS.out}: key {float(arch_cost(key, size).paper_gflops):.4f} GFLOPs, frames "
          + ", ".join(f"{float(frame_cost(f, size).paper_gflops):.4f} ({f.fusion_op}@{f.fusion_stage})"
                      for f in frames))


if __name__ == "__main__":
    app.run(main)
