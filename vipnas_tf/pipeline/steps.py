"""Resumable steps of the main job.

Each step writes into its own folder under the run directory and, when it finishes,
a `DONE.json` marker (written atomically, last). A re-run skips a step whose marker
exists and says so; an interrupted step leaves no marker and is redone, while the
steps before it stay intact.

Today the job covers what the project can do so far (synthetic data, the architecture
table of presets and spaces); training, search, temporal models, export and the
benchmark join as their capabilities land.
"""
import dataclasses
import os
import time
from typing import Callable, List

from vipnas_tf.arch.describe import describe
from vipnas_tf.arch.presets import list_presets
from vipnas_tf.arch.space import get_space, list_spaces
from vipnas_tf.data.synthetic import generate
from vipnas_tf.utils import io as io_utils

MARKER = "DONE.json"


@dataclasses.dataclass
class Step:
    name: str
    run: Callable[[str], dict]  # folder -> summary dict
    description: str


def step_folders(out_dir, steps: List[Step]):
    """{step name: its folder OUT/NN_name} (NN counts from 01 in the steps' order)."""
    return {step.name: os.path.join(out_dir, f"{i:02d}_{step.name}") for i, step in enumerate(steps, 1)}


def run_steps(out_dir, steps: List[Step], log=print):
    """Runs `steps` in order under `out_dir`, skipping completed ones; returns summaries."""
    os.makedirs(out_dir, exist_ok=True)
    summaries = {}
    folders = step_folders(out_dir, steps)
    for i, step in enumerate(steps, 1):
        folder = folders[step.name]
        marker = os.path.join(folder, MARKER)
        if os.path.exists(marker):
            summaries[step.name] = io_utils.read_json(marker)
            log(f"[{i}/{len(steps)}] {step.name}: already complete, skipping ({marker})")
            continue
        if os.path.isdir(folder) and os.listdir(folder):
            log(f"[{i}/{len(steps)}] {step.name}: resuming an interrupted step in {folder}")
        else:
            log(f"[{i}/{len(steps)}] {step.name}: {step.description}")
        os.makedirs(folder, exist_ok=True)
        t0 = time.time()
        summary = dict(step.run(folder) or {})
        summary["seconds"] = round(time.time() - t0, 2)
        io_utils.write_json(marker, summary)
        summaries[step.name] = summary
    return summaries


def synthetic_data_step(images, clips, frames, seed=0):
    def run(folder):
        return generate(folder, images=images, clips=clips, frames=frames, seed=seed, progress=True)

    return Step("synthetic_data", run, f"generating {images} images and {clips} clips of {frames} frames")


def architectures_step(input_size=(256, 192)):
    def run(folder):
        rows = [describe(p, input_size) for p in list_presets()]
        for s in list_spaces():
            space = get_space(s)
            for which in ("max", "min"):
                row = describe(getattr(space, which)(), input_size)
                row["preset"] = f"{s}.{which}"
                rows.append(row)
        io_utils.write_json(os.path.join(folder, "architectures.json"), rows)
        lines = ["| model | space | paper GFLOPs | GMACs | params (M) | in space |", "|---|---|---|---|---|---|"]
        for r in rows:
            lines.append(
                f"| {r['preset']} | {r['space']} | {r['paper_gflops']:.3f} | {r['gmacs']:.3f} | {r['mparams']:.2f} | {r['in_space']} |"
            )
        io_utils.write_text(os.path.join(folder, "architectures.md"), "\n".join(lines) + "\n")
        return {"architectures": len(rows)}

    return Step("architectures", run, "describing presets and search-space extremes")
