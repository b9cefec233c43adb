r"""Paper Table 4 at small scale: T = 2, 3, 4 searched from ONE temporal super-network.

The paper trains the T-ViPNet super-network with T = 3 non-key frames and then searches
schedules for T = 2, 3 and 4 without retraining, under one average-GFLOPs constraint
(Sec. 4.3, Table 4: 81.7 / 81.7 / 81.4 mAP at 1.0 GFLOPs). This script does the same on a
trained temporal model directory (e.g. the quickstart's), then exports every schedule and
the S-ViPNet alone to float32 TFLite and measures them in ONE interleaved benchmark run:

  python research/table4_propagation_frames.py \
      --temporal_model_dir=runs/quickstart/06_temporal/model \
      --out=runs/table4 --json

For each T it runs `scripts/search.py --mode=temporal --frames=T` (the same library call,
`TemporalSearch`), so a search can be repeated from the command line; the per-T folders
hold schedule.json, candidates.csv and summary.json. Rows:
  - T, the average paper GFLOPs per non-key frame and per frame of the whole cycle (key
    included), the PoseTrack mAP on the non-key frames of the val clips, the effective
    FPS of the cycle (T + 1 frames / cycle time) of the float32 TFLite schedule;
  - the S-ViPNet alone on every frame (mAP on the same non-key frames of the T = 3 clips).
Each T cuts the val tracks into its own clips of T + 1 frames, so the non-key frames
scored differ between rows (more clips for a smaller T); compare mAPs across T with that
in mind.
FPS is measured twice: at the model's own input size (trained weights), and at
`--speed_input_size` (default 256x192, the deployment size) with the same architectures
and random weights - speed does not depend on the weights.
`--nospeed` skips the TFLite export and benchmark (accuracy only; the FPS columns stay
empty). The seeded accuracy study of Table 4 (3 seeds, one temporal training per seed)
is `research/temporal_ablations.py`.
Resumable: each search continues where it stopped (candidates.jsonl); exports are redone.
"""
import dataclasses
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

F = flags.FLAGS
flags.DEFINE_string("temporal_model_dir", None, "Trained temporal run (scripts/train.py --mode=temporal).",
                    required=True)
flags.DEFINE_string("out", None, "Output folder.", required=True)
flags.DEFINE_list("frames", ["2", "3", "4"], "The T values to search.")
flags.DEFINE_float("max_avg_gflops", None, "Average paper GFLOPs per non-key frame (default: half the "
                   "S-ViPNet's, raised to 1.2x the cheapest frame network, as the quickstart).")
flags.DEFINE_integer("num_samples", 12, "Candidates per search.")
flags.DEFINE_string("strategy", "random", "random | evolution (the paper: random).")
flags.DEFINE_integer("seed", 0, "Search seed.")
flags.DEFINE_integer("runs", 30, "Benchmark runs (interleaved).")
flags.DEFINE_string("speed_input_size", "256x192", "Second benchmark resolution (random weights); '' to skip.")
flags.DEFINE_bool("speed", True, "Export every schedule and the S-ViPNet to TFLite and benchmark them.")
flags.DEFINE_bool("json", False, "Print the results as JSON.")


