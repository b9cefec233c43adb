# Over 450 lines for one idea: the main job's twelve steps, each a few lines over library calls, read best in one place.
"""The main job: synthetic data -> super-network -> S-ViPNet (COCO, then PoseTrack18
layout) -> T-ViPNets -> export -> benchmark -> evaluate -> video -> report, each step
resumable (see `steps.run_steps`).

Speed is measured at the training input size and at the deployment size
(`deploy_input_size`, 256x192 as in the paper) in one interleaved benchmark run; the
deployment-size models have random weights (speed does not depend on them). The video
step runs the schedule's networks online over a synthetic val clip (boxes from its
annotation) and the sample video (boxes from the person detector).

Every step calls the same library code as the scripts (`Trainer`, `SpatialSearch`,
`TemporalSearch`, `vipnas_tf.export`, the benchmark harness, the video runner); the
settings are those of `configs/quickstart_*.flags`, sized to finish in minutes on a
2-core CPU. `QuickstartSettings` holds them.
"""
import dataclasses
import os
import time

import keras
import numpy as np
import tensorflow as tf

from vipnas_tf.arch import arch_cost, get_space, load_arch, parse_arch, resolve_arch
from vipnas_tf.data import load_coco
from vipnas_tf.data.synthetic import training_paths, val_clips
from vipnas_tf.data.transforms import normalize_images_np
from vipnas_tf.evaluation import CocoEvaluator
from vipnas_tf.evaluation.clips import ClipEvaluator
from vipnas_tf.evaluation.topdown import load_eval_crops
from vipnas_tf.export import convert as convert_lib
from vipnas_tf.export import deploy
from vipnas_tf.export.savedmodel import export_savedmodel
from vipnas_tf.export.schedule_export import convert_schedule
from vipnas_tf.litert.benchmark import BenchmarkSpec, run_benchmark
from vipnas_tf.models import build_supernet
from vipnas_tf.models.random_init import randomize_weights
from vipnas_tf.models.static_builders import build_static
from vipnas_tf.pipeline.report import write_report
from vipnas_tf.pipeline.steps import Step, synthetic_data_step
from vipnas_tf.runtime.boxes import load_boxes
from vipnas_tf.runtime.detector import hog_available, make_detector
from vipnas_tf.runtime.models import load_schedule_models
from vipnas_tf.runtime.source import FrameSource
from vipnas_tf.runtime.video import RunnerConfig, VideoPoseRunner, write_results
from vipnas_tf.search.spatial import Budget, CostOracle, SpatialSearch
from vipnas_tf.search.temporal import TemporalSearch, min_frame_gflops
from vipnas_tf.temporal.propagation import propagate_clips
from vipnas_tf.temporal.schedule import Schedule
from vipnas_tf.training import bn as bn_lib
from vipnas_tf.training import TrainConfig, Trainer
from vipnas_tf.utils import io as io_utils

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLE_VIDEO = os.path.join("tfjs_samples", "rendered_person.mp4")


def default_video():
    """The real sample video of the video step: SAMPLE_VIDEO under $VIPNAS_SHARED_DATA, or
    under ../shared/data beside a source checkout; "" when neither has it (an installed
    package: the video step then runs on a synthetic val clip only). The clip is a
    fixture of its own licence and is not shipped with the package."""
    roots = [os.environ.get("VIPNAS_SHARED_DATA", "")]
    if os.path.exists(os.path.join(ROOT, "setup.py")):
        roots.append(os.path.join(ROOT, "..", "shared", "data"))
    for root in roots:
        if root and os.path.exists(os.path.join(root, SAMPLE_VIDEO)):
            return os.path.join(root, SAMPLE_VIDEO)
    return ""


DEFAULT_VIDEO = default_video()


