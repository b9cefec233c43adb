"""The quickstart report: report.md and one self-contained report.html, from the step folders.

The headline numbers and verdicts come first (`vipnas_tf.pipeline.headline`), then one
section per result, each opening with a sentence on what it shows and how to read it:
step times, training curves, the spatial search's Pareto front, the chosen
architectures drawn per stage (paper Fig. 5 style), accuracy on the synthetic val
clips, speed and accuracy (Fig. 1 style) with the FPS at both input sizes, the
benchmark table, and the two overlay videos as animated GIFs. Each result names the
command that reproduces it.

report.md links the figures beside it; report.html carries them inline (base64 PNG /
GIF) with its CSS in the file: it opens anywhere, with no other file and no network.
"""
import base64
import html as html_lib
import os
import re

import cv2
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from vipnas_tf.pipeline.headline import bench_key, headline, size_tag
from vipnas_tf.utils import io as io_utils

GIF_HEIGHT = 200
GIF_MAX_FRAMES = 40


def _ap(value):
    """An AP for the report: 4 decimals (None stays "n/a")."""
    return "n/a" if value is None else f"{float(value):.4f}"


def _num(value, fmt="{:.4f}"):
    return "n/a" if value is None else fmt.format(value)


def _plt():
    matplotlib.use("Agg")  # files only, whatever backend the environment would pick
    return plt


def _save(fig, path):
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=100)
    os.replace(tmp, path)
    _plt().close(fig)
    return path


def _read(path, default=None):
    return io_utils.read_json(path) if os.path.exists(path) else default


def training_curves(d, path):
    plt = _plt()
    runs = [("super-network (sandwich)", d["supernet"]), ("S-ViPNet fine-tune (COCO)", d["finetune"]),
            ("S-ViPNet fine-tune (PoseTrack18)", d["posetrack_finetune"]),
            ("T-ViPNet propagation", d["temporal"])]
    fig, axes = plt.subplots(1, len(runs), figsize=(5 * len(runs), 3.8))
    for ax, (title, folder) in zip(axes, runs):
        p = os.path.join(folder, "model", "metrics.jsonl")
        rows = io_utils.read_jsonl(p) if os.path.exists(p) else []
        keys = sorted({k for r in rows for k in r if k.startswith("loss_")})
        for k in keys:
            pts = [(r["step"], r[k]) for r in rows if k in r]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], label=k[5:])
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
        ax.set_ylabel("heatmap loss")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        if keys:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def _parse(arch_string):
    """[(width, depth, kernel, groups, attention, expansion)] per stage of a compact arch string."""
    stages = []
    for part in arch_string.split("|")[0].split("/")[1:]:
        m = re.match(r"d(\d+)_c(\d+)_e(\d+)_k(\d+)_g(\d+)(_att)?", part)
        if m:
            d, c, e, k, g = (int(x) for x in m.groups()[:5])
            stages.append((c, d, k, g, bool(m.group(6)), e))
    return stages


