"""The benchmark report's bar chart (matplotlib, imported when a chart is drawn)."""
import os
from typing import Dict

from vipnas_tf.litert.benchmark import describe_machine


def plot_results(report: Dict, path: str, title: str = ""):
    """Bar chart of FPS (label: p50 ms) per model; failed models are listed as such. The
    default title names the machine of the report (CPU, flags hash, LiteRT, date)."""
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

    results = report["results"]
    names = [r["name"] for r in results]
    fps = [r.get("fps", 0.0) for r in results]
    colors = ["tab:orange" if r.get("kind") == "schedule" else
              ("tab:gray" if "error" in r else "tab:blue") for r in results]
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(names) + 2), 4.5))
    bars = ax.bar(range(len(names)), fps, color=colors)
    for bar, r in zip(bars, results):
        label = "error" if "error" in r else f"{r['fps']:.1f} FPS\n{r['p50_ms']:.1f} ms"
        ax.annotate(label, (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("FPS = 1000 / p50 ms\n(schedules: effective)")
    where = describe_machine(report.get("machine", {}))
    ax.set_title(title or f"LiteRT + XNNPACK, {report['threads']} thread(s), "
                 f"{report['runs']} interleaved runs" + (f"\n{where}" if where else ""))
    ax.margins(y=0.2)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