@dataclasses.dataclass
class QuickstartSettings:
    images: int = 2000
    clips: int = 24
    frames: int = 8
    seed: int = 0
    # A sub-space of Table A1 (fewer kernel and group choices, a depthwise head; see
    # vipnas_tf/arch/mobilenetv3_space.py) that a few minutes of sandwich training cover.
    space: str = "mobilenetv3_quick"
    input_size: tuple = (64, 64)
    supernet_steps: int = 460
    supernet_batch: int = 32
    supernet_lr: float = 2e-3
    # A few-minute budget from scratch (research/README.md, "The mean-pose plateau and `--kernel_init`"): He
    # kernels instead of the paper's N(0, 0.001), one random member (paper: 2), and
    # in-place distillation from half-way, once the biggest has left the mean pose.
    supernet_kernel_init: str = "he"
    supernet_num_random: int = 1
    supernet_random_from: float = 0.0  # fraction of supernet_steps (0: from the start, as the paper)
    supernet_distill_from: float = 0.5  # fraction of supernet_steps
    augment: bool = False  # the synthetic set is learned in minutes without it; full recipes use it
    num_random: int = 1
    # The S-ViPNet is searched in a GFLOPs band, as positions on the way from the space's
    # smallest (0) to its biggest (1) network: a real choice, not the bottom of the space.
    search_budget_fraction: float = 0.75  # the budget (upper end)
    search_floor_fraction: float = 0.4  # the band's lower end
    search_samples: int = 12
    finetune_steps: int = 60
    # The paper's COCO -> PoseTrack18 fine-tune of the key S-ViPNet (Sec. 4.2), on the
    # synthetic clips' frames; its heatmap channels then mean PoseTrack18 joints.
    posetrack_finetune_steps: int = 40
    temporal_steps: int = 40
    temporal_batch: int = 8
    num_frames: int = 3
    temporal_samples: int = 3
    bench_runs: int = 30
    # Speed at the deployment resolution (the paper's 256x192): the same architectures
    # with random weights (speed does not depend on them), exported and measured in the
    # same interleaved benchmark run. None: only the training resolution.
    deploy_input_size: tuple = (256, 192)
    video: str = DEFAULT_VIDEO
    max_video_frames: int = 120
    # the real clip: the person detector also runs every this many frames and re-anchors
    # the track (networks trained on synthetic people only drift off a real one)
    video_redetect_every: int = 24
    eval_max_persons: int = 60


def _data(root):
    return {which: training_paths(root, which) for which in ("coco", "posetrack")}


def _hw(s):
    return f"{s.input_size[0]}x{s.input_size[1]}"


def schedule_budget(key_arch, space, input_size, fraction=0.5):
    """The quickstart's per-non-key-frame GFLOPs budget: `fraction` (half) of the S-ViPNet's, but never
    below 1.2x the cheapest frame network the temporal space admits (an S-ViPNet at the
    bottom of its space leaves no room for lighter frame networks, which also carry the
    fusion module)."""
    share = fraction * float(arch_cost(key_arch, tuple(input_size)).paper_gflops)
    return round(max(share, 1.2 * min_frame_gflops(space, key_arch, input_size)), 5)


