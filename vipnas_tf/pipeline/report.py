"""The quickstart report: report.md and report.html (images inline), from the step folders.

Figures: training curves, the spatial search's Pareto front, the chosen architectures
drawn per stage (paper Fig. 5 style), a speed-accuracy chart (Fig. 1 style), the
benchmark table, a strip of overlay-video frames; each with the command that
reproduces it.
"""
import base64
import os
import re

import numpy as np

from vipnas_tf.utils import io as io_utils


def _ap(value):
    """An AP for the report: 4 decimals (None stays None)."""
    return None if value is None else f"{float(value):.4f}"


def _plt():
    import matplotlib  # pylint: disable=import-outside-toplevel

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

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
    """[(label, width, depth, kernel, groups, attention)] per stage of a compact arch string."""
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


def speed_accuracy(bench, evaluation, path):
    plt = _plt()
    fps = {r["name"]: r.get("fps") for r in bench.get("results", []) if "fps" in r}
    fig, ax = plt.subplots(figsize=(6, 4))
    pts = []
    for name, label, key in (("s_vipnet_float32.tflite", "S-ViPNet every frame (fp32)", "s_vipnet_per_frame_map_nonkey"),
                             ("s_vipnet_int8.tflite", "S-ViPNet every frame (int8)", "s_vipnet_per_frame_map_nonkey")):
        if name in fps and key in evaluation:
            pts.append((fps[name], evaluation[key], label))
    for name, value in fps.items():
        if name.startswith("t_vipnas") and "schedule_map_nonkey" in evaluation:
            pts.append((value, evaluation["schedule_map_nonkey"], f"T-ViPNAS schedule ({name.rsplit('_', 1)[-1]})"))
    for x, y, label in pts:
        ax.scatter([x], [y], s=60, label=label)
    if "sbl_mbv3_float32.tflite" in fps:
        ax.axvline(fps["sbl_mbv3_float32.tflite"], ls="--", c="gray", label="SimpleBaseline-MobileNetV3 fp32 (speed only)")
    ax.set_xlabel("FPS (TFLite, 1 thread, this machine)")
    ax.set_ylabel("PoseTrack mAP, non-key frames (synthetic val)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def video_strip(video_path, path, count=6):
    import cv2  # pylint: disable=import-outside-toplevel

    cap = cv2.VideoCapture(video_path)
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 0
    frames = []
    for idx in np.linspace(0, max(n - 1, 0), count).astype(int):
        cap.set(cv2.CAP_PROP_POS_FRAMES, int(idx))
        ok, frame = cap.read()
        if ok:
            h = 180
            frames.append(cv2.resize(frame, (int(frame.shape[1] * h / frame.shape[0]), h)))
    cap.release()
    if not frames:
        return None
    tmp = path + ".tmp.png"
    cv2.imwrite(tmp, np.hstack(frames))
    os.replace(tmp, path)
    return path


def bench_table(bench):
    lines = ["| model | p50 ms | p90 ms | FPS | GFLOP/s |", "|---|---|---|---|---|"]
    for r in bench.get("results", []):
        if "error" in r:
            lines.append(f"| {r['name']} | error: {r['error']} | | | |")
            continue
        g = r.get("gflops_per_s")
        lines.append(f"| {r['name']} | {r['p50_ms']:.2f} | {r['p90_ms']:.2f} | {r['fps']:.1f} | "
                     f"{'' if g is None else f'{g:.1f}'} |")
    return "\n".join(lines)


def write_report(out, d, folder, settings):
    done = {n: _read(os.path.join(p, "DONE.json"), {}) for n, p in d.items()}
    schedule = _read(os.path.join(d["temporal_search"], "schedule.json"), {})
    bench = _read(os.path.join(d["benchmark"], "benchmark.json"), {})
    evaluation = _read(os.path.join(d["evaluate"], "evaluation.json"), {})
    images = {}
    images["curves"] = training_curves(d, os.path.join(folder, "training_curves.png"))
    pareto = os.path.join(d["spatial_search"], "pareto.png")
    if os.path.exists(pareto):
        images["pareto"] = pareto
    if schedule:
        images["archs"] = architecture_figure(schedule, os.path.join(folder, "architectures.png"))
    if bench and evaluation:
        images["speed"] = speed_accuracy(bench, evaluation, os.path.join(folder, "speed_accuracy.png"))
    overlay = os.path.join(d["video"], "overlay.mp4")
    if os.path.exists(overlay):
        strip = video_strip(overlay, os.path.join(folder, "video_strip.png"))
        if strip:
            images["strip"] = strip
    sn = done.get("supernet", {})
    last = (sn.get("train") or {}).get("last", {})
    hw = f"{settings.input_size[0]}x{settings.input_size[1]}"
    times = "\n".join(f"| {n} | {v.get('seconds', '')} |" for n, v in done.items() if v)
    plateau = ""
    if max(float(last.get("val_ap_max") or 0), float(last.get("val_ap_min") or 0)) < 0.05:
        plateau = (" APs this close to 0 mean the networks are still on the mean-pose plateau that training "
                   "from scratch starts on (~1000 updates; see the README's \"What the quickstart's accuracy "
                   "numbers mean\"): the accuracy comparisons below are noise-level.")
    md = ["# vipnas-tf quickstart report\n",
          f"Synthetic data, {settings.space} space, input {hw}, T = {settings.num_frames}. "
          "Everything below was measured in this run on this machine.\n",
          "## Step times (seconds)\n", "| step | seconds |", "|---|---|", times, "",
          "## Training curves\n", "![training curves](IMG:curves)\n",
          f"Super-network validation AP (COCO metric, synthetic val): biggest {_ap(last.get('val_ap_max'))}, "
          f"smallest {_ap(last.get('val_ap_min'))}; untrained biggest {_ap(sn.get('untrained_ap'))}.{plateau}\n",
          f"Reproduce: `{sn.get('command', '')}`\n",
          "## Spatial search: Pareto front\n", "![pareto](IMG:pareto)\n",
          f"Best S-ViPNet `{done.get('spatial_search', {}).get('arch')}`: AP {_ap(done.get('spatial_search', {}).get('ap'))}, "
          f"{done.get('spatial_search', {}).get('paper_gflops')} GFLOPs.\n",
          f"Reproduce: `{done.get('spatial_search', {}).get('command', '')}`\n",
          "## Key S-ViPNet: COCO -> PoseTrack18 keypoint layout\n",
          f"The S-ViPNet fine-tuned on the COCO images is fine-tuned again on the synthetic PoseTrack18 clips' "
          f"frames ({(done.get('posetrack_finetune', {}).get('train') or {}).get('final_step')} steps): nose, ears "
          f"and body joints carry over, head_bottom and head_top start fresh. The T-ViPNets and the schedule "
          f"(keypoint layout `{schedule.get('keypoint_layout')}`) are built on it.\n",
          f"Reproduce: `{done.get('posetrack_finetune', {}).get('command', '')}`\n",
          "## The chosen architectures (per stage)\n", "![architectures](IMG:archs)\n",
          f"Schedule: key-frame interval {schedule.get('key_frame_interval')}, average {schedule.get('avg_gflops')} "
          f"GFLOPs per frame (non-key {schedule.get('avg_gflops_nonkey')}).\n",
          f"Reproduce: `{done.get('temporal_search', {}).get('command', '')}`\n",
          "## Accuracy on the synthetic val clips (PoseTrack mAP, non-key frames)\n",
          f"| model | mAP | GFLOPs/frame |\n|---|---|---|\n"
          f"| T-ViPNAS schedule (T={settings.num_frames}) | {evaluation.get('schedule_map_nonkey')} | "
          f"{evaluation.get('schedule_avg_gflops')} |\n"
          f"| S-ViPNet on every frame | {evaluation.get('s_vipnet_per_frame_map_nonkey')} | "
          f"{evaluation.get('s_vipnet_gflops')} |\n",
          "## Speed and accuracy\n", "![speed-accuracy](IMG:speed)\n",
          "## Benchmark (TFLite, 1 thread, interleaved)\n", bench_table(bench), "",
          f"Reproduce: `{done.get('benchmark', {}).get('command', '')}`\n",
          "## Video\n", "![video strip](IMG:strip)\n",
          f"Frames: {done.get('video', {}).get('frames')}, FPS: {done.get('video', {}).get('fps')}. "
          f"Reproduce: `{done.get('video', {}).get('command', '')}`\n"]
    text = "\n".join(md)
    md_text = re.sub(r"\(IMG:(\w+)\)", lambda m: f"({os.path.relpath(images[m.group(1)], out)})"
                     if m.group(1) in images else "(missing)", text)
    io_utils.write_text(os.path.join(out, "report.md"), md_text)
    io_utils.write_text(os.path.join(out, "report.html"), _html(text, images))
    return {"report": os.path.join(out, "report.md"), "html": os.path.join(out, "report.html"),
            "images": sorted(images)}


def _html(text, images):
    import html as html_lib  # pylint: disable=import-outside-toplevel

    body = []
    table = []
    for line in text.split("\n"):
        if line.startswith("|"):
            if set(line.replace("|", "").strip()) <= {"-"}:
                continue
            cells = [html_lib.escape(c.strip()) for c in line.strip("|").split("|")]
            table.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
            continue
        if table:
            body.append("<table border=1 cellpadding=4>" + "".join(table) + "</table>")
            table = []
        m = re.match(r"!\[(.*)\]\(IMG:(\w+)\)", line)
        if m:
            p = images.get(m.group(2))
            if p:
                data = base64.b64encode(open(p, "rb").read()).decode()
                body.append(f'<img alt="{m.group(1)}" src="data:image/png;base64,{data}" style="max-width:100%">')
            continue
        if line.startswith("## "):
            body.append(f"<h2>{html_lib.escape(line[3:])}</h2>")
        elif line.startswith("# "):
            body.append(f"<h1>{html_lib.escape(line[2:])}</h1>")
        elif line.strip():
            body.append("<p>" + re.sub(r"`([^`]*)`", r"<code>\1</code>", html_lib.escape(line)) + "</p>")
    if table:
        body.append("<table border=1 cellpadding=4>" + "".join(table) + "</table>")
    return "<!doctype html><html><head><meta charset='utf-8'><title>vipnas-tf report</title></head><body>" + \
        "\n".join(body) + "</body></html>"