def architecture_figure(schedule, path):
    """Each network of the schedule as a row of stage boxes: height = width (channels),
    label = depth, kernel, groups, attention (paper Fig. 5 style)."""
    plt = _plt()
    nets = [("key S-ViPNet", schedule["key"]["arch"], None)]
    nets += [(f"T-ViPNet frame {i + 1}", f["arch"], f"{f['fusion_op']} @ stage {f['fusion_stage']}")
             for i, f in enumerate(schedule["frames"])]
    fig, axes = plt.subplots(len(nets), 1, figsize=(12, 1.7 * len(nets)), squeeze=False)
    cmax = max(c for _, a, _ in nets for c, *_ in _parse(a)) or 1
    for ax, (title, arch, fusion) in zip(axes[:, 0], nets):
        for i, (c, dep, k, g, att, e) in enumerate(_parse(arch)):
            h = 0.2 + 0.8 * c / cmax
            ax.add_patch(plt.Rectangle((i * 1.2, 0.5 - h / 2), 1.0, h, color="tab:orange" if att else "tab:blue",
                                       alpha=0.75))
            ax.text(i * 1.2 + 0.5, 0.5, f"c{c}\nd{dep} k{k}\ne{e} g{g}", ha="center", va="center", fontsize=7)
        if fusion:
            stage = int(fusion.rsplit(" ", 1)[1])
            ax.annotate("prev. heatmaps\n" + fusion.split(" @")[0], xy=((stage - 1) * 1.2 + 1.0, 0.95),
                        xytext=((stage - 1) * 1.2 + 1.05, 1.25), fontsize=7, color="tab:red",
                        arrowprops={"arrowstyle": "->", "color": "tab:red"})
        ax.set_xlim(-0.2, 8.6)
        ax.set_ylim(-0.1, 1.45)
        ax.axis("off")
        ax.set_title(title, fontsize=9, loc="left")
    fig.tight_layout()
    return _save(fig, path)


_LABELS = {"s_vipnet": "S-ViPNet", "schedule": "T-ViPNAS schedule", "sbl_mbv3": "SimpleBaseline-MBV3"}


def speed_accuracy(h, path, train_tag):
    """Left: mAP against FPS at the training size (Fig. 1 style). Right: FPS of every
    model at each input size."""
    plt = _plt()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.2))
    fps = h["fps"].get(train_tag, {})
    for key, label, acc in (("s_vipnet_float32", "S-ViPNet every frame (fp32)", h["s_vipnet_map_nonkey"]),
                            ("s_vipnet_int8", "S-ViPNet every frame (int8)", h["s_vipnet_map_nonkey"]),
                            ("schedule_float32", "T-ViPNAS schedule (fp32)", h["schedule_map_nonkey"]),
                            ("schedule_int8", "T-ViPNAS schedule (int8)", h["schedule_map_nonkey"])):
        if key in fps and acc is not None:
            ax.scatter([fps[key]], [acc], s=60, label=label, marker="o" if "s_vipnet" in key else "*")
    if "sbl_mbv3_float32" in fps:
        ax.axvline(fps["sbl_mbv3_float32"], ls="--", c="gray", label="SimpleBaseline-MBV3 fp32 (speed only)")
    ax.set_xlabel(f"FPS at {train_tag} (TFLite, 1 thread)")
    ax.set_ylabel("PoseTrack mAP, non-key frames (synthetic val)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    tags = list(h["fps"])
    models = [m for m in ("s_vipnet", "schedule", "sbl_mbv3")]
    width = 0.8 / (2 * len(tags))
    for j, tag in enumerate(tags):
        for q_i, q in enumerate(("float32", "int8")):
            off = (2 * j + q_i) * width - 0.4 + width / 2
            vals = [h["fps"][tag].get(f"{m}_{q}", 0.0) for m in models]
            bars = bx.bar(np.arange(len(models)) + off, vals, width, label=f"{tag} {q}",
                          alpha=0.9 if q == "float32" else 0.55, color=f"C{j}")
            for b, v in zip(bars, vals):
                if v:
                    bx.annotate(f"{v:.0f}", (b.get_x() + b.get_width() / 2, v), ha="center", va="bottom", fontsize=7)
    bx.set_xticks(range(len(models)))
    bx.set_xticklabels([_LABELS[m] for m in models], fontsize=8)
    bx.set_yscale("log")
    bx.set_ylabel("FPS (log scale; schedule: effective over its cycle)")
    bx.legend(fontsize=7)
    bx.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return _save(fig, path)


def video_gif(video_path, path, height=GIF_HEIGHT, max_frames=GIF_MAX_FRAMES):
    """An animated GIF of an overlay video (at most `max_frames` evenly spaced frames)."""
    cap = cv2.VideoCapture(video_path)
    fps = cap.get(cv2.CAP_PROP_FPS) or 10.0
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.resize(frame, (int(frame.shape[1] * height / frame.shape[0]), height),
                                 interpolation=cv2.INTER_AREA))
    cap.release()
    if not frames:
        return None
    step = max(1, int(np.ceil(len(frames) / max_frames)))
    images = [Image.fromarray(f[..., ::-1]) for f in frames[::step]]
    tmp = path + ".tmp.gif"
    images[0].save(tmp, save_all=True, append_images=images[1:], loop=0,
                   duration=max(60, int(1000 * step / fps)), optimize=True)
    os.replace(tmp, path)
    return path