def build_steps(out, s: QuickstartSettings):
    """The ordered steps; folder i is OUT/NN_name."""
    names = ["synthetic_data", "supernet", "spatial_search", "finetune", "posetrack_finetune", "temporal",
             "temporal_search", "export", "benchmark", "evaluate", "video", "report"]
    d = {n: os.path.join(out, f"{i + 1:02d}_{n}") for i, n in enumerate(names)}
    data = _data(d["synthetic_data"])

    def train(folder, **kw):
        cfg = TrainConfig(space=s.space, input_size=tuple(s.input_size), seed=s.seed, log_every=10,
                          lr_schedule="cosine", eval_max_persons=s.eval_max_persons, bn_calib_batches=4,
                          augment=s.augment, **kw)
        return Trainer(cfg, os.path.join(folder, "model"), progress=True, log_fn=print).train()

    def supernet(folder):
        summary = train(folder, mode="supernet", batch_size=s.supernet_batch, train_steps=s.supernet_steps,
                        learning_rate=s.supernet_lr, warmup_steps=10, num_random=s.supernet_num_random,
                        random_start=int(s.supernet_random_from * s.supernet_steps),
                        kernel_init=s.supernet_kernel_init, distill_start=int(s.supernet_distill_from * s.supernet_steps),
                        checkpoint_every=50, eval_every=0, **data["coco"])
        untrained = _untrained_ap(s, data["coco"])
        return {"train": summary, "untrained_ap": untrained, "model_dir": os.path.join(folder, "model"),
                "command": f"python scripts/train.py --flagfile=configs/quickstart_supernet.flags "
                           f"--model_dir={folder}/model"}

    def spatial_search(folder):
        space = get_space(s.space)
        oracle = CostOracle(s.input_size)
        lo, hi = oracle(space.min())["paper_gflops"], oracle(space.max())["paper_gflops"]
        limit = round(lo + s.search_budget_fraction * (hi - lo), 4)
        floor = round((lo + s.search_floor_fraction * (hi - lo)) / limit, 3)
        search = SpatialSearch(os.path.join(d["supernet"], "model"), folder, Budget("paper_gflops", limit, floor),
                               strategy="evolution", num_samples=s.search_samples, population=4, seed=s.seed,
                               bn_calib_batches=4, eval_max_persons=s.eval_max_persons)
        summary = search.run()
        summary["command"] = (f"python scripts/search.py --model_dir={d['supernet']}/model --out={folder} "
                              f"--max_gflops={limit} --budget_floor={floor} --strategy=evolution --num_samples={s.search_samples} --json")
        return summary

    def finetune(folder):
        summary = train(folder, mode="standalone", arch=os.path.join(d["spatial_search"], "best_arch.json"),
                        init_from=os.path.join(d["supernet"], "model"), batch_size=s.supernet_batch,
                        train_steps=s.finetune_steps, learning_rate=s.supernet_lr / 4, checkpoint_every=30,
                        eval_every=0, **data["coco"])
        return {"train": summary, "model_dir": os.path.join(folder, "model")}

    def posetrack_finetune(folder):
        # COCO-layout S-ViPNet -> PoseTrack18 layout: channels mapped by
        # vipnas_tf.codecs.layout_mapping (head_bottom / head_top fresh). No validation
        # here: the evaluate step scores this network on the val clips.
        summary = train(folder, mode="standalone", arch=os.path.join(d["spatial_search"], "best_arch.json"),
                        init_from=os.path.join(d["finetune"], "model"), batch_size=s.supernet_batch,
                        train_steps=s.posetrack_finetune_steps, learning_rate=s.supernet_lr / 4,
                        checkpoint_every=s.posetrack_finetune_steps, eval_every=-1, **data["posetrack"])
        return {"train": summary, "model_dir": os.path.join(folder, "model"), "keypoint_layout": "posetrack18",
                "command": f"python scripts/train.py --flagfile=configs/quickstart_posetrack_finetune.flags "
                           f"--model_dir={folder}/model --arch={d['spatial_search']}/best_arch.json "
                           f"--init_from={d['finetune']}/model --synthetic_data={d['synthetic_data']}"}

    def temporal(folder):
        summary = train(folder, mode="temporal", key_model_dir=os.path.join(d["posetrack_finetune"], "model"),
                        batch_size=s.temporal_batch, train_steps=s.temporal_steps, learning_rate=s.supernet_lr / 4,
                        num_frames=s.num_frames, num_random=s.num_random, checkpoint_every=30, eval_every=-1,
                        **data["posetrack"])
        return {"train": summary, "model_dir": os.path.join(folder, "model")}

    def temporal_search(folder):
        key = load_arch(os.path.join(d["spatial_search"], "best_arch.json"))
        half = schedule_budget(key, s.space, s.input_size)
        search = TemporalSearch(os.path.join(d["temporal"], "model"), folder, frames=s.num_frames,
                                max_avg_gflops=half, num_samples=s.temporal_samples, seed=s.seed)
        summary = search.run()
        summary["command"] = (f"python scripts/search.py --mode=temporal --model_dir={d['temporal']}/model "
                              f"--frames={s.num_frames} --max_avg_gflops={half} --out={folder} --json")
        return summary

    def export(folder):
        return export_all(d, folder, s, data)

    def benchmark(folder):
        return run_bench(d, folder, s)

    def evaluate(folder):
        return evaluate_schedule(d, folder, s, data)

    def video(folder):
        return run_video(d, folder, s)

    def report(folder):
        return write_report(out, d, folder, s)

    fns = [synthetic_data_step(s.images, s.clips, s.frames, s.seed).run, supernet, spatial_search, finetune,
           posetrack_finetune, temporal, temporal_search, export, benchmark, evaluate, video, report]
    descriptions = [
        f"generating {s.images} images and {s.clips} clips of {s.frames} frames",
        f"sandwich-training the {s.space} super-network ({s.supernet_steps} steps, {_hw(s)})",
        f"searching an S-ViPNet under a GFLOPs budget ({s.search_samples} candidates, evolution)",
        f"fine-tuning the searched S-ViPNet ({s.finetune_steps} steps)",
        f"fine-tuning the S-ViPNet on the PoseTrack18 clips' frames ({s.posetrack_finetune_steps} steps, "
        f"COCO -> PoseTrack18 keypoint layout)",
        f"training the T-ViPNet propagation model over clips (T={s.num_frames}, {s.temporal_steps} steps)",
        f"allocating computation over T={s.num_frames} frames ({s.temporal_samples} candidates)",
        "exporting SavedModel and TFLite (float32, int8) models"
        + (f" (and at {_size_tag(s.deploy_input_size)}, random weights, for speed)" if s.deploy_input_size else ""),
        "benchmarking the schedule, the S-ViPNet and a baseline in one interleaved run"
        + (f" ({_hw(s)} and {_size_tag(s.deploy_input_size)})" if s.deploy_input_size else ""),
        "scoring the schedule and the per-frame S-ViPNet on the synthetic val clips",
        "running online video inference on a synthetic val clip and the sample video (two overlays)",
        "writing report.md / report.html",
    ]
    return [Step(n, f, desc) for n, f, desc in zip(names, fns, descriptions)]


