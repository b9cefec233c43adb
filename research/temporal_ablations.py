r"""The paper's temporal ablations at small scale on the synthetic video data.

  python research/temporal_ablations.py --key_model_dir=runs/quickstart/05_posetrack_finetune/model \
      --synthetic_data=runs/quickstart/01_synthetic_data --out=runs/ablations --json

- Fig. 6(a): the same per-frame architectures with and without the fusion module: two
  temporal models trained identically except for the fusion module (this script's
  --train_steps, --batch_size, --learning_rate, --seed; the train.py equivalents are
  configs/quickstart_temporal.flags and configs/quickstart_temporal_nofusion.flags),
  scored on the same frame architectures.
- Fig. 6(b): per-frame architectures against one shared architecture for all frames,
  same budget and number of evaluated candidates (allocation search on the fusion model).
- Table 3 (in spirit): the T-ViPNAS schedule against the S-ViPNet run on every frame,
  with their average GFLOPs per frame.
Every number is PoseTrack mAP on the non-key frames of the synthetic val clips.
Resumable: trainings and searches continue where they stopped. Results: OUT/results.json
and OUT/results.md (measured tables in research/README.md, "Temporal ablations at small scale").
"""
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

F = flags.FLAGS
flags.DEFINE_string("key_model_dir", None, "S-ViPNet fine-tuned on PoseTrack18 (a stand-alone run of keypoint "
                    "layout posetrack18, e.g. the quickstart's 05_posetrack_finetune/model).", required=True)
flags.DEFINE_string("synthetic_data", None, "Synthetic data folder (with posetrack/).", required=True)
flags.DEFINE_string("out", None, "Output folder.", required=True)
flags.DEFINE_integer("frames", 3, "T.")
flags.DEFINE_integer("train_steps", 60, "Temporal training steps (both models).")
flags.DEFINE_integer("batch_size", 8, "Clips per batch.")
flags.DEFINE_float("learning_rate", 1.25e-3, "Learning rate.")
flags.DEFINE_float("budget_fraction", 0.5, "Average non-key budget as a fraction of the S-ViPNet's GFLOPs "
                   "(raised to 1.2x the cheapest frame network when that is more).")
flags.DEFINE_integer("num_samples", 6, "Candidates per allocation search.")
flags.DEFINE_integer("seed", 0, "Seed.")
flags.DEFINE_bool("json", False, "Print JSON.")