def bench_table(bench, sizes):
    lines = ["| model | input | p50 ms | p90 ms | FPS | GFLOP/s |", "|---|---|---|---|---|---|"]
    for r in bench.get("results", []):
        tag, _ = bench_key(r["name"], sizes)
        if "error" in r:
            lines.append(f"| {r['name']} | {tag} | error: {r['error']} | | | |")
            continue
        g = r.get("gflops_per_s")
        lines.append(f"| {r['name']} | {tag} | {r['p50_ms']:.2f} | {r['p90_ms']:.2f} | {r['fps']:.1f} | "
                     f"{'' if g is None else f'{g:.1f}'} |")
    return "\n".join(lines)


def _speed_rows(h):
    """Headline rows: GFLOPs and FPS of S-ViPNet vs schedule at each size."""
    rows = []
    for tag, fps in h["fps"].items():
        g = h["gflops"].get(tag, {})
        for q in ("float32", "int8"):
            s, t = fps.get(f"s_vipnet_{q}"), fps.get(f"schedule_{q}")
            speedup = f"{t / s:.2f}x" if s and t else "n/a"
            rows.append(f"| {tag} | {q} | {_num(g.get('s_vipnet'))} | {_num(g.get('schedule_nonkey'))} | "
                        f"{_num(s, '{:.1f}')} | {_num(t, '{:.1f}')} | {speedup} |")
    return rows


def _machine(d):
    """The CPU the benchmark step measured on, e.g. "AMD EPYC (2 cores)"."""
    path = os.path.join(d["benchmark"], "benchmark.json")
    m = (io_utils.read_json(path).get("machine") or {}) if os.path.exists(path) else {}
    if not m.get("cpu"):
        return "the machine that ran it"
    return f"{m['cpu']} ({m.get('cores', '?')} cores)" if m.get("cores") else m["cpu"]


def _pct(value):
    return "n/a" if value is None else f"{100 * value:.0f}%"


def _headline_md(h, settings):
    sv = h["s_vipnet"]
    pos = "n/a" if sv["budget_position"] is None else f"{100 * sv['budget_position']:.0f}%"
    lines = [
        "## Headline\n",
        "The numbers this run is about, each measured in it; the verdict lines below them say plainly where a "
        "result is weak.\n",
        "| what | value |", "|---|---|",
        f"| super-network AP, untrained / biggest / smallest member | {_ap(h['untrained_ap'])} / "
        f"{_ap(h['biggest_ap'])} / {_ap(h['smallest_ap'])} |",
        f"| chosen S-ViPNet | AP {_ap(sv['ap'])}, {_num(sv['gflops'])} GFLOPs ({_pct(sv.get('budget_used'))} of the "
        f"budget {_num(sv['budget_gflops'])}, searched in the band {_num(sv.get('budget_lower_gflops'))} to "
        f"{_num(sv['budget_gflops'])}; "
        f"the space spans {_num(sv['space_min_gflops'])} to {_num(sv['space_max_gflops'])}: it sits {pos} of the "
        f"way up) |",
        f"| candidates (all within the budget) with AP >= half the best | {h['candidates_half_best']} of "
        f"{h['candidates']} (on the Pareto front: {h['pareto_half_best']} of {h['pareto_candidates']}) |",
        f"| schedule vs S-ViPNet, mAP on non-key frames | {_num(h['schedule_map_nonkey'], '{:.1f}')} vs "
        f"{_num(h['s_vipnet_map_nonkey'], '{:.1f}')} |",
        f"| GFLOPs per non-key frame, schedule vs S-ViPNet | {_num(h['schedule_gflops_nonkey'])} vs "
        f"{_num(h['s_vipnet_gflops'])} |",
        "",
        "| input | TFLite | S-ViPNet GFLOPs | schedule GFLOPs/non-key frame | S-ViPNet FPS | schedule FPS | "
        "schedule speed-up |",
        "|---|---|---|---|---|---|---|", *_speed_rows(h), "",
    ]
    if len(h["fps"]) > 1:
        lines.append(f"The {list(h['fps'])[1]} models have random weights: speed does not depend on the weights' "
                     f"values, and the networks were trained at {size_tag(settings.input_size)} only.\n")
    if h["verdicts"]:
        lines += [f"**Verdict:** {v}\n" for v in h["verdicts"]]
    else:
        lines.append("**Verdict:** the schedule is cheaper and faster than the S-ViPNet and not less accurate.\n")
    return lines