def _untrained_ap(s, coco):
    """AP of an untrained super-network's biggest sub-network (the reference point)."""
    net = build_supernet(s.space, tuple(s.input_size))
    ev = CocoEvaluator.subset(coco["val_ann"], coco["val_images"], s.eval_max_persons, tuple(s.input_size))
    return float(ev.evaluate(bn_lib.predict_fn(net, net.space.max()))["AP"])


def _load_keras(path):
    return keras.saving.load_model(path, compile=False)


def _val_crops(s, coco, n=64, size=None):
    samples = load_coco(coco["val_ann"], coco["val_images"])
    samples = samples.select(np.arange(min(n, len(samples))))
    crops, _, _ = load_eval_crops(samples, tuple(size or s.input_size))
    return normalize_images_np(crops).astype(np.float32)


def export_all(d, folder, s, data):
    """SavedModel of the S-ViPNet; TFLite float32 + int8 of the S-ViPNet, the schedule
    (key + T frame models, with manifest) and the SimpleBaseline-MobileNetV3 baseline."""
    sched_dir = d["temporal_search"]
    schedule = Schedule.load(os.path.join(sched_dir, "schedule.json"))
    key = _load_keras(os.path.join(sched_dir, schedule.extra["keras_models"]["key"]))
    frames = [_load_keras(os.path.join(sched_dir, f)) for f in schedule.extra["keras_models"]["frames"]]
    calib = _val_crops(s, data["coco"], 64)
    layout = schedule.keypoint_layout
    out = {"savedmodel": export_savedmodel(key, os.path.join(folder, "s_vipnet_savedmodel"),
                                           metadata={"arch": schedule.key_arch.to_string()},
                                           keypoint_layout=layout)["path"],
           "keypoint_layout": layout}
    reports = {}
    for mode in ("float32", "int8"):
        sched_out = os.path.join(folder, f"schedule_{mode}")
        rep = convert_schedule(schedule, key, lambda i: frames[i], sched_out, mode,
                               calibration_images=calib if mode == "int8" else None,
                               eval_images=calib[:8], name=f"t_vipnas_T{s.num_frames}_{mode}", progress=False)
        reports[f"schedule_{mode}"] = {k: v for k, v in rep.items() if k in ("out_dir", "files", "name")}
        reports[f"s_vipnet_{mode}"] = _short(_key_as_s_vipnet(rep, os.path.join(folder, f"s_vipnet_{mode}.tflite")))
    baseline = build_static(resolve_arch("sbl_mbv3"), tuple(s.input_size), name="sbl_mbv3")
    randomize_weights(baseline, 0)
    _, rep = convert_lib.convert(baseline, "float32", os.path.join(folder, "sbl_mbv3_float32.tflite"),
                                 eval_inputs=[calib[:8]])
    reports["sbl_mbv3_float32"] = _short(rep)
    out["reports"] = reports
    out["note"] = "sbl_mbv3 baseline: architecture only (random weights), measured for speed"
    if s.deploy_input_size:
        out["deploy"] = export_deploy_resolution(schedule, os.path.join(folder, _size_tag(s.deploy_input_size)),
                                                 s, data)
    return out


