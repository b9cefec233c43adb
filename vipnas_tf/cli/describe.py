"""Describe an architecture: its space, compact string, MACs, params and paper GFLOPs.

Usage:
  python scripts/describe.py --arch=s_vipnas_mbv3 --json
  python scripts/describe.py --arch=runs/search/best_arch.json --input_size=256x192 --json
  python scripts/describe.py --all            # every preset, and each space's max/min
  python scripts/describe.py --schedule=runs/temporal_search/schedule.json --json
      # a video schedule: the key S-ViPNet and every non-key frame network (spatial +
      # fusion module) re-described, the averages, and the check against the budget the
      # search was given (exit 1 when over it)
"""
import json
import sys

from absl import app, flags

from vipnas_tf.arch import cost as cost_lib
from vipnas_tf.arch.describe import describe
from vipnas_tf.arch.presets import list_presets
from vipnas_tf.arch.space import get_space, list_spaces

FLAGS = flags.FLAGS
flags.DEFINE_string("arch", None, "Preset name, architecture JSON file, or compact architecture string.")
flags.DEFINE_string("space", None, "Describe this space's biggest and smallest networks.")
flags.DEFINE_string("input_size", "256x192", "Input HEIGHTxWIDTH (multiples of 32).")
flags.DEFINE_bool("all", False, "Describe every preset and every space's max/min.")
flags.DEFINE_string("schedule", None, "Describe a video schedule.json frame by frame and check its budget.")
flags.DEFINE_bool("json", False, "Print JSON (one object, or a list with --all/--space).")


def _space_rows(name, input_size):
    space = get_space(name)
    rows = []
    for which, arch in (("max", space.max()), ("min", space.min())):
        d = describe(arch, input_size)
        d["which"] = f"{name}.{which}"
        rows.append(d)
    return rows


def _table(rows):
    lines = [f"{'name':<22} {'space':<12} {'paper GFLOPs':>12} {'GMACs':>8} {'params (M)':>10}  in space"]
    for r in rows:
        name = r.get("which") or r.get("preset") or "-"
        lines.append(
            f"{name:<22} {r['space']:<12} {r['paper_gflops']:>12.3f} {r['gmacs']:>8.3f} {r['mparams']:>10.3f}  {r['in_space']}"
        )
    return "\n".join(lines)


def describe_schedule(path):
    """Per-frame costs of a schedule recomputed from its architectures by the cost model
    (`Schedule.describe`, not copied from the file), their averages, and `within_budget`
    against the search's `budget_total_gflops`."""
    from vipnas_tf.temporal.schedule import Schedule  # pylint: disable=import-outside-toplevel

    sched = Schedule.load(path)
    return {"schedule": path, "input_size": list(sched.input_size), "num_frames": sched.num_frames,
            **sched.describe()}


def _schedule_table(d):
    lines = [f"{'frame':<6} {'fusion':<10} {'paper GFLOPs':>12} {'of which fusion':>15}  arch",
             f"{'key':<6} {'-':<10} {d['key']['paper_gflops']:>12.4f} {'-':>15}  {d['key']['arch']}"]
    for i, f in enumerate(d["frames"], 1):
        lines.append(f"{i:<6} {f['fusion_op'] + '@' + str(f['fusion_stage']):<10} {f['paper_gflops']:>12.4f} "
                     f"{f['fusion_paper_gflops']:>15.4f}  {f['arch']}")
    lines.append(f"average per frame {d['avg_gflops']:.4f}, per non-key frame {d['avg_gflops_nonkey']:.4f}")
    if "budget_total_gflops" in d:
        verdict = "within" if d["within_budget"] else "OVER"
        lines.append(f"non-key total {d['total_gflops_nonkey']:.4f} vs budget {d['budget_total_gflops']:.4f}: {verdict}")
    return "\n".join(lines)


def main(argv):
    del argv
    try:
        input_size = cost_lib.parse_input_size(FLAGS.input_size)
        if FLAGS.schedule:
            d = describe_schedule(FLAGS.schedule)
            print(json.dumps(d) if FLAGS.json else _schedule_table(d))
            return 0 if d.get("within_budget", True) else 1
        if FLAGS.all:
            rows = [describe(p, input_size) for p in list_presets()]
            for s in list_spaces():
                rows += _space_rows(s, input_size)
        elif FLAGS.space:
            rows = _space_rows(FLAGS.space, input_size)
        elif FLAGS.arch:
            result = describe(FLAGS.arch, input_size)
            if FLAGS.json:
                print(json.dumps(result))
            else:
                print(_table([result]))
                print(result["arch"])
                if "outside_space" in result:
                    print(f"outside the search space: {result['outside_space']}")
            return 0
        else:
            raise ValueError("give --arch=NAME_OR_JSON, --space=NAME, --schedule=schedule.json or --all")
    except (ValueError, FileNotFoundError) as e:
        print(f"describe.py: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(rows) if FLAGS.json else _table(rows))
    return 0


if __name__ == "__main__":
    app.run(main)