HONEST_VIDEO = ("Trained only on synthetic people for a few minutes, the networks follow the synthetic clip but "
                "give the real person only a rough, mean-pose-like skeleton inside the detector's box; importing "
                "published weights (mmpose checkpoints trained on COCO / PoseTrack) changes that.")


def write_report(out, d, folder, settings):
    done = {n: _read(os.path.join(p, "DONE.json"), {}) for n, p in d.items()}
    schedule = _read(os.path.join(d["temporal_search"], "schedule.json"), {})
    bench = _read(os.path.join(d["benchmark"], "benchmark.json"), {})
    h = headline(d, settings)
    train_tag = size_tag(settings.input_size)
    sizes = [tuple(settings.input_size)] + ([tuple(settings.deploy_input_size)]
                                            if getattr(settings, "deploy_input_size", None) else [])
    images = {"curves": training_curves(d, os.path.join(folder, "training_curves.png"))}
    pareto = os.path.join(d["spatial_search"], "pareto.png")
    if os.path.exists(pareto):
        images["pareto"] = pareto
    if schedule:
        images["archs"] = architecture_figure(schedule, os.path.join(folder, "architectures.png"))
    if bench:
        images["speed"] = speed_accuracy(h, os.path.join(folder, "speed_accuracy.png"), train_tag)
    video = done.get("video", {})
    for part, name in (("synthetic", "synthetic_overlay"), ("real", "overlay")):
        p = os.path.join(d["video"], f"{name}.mp4")
        if os.path.exists(p):
            gif = video_gif(p, os.path.join(folder, f"{name}.gif"))
            if gif:
                images[part] = gif
    sn = done.get("supernet", {})
    search = done.get("spatial_search", {})
    times = "\n".join(f"| {n} | {v.get('seconds', '')} |" for n, v in done.items() if v)
    md = ["# vipnas-tf quickstart report\n",
          f"Synthetic data, {settings.space} space, networks trained at {train_tag}, T = {settings.num_frames}. "
          f"Everything below was measured in this run, on {_machine(d)}.\n",
          *_headline_md(h, settings),
          "## Step times (seconds)\n",
          "Wall time of each step of this run; a re-run skips finished steps.\n",
          "| step | seconds |", "|---|---|", times, "",
          "## Training curves\n",
          "Heatmap loss per training step of the three trainings (log scale): falling curves mean the networks "
          "learn; the super-network's curves are its sandwich members.\n",
          "![training curves](IMG:curves)\n",
          f"Super-network validation AP (COCO metric, synthetic val): biggest {_ap(h['biggest_ap'])}, "
          f"smallest {_ap(h['smallest_ap'])}; untrained biggest {_ap(h['untrained_ap'])}. Decoding the ground-truth "
          "heatmaps themselves gives AP 0.84 at 64x64, so values near 0 are the networks, not the metric (research/README.md, "
          "\"The mean-pose plateau and `--kernel_init`\").\n",
          f"Reproduce: `{sn.get('command', '')}`\n",
          "## Spatial search: Pareto front\n",
          "Each dot is one candidate sub-network scored with the shared super-network weights: further left is "
          "cheaper, higher is more accurate; the line joins the candidates no other beats on both.\n",
          "![pareto](IMG:pareto)\n",
          f"Best S-ViPNet `{search.get('arch')}`: AP {_ap(search.get('ap'))}, {search.get('paper_gflops')} GFLOPs.\n",
          f"Reproduce: `{search.get('command', '')}`\n",
          "## Key S-ViPNet: COCO -> PoseTrack18 keypoint layout\n",
          f"The S-ViPNet fine-tuned on the COCO images is fine-tuned again on the synthetic PoseTrack18 clips' "
          f"frames ({(done.get('posetrack_finetune', {}).get('train') or {}).get('final_step')} steps): nose, ears "
          f"and body joints carry over, head_bottom and head_top start fresh. The T-ViPNets and the schedule "
          f"(keypoint layout `{schedule.get('keypoint_layout')}`) are built on it.\n",
          f"Reproduce: `{done.get('posetrack_finetune', {}).get('command', '')}`\n",
          "## The chosen architectures (per stage)\n",
          "One row per network of the schedule, one box per stage: box height is the stage's width, the label its "
          "channels (c), depth (d), kernel (k), expansion (e) and groups (g); orange stages have attention, the red "
          "arrow is where a T-ViPNet fuses the previous frame's heatmaps.\n",
          "![architectures](IMG:archs)\n",
          f"Schedule: key-frame interval {schedule.get('key_frame_interval')}, average {schedule.get('avg_gflops')} "
          f"GFLOPs per frame (non-key {schedule.get('avg_gflops_nonkey')}).\n",
          f"Reproduce: `{done.get('temporal_search', {}).get('command', '')}`\n",
          "## Accuracy on the synthetic val clips (PoseTrack mAP, non-key frames)\n",
          "PoseTrack mAP (PCKh@0.5) on the frames between key frames, where the schedule runs its light T-ViPNets: "
          "higher is better, at the GFLOPs given per frame.\n",
          f"| model | mAP | GFLOPs/frame |\n|---|---|---|\n"
          f"| T-ViPNAS schedule (T={settings.num_frames}) | {_num(h['schedule_map_nonkey'], '{:.1f}')} | "
          f"{_num(h['schedule_gflops_nonkey'])} |\n"
          f"| S-ViPNet on every frame | {_num(h['s_vipnet_map_nonkey'], '{:.1f}')} | {_num(h['s_vipnet_gflops'])} |\n",
          "## Speed and accuracy\n",
          f"Left: accuracy against speed at {train_tag} (up and right is better). Right: frames per second of each "
          "model at each input size, float32 and int8 (higher is better; the schedule's is its effective rate over "
          "a key-frame cycle).\n",
          "![speed-accuracy](IMG:speed)\n",
          "## Benchmark (TFLite, 1 thread, interleaved)\n",
          "Latency of one inference per model, all models timed round-robin in one run so that machine noise hits "
          "them alike (schedules: per frame, averaged over a cycle).\n",
          bench_table(bench, sizes), "",
          f"Reproduce: `{done.get('benchmark', {}).get('command', '')}`\n",
          "## Video\n",
          "The networks run online over two clips, key frame every "
          f"{settings.num_frames + 1} frames and T-ViPNets in between (box tag `key` / `T1`..): left a synthetic "
          "val clip (boxes from its annotation of the first frame, then tracked from the keypoints), right the "
          "real sample video (boxes from the person detector, then tracked).\n",
          "![synthetic clip](IMG:synthetic) ![real clip](IMG:real)\n",
          HONEST_VIDEO + "\n"]
    for part, title in (("synthetic", "Synthetic clip"), ("real", "Real clip")):
        v = video.get(part)
        if v:
            det = ""
            if v.get("detector"):
                det = (f", detector {v['detector']} ({v['detector_calls']} calls, "
                       f"{100 * (v.get('detector_share') or 0):.0f}% of the per-frame time)")
            md.append(f"{title}: {v.get('frames')} frames, {v.get('fps')} FPS{det}. Reproduce: `{v.get('command')}`\n")
    text = "\n".join(md)
    md_text = re.sub(r"\(IMG:(\w+)\)", lambda m: f"({os.path.relpath(images[m.group(1)], out)})"
                     if m.group(1) in images else "(missing)", text)
    io_utils.write_text(os.path.join(out, "report.md"), md_text)
    io_utils.write_text(os.path.join(out, "report.html"), render_html(text, images))
    return {"report": os.path.join(out, "report.md"), "html": os.path.join(out, "report.html"),
            "images": sorted(images), "headline": h}


CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #1f2328;
       max-width: 1100px; margin: 2em auto; padding: 0 1.2em; line-height: 1.5; }
h1 { border-bottom: 2px solid #d0d7de; padding-bottom: .3em; }
h2 { margin-top: 2em; border-bottom: 1px solid #d0d7de; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .8em 0; font-size: .92em; }
th, td { border: 1px solid #d0d7de; padding: .35em .7em; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
tr:nth-child(even) td { background: #fbfcfd; }
code { background: #f6f8fa; padding: .1em .3em; border-radius: 4px; font-size: .88em; word-break: break-all; }
img { max-width: 100%; border: 1px solid #eaeef2; border-radius: 4px; margin: .3em .3em .3em 0; }
p.verdict { background: #fff8c5; border-left: 4px solid #d4a72c; padding: .5em .8em; margin: .4em 0; }
"""


def _inline(text):
    out = html_lib.escape(text)
    out = re.sub(r"`([^`]*)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)


def _img(alt, path):
    mime = "image/gif" if path.lower().endswith(".gif") else "image/png"
    with open(path, "rb") as f:
        data = base64.b64encode(f.read()).decode()
    return f'<img alt="{html_lib.escape(alt)}" src="data:{mime};base64,{data}">'


def render_html(text, images):
    """The report's markdown subset (headings, paragraphs, tables, images, `code`,
    **bold**) as one HTML page with inline images and CSS."""
    body, table = [], []

    def flush():
        if table:
            head, rows = table[0], table[1:]
            body.append("<table><tr>" + "".join(f"<th>{c}</th>" for c in head) + "</tr>" +
                        "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows) + "</table>")
            table.clear()

    for line in text.split("\n"):
        if line.startswith("|"):
            if set(line.replace("|", "").strip()) <= {"-"}:
                continue
            table.append([_inline(c.strip()) for c in line.strip().strip("|").split("|")])
            continue
        flush()
        imgs = re.findall(r"!\[([^\]]*)\]\(IMG:(\w+)\)", line)
        if imgs:
            body.append("<p>" + "".join(_img(alt, images[key]) for alt, key in imgs if key in images) + "</p>")
            continue
        if line.startswith("## "):
            body.append(f"<h2>{_inline(line[3:])}</h2>")
        elif line.startswith("# "):
            body.append(f"<h1>{_inline(line[2:])}</h1>")
        elif line.startswith("**Verdict:**"):
            body.append(f'<p class="verdict">{_inline(line)}</p>')
        elif line.strip():
            body.append(f"<p>{_inline(line)}</p>")
    flush()
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>vipnas-tf quickstart report</title><style>{CSS}</style></head><body>\n" +
            "\n".join(body) + "\n</body></html>\n")