def _size_tag(size):
    return f"{size[0]}x{size[1]}"


def export_deploy_resolution(schedule, folder, s, data, calibration_samples=8):
    """The S-ViPNet, the schedule (key + T-ViPNets) and the baseline at
    `s.deploy_input_size`, float32 and int8, with random weights: speed does not depend on
    the weights' values, and the networks were trained at the smaller input only. int8
    is calibrated on a few synthetic crops (its ranges are meaningless for accuracy, the
    kernels it runs are those of a real int8 model)."""
    size = tuple(int(v) for v in s.deploy_input_size)
    tag = _size_tag(size)
    t0 = time.time()
    calib = _val_crops(s, data["coco"], calibration_samples, size)
    sched = dataclasses.replace(schedule, model_dir=None, key_model_dir=None,
                                extra={k: v for k, v in schedule.extra.items() if k != "keras_models"})
    # input_size stays the trained one: the manifests then recompute every cost at `size`
    key = randomize_weights(build_static(schedule.key_arch, size, name="s_vipnet"), 0)
    frame_fn = deploy.temporal_frame_factory(sched, size, seed=s.seed)
    frames = {}
    reports = {}
    for mode in ("float32", "int8"):
        sched_out = os.path.join(folder, f"schedule_{mode}_{tag}")
        rep = convert_schedule(sched, key, lambda i: frames.setdefault(i, frame_fn(i)), sched_out, mode,
                               calibration_images=calib if mode == "int8" else None,
                               eval_images=calib[:2], name=f"t_vipnas_T{s.num_frames}_{mode}_{tag}",
                               progress=False)
        reports[f"schedule_{mode}"] = {k: v for k, v in rep.items() if k in ("out_dir", "name")}
        _key_as_s_vipnet(rep, os.path.join(folder, f"s_vipnet_{mode}_{tag}.tflite"))
    baseline = randomize_weights(build_static(resolve_arch("sbl_mbv3"), size, name="sbl_mbv3"), 0)
    for mode in ("float32", "int8"):
        kw = {"calibration_inputs": [calib]} if mode == "int8" else {}
        _, rep = convert_lib.convert(baseline, mode, os.path.join(folder, f"sbl_mbv3_{mode}_{tag}.tflite"),
                                     eval_inputs=[calib[:2]], **kw)
        reports[f"sbl_mbv3_{mode}"] = _short(rep)
    return {"input_size": list(size), "folder": folder, "reports": reports, "seconds": round(time.time() - t0, 1),
            "weights": "random (speed only: it does not depend on the weights' values)"}