def main(argv):
    del argv
    from vipnas_tf.arch import arch_cost
    from vipnas_tf.arch.arch import parse_arch
    from vipnas_tf.pipeline.quickstart import schedule_budget
    from vipnas_tf.search.temporal import TemporalSearch
    from vipnas_tf.temporal.frame_arch import FrameArch
    from vipnas_tf.training import TrainConfig, Trainer
    from vipnas_tf.training.model_dir import load_model, read_run_config
    from vipnas_tf.utils.io import write_json, write_text

    key_cfg = read_run_config(F.key_model_dir)
    pt = os.path.join(F.synthetic_data, "posetrack")
    data = dict(train_ann=os.path.join(pt, "annotations", "train"), train_images=pt,
                val_ann=os.path.join(pt, "annotations", "val"), val_images=pt)
    dirs = {}
    for name, fusion in (("fusion", True), ("nofusion", False)):
        cfg = TrainConfig(mode="temporal", space=key_cfg["space"], input_size=tuple(key_cfg["input_size"]),
                          key_model_dir=F.key_model_dir, num_frames=F.frames, batch_size=F.batch_size,
                          train_steps=F.train_steps, learning_rate=F.learning_rate, lr_schedule="cosine",
                          num_random=1, checkpoint_every=30, log_every=10, eval_every=-1, seed=F.seed,
                          fusion=fusion, **data)
        dirs[name] = os.path.join(F.out, name)
        Trainer(cfg, dirs[name], progress=True, log_fn=print).train()
    key_arch = parse_arch(key_cfg["arch"])
    input_size = tuple(key_cfg["input_size"])
    key_gflops = float(arch_cost(key_arch, input_size).paper_gflops)
    budget = schedule_budget(key_arch, key_cfg["space"], input_size, F.budget_fraction)
    searches = {}
    for name, shared in (("per_frame", False), ("shared", True)):
        s = TemporalSearch(dirs["fusion"], os.path.join(F.out, f"search_{name}"), frames=F.frames,
                           max_avg_gflops=budget, num_samples=F.num_samples, seed=F.seed, shared=shared)
        searches[name] = s.run()
    best = [FrameArch.from_dict(f) for f in searches["per_frame"]["frames"]]
    stage = None
    rows = {}
    for name in ("fusion", "nofusion"):
        model, rc = load_model(dirs[name], expect_mode="temporal")
        search = TemporalSearch(dirs[name], os.path.join(F.out, f"eval_{name}"), frames=F.frames,
                                max_avg_gflops=budget, num_samples=1, seed=F.seed)
        ev = search.schedule_evaluator()
        stage = len(ev.tnet.temporal_space.fusion_stages)
        all_max = [FrameArch(ev.tnet.temporal_space.max_arch, "add", stage)] * F.frames
        rows[name] = {"searched_schedule": float(ev.evaluate(best)["Total"]),
                      "all_max_add_last_stage": float(ev.evaluate(all_max)["Total"])}
        if name == "fusion":
            per_frame_key = ev.clip_evaluator.evaluate_framewise(
                lambda x: model.key_heatmaps(x))["Total"]
            rows["s_vipnet_every_frame"] = float(per_frame_key)
    result = {
        "fig6a_fusion_vs_nofusion": {"fusion": rows["fusion"], "no_fusion": rows["nofusion"]},
        "fig6b_per_frame_vs_shared": {"per_frame_map": searches["per_frame"]["map_nonkey"],
                                      "shared_map": searches["shared"]["map_nonkey"],
                                      "budget_avg_gflops": budget, "candidates_each": F.num_samples},
        "table3": {"t_vipnas_schedule_map": rows["fusion"]["searched_schedule"],
                   "t_vipnas_avg_gflops": searches["per_frame"]["avg_gflops"],
                   "s_vipnet_every_frame_map": rows["s_vipnet_every_frame"], "s_vipnet_gflops": key_gflops},
        "train_steps": F.train_steps, "frames": F.frames, "input_size": list(input_size),
    }
    write_json(os.path.join(F.out, "results.json"), result)
    a, b, t = result["fig6a_fusion_vs_nofusion"], result["fig6b_per_frame_vs_shared"], result["table3"]
    md = ["| ablation | setting | PoseTrack mAP (non-key, synthetic val) |", "|---|---|---|",
          f"| Fig. 6(a) | searched schedule, with fusion | {a['fusion']['searched_schedule']:.1f} |",
          f"| Fig. 6(a) | searched schedule, without fusion | {a['no_fusion']['searched_schedule']:.1f} |",
          f"| Fig. 6(a) | all-biggest frames, with fusion | {a['fusion']['all_max_add_last_stage']:.1f} |",
          f"| Fig. 6(a) | all-biggest frames, without fusion | {a['no_fusion']['all_max_add_last_stage']:.1f} |",
          f"| Fig. 6(b) | per-frame architectures (best of {b['candidates_each']}) | {b['per_frame_map']:.1f} |",
          f"| Fig. 6(b) | one shared architecture (best of {b['candidates_each']}) | {b['shared_map']:.1f} |",
          f"| Table 3 | T-ViPNAS schedule, {t['t_vipnas_avg_gflops']:.4f} GFLOPs/frame | {t['t_vipnas_schedule_map']:.1f} |",
          f"| Table 3 | S-ViPNet every frame, {t['s_vipnet_gflops']:.4f} GFLOPs/frame | {t['s_vipnet_every_frame_map']:.1f} |"]
    write_text(os.path.join(F.out, "results.md"), "\n".join(md) + "\n")
    print(json.dumps(result, indent=2) if F.json else "\n".join(md))


if __name__ == "__main__":
    app.run(main)
