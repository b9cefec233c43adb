r"""Search quality: evolution against random sampling at the same number of evaluations.

On one trained super-network and one budget, for each seed: a random search and an
evolutionary search of `--num_samples` candidates each (the project's `SpatialSearch`,
as `scripts/search.py` runs it), and a larger random sample of `--reference_samples`
candidates (the random search continued in its own folder: its first candidates are the
random search's, reused) whose APs stand for the distribution of the budget's
architectures. Per seed: each strategy's best AP and its percentile within the larger
sample; over seeds: mean +- std, and how often evolution's best >= random's. Every AP
is the super-network's after BN re-calibration on the seed's calibration batches, so
within one seed the same architecture scores the same in every search.

  python research/search_quality.py --supernet_dir=runs/quickstart/02_supernet/model \
      --out=runs/search_quality --seeds=0,1,2 --num_samples=20 --reference_samples=60 \
      --max_gflops=0.0368 --budget_floor=0.684 --json

Resumable: each search continues from its candidates.jsonl. Results: OUT/search_quality.json
(command, date, versions, CPU, wall times).
"""
import datetime
import json
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

F = flags.FLAGS
flags.DEFINE_string("supernet_dir", None, "Trained super-network (scripts/train.py --mode=supernet).", required=True)
flags.DEFINE_string("out", None, "Output folder.", required=True)
flags.DEFINE_list("seeds", ["0", "1", "2"], "Search seeds.")
flags.DEFINE_integer("num_samples", 20, "Evaluations per strategy.")
flags.DEFINE_integer("reference_samples", 60, "Evaluations of the larger random sample.")
flags.DEFINE_integer("population", 4, "Evolution: candidates per generation.")
flags.DEFINE_float("max_gflops", 0.0368, "Budget: paper GFLOPs (the quickstart's).")
flags.DEFINE_float("budget_floor", 0.684, "Budget band's lower end as a fraction (the quickstart's).")
flags.DEFINE_integer("bn_calib_batches", 4, "BN re-calibration batches per candidate.")
flags.DEFINE_bool("json", False, "Print the results as JSON.")


def percentile(value, sample):
    """Share of `sample` strictly below `value`, plus half the ties (0..1)."""
    below = sum(1 for v in sample if v < value)
    ties = sum(1 for v in sample if v == value)
    return (below + 0.5 * ties) / len(sample)


def main(argv):
    del argv
    # pylint: disable=import-outside-toplevel
    import keras
    import numpy as np
    import tensorflow as tf

    from vipnas_tf import litert
    from vipnas_tf.search.spatial import Budget, SpatialSearch
    from vipnas_tf.utils import io as io_utils

    t_start = time.time()
    budget = Budget("paper_gflops", F.max_gflops, F.budget_floor)

    def search(strategy, seed, n, folder):
        s = SpatialSearch(F.supernet_dir, os.path.join(F.out, folder), budget, strategy=strategy, num_samples=n,
                          population=F.population, seed=seed, bn_calib_batches=F.bn_calib_batches,
                          evaluate_presets=False, progress=True)
        t0 = time.time()
        summary = s.run()
        aps = [r["ap"] for r in s.rows]
        return {"best_ap": summary["ap"], "best_arch": summary["arch"], "aps": aps,
                "distinct": len({r["arch"] for r in s.rows}), "seconds": round(time.time() - t0, 1),
                "new_evaluations": summary["new_evaluations"]}

    per_seed = []
    for seed in (int(s) for s in F.seeds):
        rnd = search("random", seed, F.num_samples, f"seed{seed}_random")
        evo = search("evolution", seed, F.num_samples, f"seed{seed}_evolution")
        ref = search("random", seed, F.reference_samples, f"seed{seed}_random")  # continues the random run
        row = {"seed": seed, "random": rnd, "evolution": evo,
               "reference": {k: ref[k] for k in ("best_ap", "best_arch", "seconds", "new_evaluations")},
               "reference_aps": ref["aps"]}
        for name in ("random", "evolution"):
            row[name]["percentile_in_reference"] = round(percentile(row[name]["best_ap"], ref["aps"]), 4)
            row[name]["gap_to_reference_best"] = round(ref["best_ap"] - row[name]["best_ap"], 6)
        per_seed.append(row)
        print(f"seed {seed}: random best {rnd['best_ap']:.4f}, evolution best {evo['best_ap']:.4f}, "
              f"best of {F.reference_samples} random {ref['best_ap']:.4f}", file=sys.stderr)

    def stats(key):
        v = np.array([r[key[0]][key[1]] for r in per_seed], float)
        return {"mean": round(float(v.mean()), 5), "std": round(float(v.std(ddof=1)) if len(v) > 1 else 0.0, 5),
                "values": [round(float(x), 6) for x in v]}

    result = {
        "command": " ".join(sys.argv), "date": datetime.date.today().isoformat(),
        "machine": litert.machine_info(), "python": platform.python_version(), "tensorflow": tf.__version__,
        "keras": keras.__version__, "numpy": np.__version__,
        "supernet": os.path.abspath(F.supernet_dir), "budget": budget.to_dict(),
        "num_samples": F.num_samples, "reference_samples": F.reference_samples,
        "summary": {
            "random_best_ap": stats(("random", "best_ap")),
            "evolution_best_ap": stats(("evolution", "best_ap")),
            "reference_best_ap": stats(("reference", "best_ap")),
            "random_percentile": stats(("random", "percentile_in_reference")),
            "evolution_percentile": stats(("evolution", "percentile_in_reference")),
            "evolution_at_least_random": sum(r["evolution"]["best_ap"] >= r["random"]["best_ap"] for r in per_seed),
            "seeds": len(per_seed),
        },
        "per_seed": per_seed, "seconds": round(time.time() - t_start, 1),
    }
    io_utils.write_json(os.path.join(F.out, "search_quality.json"), result)
    if F.json:
        print(json.dumps(result["summary"], indent=1))


if __name__ == "__main__":
    app.run(main)