def _key_as_s_vipnet(schedule_report, path):
    """The schedule's key model is the S-ViPNet: one conversion serves both. Copies the
    converted schedule's key.tflite and its metadata JSON to `path` and beside it
    (measured and evaluated on its own, under its own name) and returns the key's
    conversion summary."""
    for src, dst in (("key.tflite", path), ("key.json", os.path.splitext(path)[0] + ".json")):
        with open(os.path.join(schedule_report["out_dir"], src), "rb") as f:
            io_utils.write_bytes(dst, f.read())
    return dict(schedule_report["models"][0], path=os.path.abspath(path))


def _short(rep):
    return {k: v for k, v in rep.items() if not isinstance(v, (list, dict)) or k in ("parity",)}


def run_bench(d, folder, s):
    """One interleaved TFLite run (1 thread) of the S-ViPNet, the schedule and the
    baseline, float32 and int8, at the training resolution and (random weights) at
    `deploy_input_size`."""
    e = d["export"]
    key_arch = parse_arch(io_utils.read_json(os.path.join(d["temporal_search"], "schedule.json"))["key"]["arch"])
    sizes = [tuple(s.input_size)] + ([tuple(s.deploy_input_size)] if s.deploy_input_size else [])
    models = [os.path.join(e, f) for f in ("s_vipnet_float32.tflite", "s_vipnet_int8.tflite",
                                           "sbl_mbv3_float32.tflite")]
    scheds = [os.path.join(e, "schedule_float32"), os.path.join(e, "schedule_int8")]
    if s.deploy_input_size:
        tag = _size_tag(s.deploy_input_size)
        sub = os.path.join(e, tag)
        models += [os.path.join(sub, f"{m}_{q}_{tag}.tflite") for m in ("s_vipnet", "sbl_mbv3")
                   for q in ("float32", "int8")]
        scheds += [os.path.join(sub, f"schedule_{q}_{tag}") for q in ("float32", "int8")]
    macs = {}
    for size in sizes:
        suffix = "" if size == tuple(s.input_size) else "_" + _size_tag(size)
        for name, arch in (("s_vipnet", key_arch), ("sbl_mbv3", resolve_arch("sbl_mbv3"))):
            for q in ("float32", "int8"):
                macs[f"{name}_{q}{suffix}.tflite"] = float(arch_cost(arch, size).macs)
    t0 = time.time()
    result = run_benchmark(BenchmarkSpec(models=models, schedule_dirs=scheds, threads=1, runs=s.bench_runs,
                                         warmup=3, measure_memory=False, macs=macs))
    result["seconds_measuring"] = round(time.time() - t0, 1)
    result["input_sizes"] = [list(x) for x in sizes]
    io_utils.write_json(os.path.join(folder, "benchmark.json"), result)
    result["command"] = (f"python tflite/benchmark.py --models={','.join(models)} "
                         f"--schedule_dir={','.join(scheds)} --threads=1 --runs={s.bench_runs} --json")
    return result


def evaluate_schedule(d, folder, s, data):
    """PoseTrack mAP on the non-key frames of the synthetic val clips: the schedule
    (key S-ViPNet + T-ViPNets, as exported: static Keras models with their own BN
    statistics) against the S-ViPNet run on every frame."""
    sched_dir = d["temporal_search"]
    schedule = io_utils.read_json(os.path.join(sched_dir, "schedule.json"))
    key = _load_keras(os.path.join(sched_dir, schedule["keras_models"]["key"]))
    frames = [_load_keras(os.path.join(sched_dir, f)) for f in schedule["keras_models"]["frames"]]
    pt = data["posetrack"]
    ev = ClipEvaluator(pt["val_ann"], pt["val_images"], tuple(s.input_size), s.num_frames,
                       keypoint_layout=schedule.get("keypoint_layout"),
                       model_source=os.path.join(sched_dir, "schedule.json"))
    key_fn = tf.function(lambda x: key(x, training=False))
    frame_fns = [tf.function(lambda x, p, m=m: m([x, p], training=False)) for m in frames]

    def clip_predict(clips, crop_matrices):
        # previous heatmaps warped into each frame's crop, as in training and video inference
        return propagate_clips(key_fn, frame_fns, clips, crop_matrices)

    sched = ev.evaluate(clip_predict)
    per_frame = ev.evaluate_framewise(lambda x: key_fn(tf.convert_to_tensor(x, tf.float32)))
    result = {"schedule_map_nonkey": round(float(sched["Total"]), 2),
              "s_vipnet_per_frame_map_nonkey": round(float(per_frame["Total"]), 2),
              "num_clips": ev.num_clips, "num_frames": s.num_frames,
              "keypoint_layout": schedule.get("keypoint_layout"),
              "schedule_avg_gflops": schedule["avg_gflops"], "s_vipnet_gflops": schedule["key"]["paper_gflops"]}
    io_utils.write_json(os.path.join(folder, "evaluation.json"), result)
    return result


