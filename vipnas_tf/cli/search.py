r"""Searches an S-ViPNet (spatial) or a video schedule (temporal) under a budget.

Spatial (paper Sec. 3.4.1; budget in paper GFLOPs, MACs or predicted TFLite latency):
  vipnas-search --model_dir=SUPERNET_DIR --out=DIR --max_gflops=0.15 \
      [--strategy=random|evolution --num_samples=N --seed=S] --json
  vipnas-search --model_dir=SUPERNET_DIR --out=DIR --max_ms=15 --quantization=int8 \
      --threads=1 --latency_table=TABLE.json [--compare_run=GFLOPS_SEARCH_DIR] --json
  vipnas-search --flagfile=configs/quickstart_search.flags --model_dir=... --out=...

Temporal (paper Sec. 3.4.3, eq. 3; or a latency budget per video frame):
  vipnas-search --mode=temporal --model_dir=TEMPORAL_DIR --frames=3 \
      --max_avg_gflops=X --out=DIR --json
  vipnas-search --mode=temporal --model_dir=TEMPORAL_DIR --frames=3 \
      --max_ms_per_frame=8 --quantization=int8 --latency_table=TABLE.json --out=DIR --json

Outputs (spatial): DIR/best_arch.json, candidates.csv, candidates.jsonl (resume log),
pareto.png, summary.json, history.jsonl (each launch's flags). A restarted search skips the
candidates already evaluated (on the same checkpoint with the same evaluation settings).

Spatial search over several processes or machines sharing DIR (random strategy):
  vipnas-search --model_dir=... --out=DIR --max_gflops=0.15 --shard=0/2 &   # machine A
  vipnas-search --model_dir=... --out=DIR --max_gflops=0.15 --shard=1/2 &   # machine B
  # the last shard to finish writes the outputs; or, once both are done:
  vipnas-search --model_dir=... --out=DIR --max_gflops=0.15
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from vipnas_tf.arch.cost import parse_input_size  # noqa: E402
from vipnas_tf.cli.history import record_launch  # noqa: E402
from vipnas_tf.search.latency_pareto import compare_runs  # noqa: E402
from vipnas_tf.search.spatial import SearchError, SpatialSearchConfig, run_spatial_search  # noqa: E402
from vipnas_tf.search.temporal import TemporalSearchConfig, run_temporal_search  # noqa: E402
from vipnas_tf.training.model_dir import ModelDirError  # noqa: E402
from vipnas_tf.training.run_history import RunHistoryError  # noqa: E402

F = flags.FLAGS
flags.DEFINE_enum("mode", "spatial", ["spatial", "temporal"], "What to search.")
flags.DEFINE_string("model_dir", None, "Trained super-network (spatial) or temporal model dir.", required=True)
flags.DEFINE_string("out", None, "Output folder.", required=True)
flags.DEFINE_float("max_gflops", None, "Budget: paper GFLOPs (MACs / 2^30) at the model's input size.")
flags.DEFINE_float("max_macs", None, "Budget: multiply-accumulates.")
flags.DEFINE_float("max_latency_ms", None, "Budget: predicted TFLite latency (1 thread, XNNPACK), ms.")
flags.DEFINE_float("budget_floor", 0.0, "Search the band [budget_floor x budget, budget] (a fraction in [0, 1); "
                   "0: the paper's plain upper bound).")
flags.DEFINE_string("latency_table", "", "Latency lookup table JSON (scripts/build_latency_table.py); "
                    "built lazily at this path when missing. Needed for --max_latency_ms.")
flags.DEFINE_enum("latency_quantization", "float32", ["float32", "int8"], "Latency table precision.")
flags.DEFINE_alias("max_ms", "max_latency_ms")
flags.DEFINE_alias("quantization", "latency_quantization")
flags.DEFINE_integer("threads", 1, "Interpreter threads the latency table must be measured with.")
flags.DEFINE_string("latency_input_size", "", "HxW the latency table and budget are at, the size the "
                    "network will be deployed at (default: the super-network's input size), e.g. a 64x64 "
                    "super-network searched under a 256x192 latency budget.")
flags.DEFINE_string("compare_run", "", "Spatial, latency budget: a GFLOPs-budget search of the same super-network; "
                    "times both runs' Pareto fronts in one run (pareto_measured.png / .json in --out).")
flags.DEFINE_bool("remeasure_latency", False, "Re-measure a latency table of another CPU, LiteRT version, input "
                  "size or thread count (the old one is kept beside it) instead of refusing it.")
flags.DEFINE_enum("strategy", "random", ["random", "evolution"], "Search strategy.")
flags.DEFINE_integer("num_samples", 50, "Candidates evaluated (paper: 500).")
flags.DEFINE_integer("population", 0, "Evolution: candidates per generation (0: num_samples / 5).")
flags.DEFINE_integer("parents", 0, "Evolution: best candidates that breed (0: population / 2).")
flags.DEFINE_float("mutation_prob", 0.2, "Evolution: per-choice mutation probability.")
flags.DEFINE_bool("seed_smallest", True, "Evolution: start the first generation with the space's smallest "
                  "architecture (the sandwich rule trains it every step); --noseed_smallest: all random.")
flags.DEFINE_integer("seed", 0, "Seed (same seed, same result).")
flags.DEFINE_integer("bn_calib_batches", 8, "BN re-calibration batches per candidate.")
flags.DEFINE_integer("eval_max_persons", 0, "Validation subset (0: the run's setting).")
flags.DEFINE_string("space", "", "Expected space of the super-network (error if different).")
flags.DEFINE_string("shard", "0/1", "Spatial, random strategy: i/n evaluates the proposals of index i modulo n "
                    "(n processes sharing --out append to one candidates.jsonl).")
# temporal
flags.DEFINE_integer("frames", 3, "Temporal: T non-key frames per key frame.")
flags.DEFINE_float("max_avg_gflops", None, "Temporal: budget on the average GFLOPs per non-key frame.")
flags.DEFINE_float("max_total_gflops", None, "Temporal: budget on the summed GFLOPs of the T frames.")
flags.DEFINE_float("max_ms_per_frame", None, "Temporal: budget on the predicted latency per video frame, "
                   "(key + T frames) / (T + 1) in ms, from --latency_table (--quantization, --threads).")
flags.DEFINE_bool("shared_arch", False, "Temporal: one architecture for all T frames (Fig. 6(b) baseline).")
flags.DEFINE_bool("progress", True, "Progress bar.")
flags.DEFINE_bool("json", False, "Print the summary as JSON.")


def _latency_input_size():
    if not F.latency_input_size:
        return None
    try:
        return parse_input_size(F.latency_input_size)
    except ValueError as e:
        raise app.UsageError(f"--latency_input_size: {e}") from None


def run_spatial():
    config = SpatialSearchConfig(
        model_dir=F.model_dir, out_dir=F.out, max_gflops=F.max_gflops, max_macs=F.max_macs,
        max_latency_ms=F.max_latency_ms, budget_floor=F.budget_floor, latency_table=F.latency_table,
        latency_quantization=F.latency_quantization, latency_threads=F.threads,
        latency_input_size=_latency_input_size(),
        remeasure_latency=F.remeasure_latency, strategy=F.strategy, num_samples=F.num_samples,
        population=F.population or None, parents=F.parents or None, mutation_prob=F.mutation_prob,
        seed_smallest=F.seed_smallest, seed=F.seed, bn_calib_batches=F.bn_calib_batches,
        eval_max_persons=F.eval_max_persons, expect_space=F.space or None, progress=F.progress, shard=F.shard)
    summary = run_spatial_search(config)
    if F.compare_run and summary.get("complete", True):
        compared = compare_runs(F.out, F.compare_run, summary["latency_input_size"], F.latency_quantization,
                                F.threads)
        summary["pareto_measured"] = {k: compared[k] for k in ("png", "json")}
    return summary


def run_temporal():
    config = TemporalSearchConfig(
        model_dir=F.model_dir, out_dir=F.out, frames=F.frames, max_total_gflops=F.max_total_gflops,
        max_avg_gflops=F.max_avg_gflops, strategy=F.strategy, num_samples=F.num_samples,
        population=F.population or None, seed=F.seed, bn_calib_batches=F.bn_calib_batches,
        progress=F.progress, shared=F.shared_arch, max_ms_per_frame=F.max_ms_per_frame,
        latency_table=F.latency_table, latency_quantization=F.latency_quantization, latency_threads=F.threads,
        remeasure_latency=F.remeasure_latency, latency_input_size=_latency_input_size())
    return run_temporal_search(config)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
        record_launch(F.out, "search", F, path_flags=("model_dir", "out", "latency_table"))  # DIR/history.jsonl
        summary = run_spatial() if F.mode == "spatial" else run_temporal()
    except (SearchError, ModelDirError, RunHistoryError) as e:
        sys.exit(f"search.py: {e}")
    if F.json:
        print(json.dumps(summary, indent=2))
    else:
        if summary.get("complete") is False:
            print(f"shard {summary['shard']}: {summary['new_evaluations']} evaluated, {summary['pending']} pending "
                  f"on other shards -> {summary['candidates']}")
        else:
            print(f"best: {summary.get('arch')}  AP {summary.get('ap')}  -> {F.out}")