def main(argv):
    del argv
    # pylint: disable=import-outside-toplevel
    import keras
    import numpy as np
    import tensorflow as tf

    import vipnas_tf.models  # noqa: F401  (registers the static layers for keras.saving)
    from vipnas_tf.arch import parse_arch
    from vipnas_tf.evaluation.clips import ClipEvaluator
    from vipnas_tf.export import convert as convert_lib
    from vipnas_tf.export import deploy
    from vipnas_tf.export.schedule_export import convert_schedule
    from vipnas_tf.litert.benchmark import BenchmarkSpec, machine_info, run_benchmark
    from vipnas_tf.pipeline.quickstart import schedule_budget
    from vipnas_tf.search.temporal import TemporalSearch
    from vipnas_tf.temporal.schedule import Schedule
    from vipnas_tf.training.model_dir import read_run_config
    from vipnas_tf.utils import io as io_utils

    t_start = time.time()
    rc = read_run_config(F.temporal_model_dir)
    if rc.get("mode") != "temporal":
        raise app.UsageError(f"--temporal_model_dir={F.temporal_model_dir}: a {rc.get('mode')!r} run, "
                             "not a temporal one")
    key_arch = parse_arch(rc["key_arch"])
    size = tuple(rc["input_size"])
    budget = F.max_avg_gflops or schedule_budget(key_arch, rc["space"], size)
    os.makedirs(F.out, exist_ok=True)

    rows, sched_dirs, speed_dirs = [], [], []
    speed_size = deploy.parse_input_size(F.speed_input_size) if F.speed_input_size and F.speed else None
    key_keras = None
    for t in [int(x) for x in F.frames]:
        folder = os.path.join(F.out, f"T{t}")
        search = TemporalSearch(F.temporal_model_dir, folder, frames=t, max_avg_gflops=budget,
                                strategy=F.strategy, num_samples=F.num_samples, seed=F.seed)
        summary = search.run()
        schedule = Schedule.load(os.path.join(folder, "schedule.json"))
        key_keras = keras.saving.load_model(os.path.join(folder, schedule.extra["keras_models"]["key"]),
                                            compile=False)
        frame_models = [keras.saving.load_model(os.path.join(folder, f), compile=False)
                        for f in schedule.extra["keras_models"]["frames"]]
        if F.speed:
            out_dir = os.path.join(F.out, f"tflite_T{t}")
            convert_schedule(schedule, key_keras, lambda i, fm=frame_models: fm[i], out_dir, "float32",
                             name=f"T{t}", progress=False)
            sched_dirs.append(out_dir)
        if speed_size:
            random_sched = dataclasses.replace(schedule, model_dir=None)
            key_r = deploy.load_static_model(schedule.key_arch, None, input_size=speed_size).model
            factory = deploy.temporal_frame_factory(random_sched, speed_size, seed=F.seed)
            out_r = os.path.join(F.out, f"tflite_T{t}_{speed_size[0]}x{speed_size[1]}")
            convert_schedule(random_sched, key_r, factory, out_r, "float32",
                             name=f"T{t}@{speed_size[0]}x{speed_size[1]}", progress=False)
            speed_dirs.append(out_r)
        key_gflops = summary["key_paper_gflops"]
        rows.append({"T": t, "avg_gflops_nonkey": summary["avg_gflops_nonkey"],
                     "avg_gflops_cycle": summary["avg_gflops"], "map_nonkey": summary["map_nonkey"],
                     "num_candidates": summary["num_candidates"], "schedule": os.path.join(folder, "schedule.json"),
                     "frames": [f["arch"] + f" fuse={f['fusion_op']}@{f['fusion_stage']}"
                                for f in (fr.to_dict() for fr in schedule.frames)]})

    # The S-ViPNet alone: its mAP on the non-key frames of the T = 3 clips, and its speed.
    ev = ClipEvaluator(rc["val_ann"], rc["val_images"], size, 3)
    key_fn = tf.function(lambda x: key_keras(x, training=False))
    key_map = float(ev.evaluate_framewise(lambda x: key_fn(tf.convert_to_tensor(x, tf.float32)))["Total"])
    key_path = os.path.join(F.out, "s_vipnet_float32.tflite")
    models, fps = [key_path], {}
    if F.speed:
        convert_lib.convert(key_keras, "float32", key_path)
    if speed_size:
        key_r = deploy.load_static_model(key_arch.to_string(), None, input_size=speed_size).model
        key_r_path = os.path.join(F.out, f"s_vipnet_float32_{speed_size[0]}x{speed_size[1]}.tflite")
        convert_lib.convert(key_r, "float32", key_r_path)
        models.append(key_r_path)
    if F.speed:
        bench = run_benchmark(BenchmarkSpec(models=models, schedule_dirs=sched_dirs + speed_dirs, threads=1,
                                            runs=F.runs, warmup=3, measure_memory=False))
        io_utils.write_json(os.path.join(F.out, "benchmark.json"), bench)
        fps = {r["name"]: r.get("fps") for r in bench["results"]}
    for r in rows:
        r["fps"] = fps.get(f"T{r['T']}")
        if speed_size:
            r[f"fps_{speed_size[0]}x{speed_size[1]}"] = fps.get(f"T{r['T']}@{speed_size[0]}x{speed_size[1]}")
    alone = {"T": "S-ViPNet alone", "avg_gflops_nonkey": round(key_gflops, 5), "avg_gflops_cycle": round(key_gflops, 5),
             "map_nonkey": round(key_map, 2), "fps": fps.get(os.path.basename(key_path))}
    if speed_size:
        alone[f"fps_{speed_size[0]}x{speed_size[1]}"] = fps.get(os.path.basename(models[1]))
    result = {
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "date": time.strftime("%Y-%m-%d"), "machine": machine_info(),
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__},
        "temporal_model_dir": os.path.abspath(F.temporal_model_dir), "trained_T": rc.get("num_frames"),
        "input_size": list(size), "max_avg_gflops_nonkey": budget, "num_samples": F.num_samples,
        "strategy": F.strategy, "seed": F.seed, "rows": rows + [alone],
        "seconds": round(time.time() - t_start, 1),
    }
    io_utils.write_json(os.path.join(F.out, "results.json"), result)
    lines = ["| T | GFLOPs / non-key frame | GFLOPs / frame (cycle) | mAP (non-key) | FPS "
             + (f"| FPS {speed_size[0]}x{speed_size[1]} (random weights) |" if speed_size else "|"),
             "| --- | --- | --- | --- | --- |" + (" --- |" if speed_size else "")]
    for r in rows + [alone]:
        cells = [r["T"], r["avg_gflops_nonkey"], r["avg_gflops_cycle"], round(r["map_nonkey"], 2), _round(r["fps"])]
        if speed_size:
            cells.append(_round(r.get(f"fps_{speed_size[0]}x{speed_size[1]}")))
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    io_utils.write_text(os.path.join(F.out, "results.md"), "\n".join(lines) + "\n")
    print(json.dumps(result, indent=2) if F.json else "\n".join(lines))


def _round(fps):
    return None if fps is None else round(fps, 1)


if __name__ == "__main__":
    app.run(main)