def _synthetic_val_clip(synthetic_dir):
    """(frames folder, [x, y, w, h] boxes of its first frame) of the first synthetic val
    clip whose first frame is labelled (else of the first clip, with the boxes of its
    first labelled frame), or (None, None)."""
    fallback = (None, None)
    for ann, frames in val_clips(synthetic_dir):
        boxes = load_boxes(ann)
        if not boxes or not os.path.isdir(frames):
            continue
        if 0 in boxes:
            return frames, [b[:4].tolist() for b in boxes[0]]
        if fallback[0] is None:
            fallback = (frames, [b[:4].tolist() for b in boxes[min(boxes)]])
    return fallback


def run_video(d, folder, s):
    """Online video inference with the schedule's networks (`vipnas_tf.runtime`), two
    overlays: a synthetic val clip (the kind of images the networks were trained on;
    boxes from its first labelled frame's annotation, then tracked from the keypoints)
    and the real sample video (boxes from the person detector, then tracked)."""
    sched_path = os.path.join(d["temporal_search"], "schedule.json")
    schedule = Schedule.load(sched_path).validate()
    models = load_schedule_models(schedule)
    runner = VideoPoseRunner(schedule, models)
    script = "python scripts/infer_video.py"
    out = {}
    clip, first = _synthetic_val_clip(d["synthetic_data"])
    if clip is not None:
        t0 = time.time()
        result = runner.run(FrameSource(images=clip, max_frames=s.max_video_frames), first_boxes=first,
                            output_video=os.path.join(folder, "synthetic_overlay.mp4"))
        write_results(os.path.join(folder, "synthetic_poses.json"), result)
        boxes = " ".join("--first_box=" + ",".join(f"{v:.0f}" for v in b) for b in first)
        out["synthetic"] = {**result["summary"], "source": clip, "overlay": "synthetic_overlay.mp4",
                            "wall_seconds": round(time.time() - t0, 1),
                            "command": f"{script} --images={clip} --schedule={sched_path} {boxes} "
                                       f"--output_json=poses.json --output_video=overlay.mp4 --json"}
    video = os.path.abspath(s.video) if s.video and os.path.exists(s.video) else None
    if video is not None:
        detector = make_detector("hog") if hog_available() else None
        runner = VideoPoseRunner(schedule, models, RunnerConfig(redetect_every=s.video_redetect_every or None))
        t0 = time.time()
        result = runner.run(FrameSource(video=video, max_frames=s.max_video_frames), detector=detector,
                            output_video=os.path.join(folder, "overlay.mp4"))
        write_results(os.path.join(folder, "poses.json"), result)
        out["real"] = {**result["summary"], "source": video, "overlay": "overlay.mp4",
                       "wall_seconds": round(time.time() - t0, 1),
                       "command": f"{script} --video={video} --schedule={sched_path} "
                                  f"--detector={'hog' if detector else 'none'} --max_frames={s.max_video_frames} "
                                  f"--redetect_every={s.video_redetect_every} "
                                  f"--output_json=poses.json --output_video=overlay.mp4 --json"}
        if detector is None:
            out["real"]["note"] = "this OpenCV has no HOG people detector: whole-frame crops"
    if not out:
        return {"skipped": "no video and no synthetic val clip found"}
    return out
