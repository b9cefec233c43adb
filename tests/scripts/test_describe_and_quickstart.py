import json
import os
import subprocess
import sys

import pytest

from vipnas_tf.pipeline import steps as steps_lib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(*args):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name,gflops,mparams", [("s_vipnas_mbv3", 0.69, 5.90), ("s_vipnas_res50", 1.44, 7.29), ("sbl_res50", 8.99, 34.0)])
@pytest.mark.slow
def test_describe_json_figures(name, gflops, mparams):
    out = _run("scripts/describe.py", f"--arch={name}", "--json")
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert {"arch", "space", "macs", "params", "paper_gflops"} <= set(d)
    assert abs(d["paper_gflops"] - gflops) / gflops <= 0.03
    assert abs(d["params"] / 1e6 - mparams) / mparams <= 0.03


@pytest.mark.slow
def test_describe_unknown_preset_lists_presets():
    out = _run("scripts/describe.py", "--arch=resnet9000", "--json")
    assert out.returncode == 2
    assert "s_vipnas_mbv3" in out.stderr and "sbl_res50" in out.stderr


@pytest.mark.slow
def test_describe_accepts_json_file_and_reports_outside_space(tmp_path):
    from vipnas_tf.arch import resolve_arch, save_arch

    path = tmp_path / "a.json"
    save_arch(resolve_arch("sbl_mbv3"), path)
    d = json.loads(_run("scripts/describe.py", f"--arch={path}", "--json").stdout)
    assert d["in_space"] is False and d["preset"] == "sbl_mbv3"


def test_steps_skip_completed_and_redo_interrupted(tmp_path):
    calls = []

    def ok(folder):
        calls.append("ok")
        return {"x": 1}

    def boom(folder):
        calls.append("boom")
        open(os.path.join(folder, "partial"), "w").close()
        raise RuntimeError("killed")

    logs = []
    with pytest.raises(RuntimeError):
        steps_lib.run_steps(tmp_path, [steps_lib.Step("a", ok, "a"), steps_lib.Step("b", boom, "b")], log=logs.append)
    assert os.path.exists(tmp_path / "01_a" / "DONE.json")
    assert not os.path.exists(tmp_path / "02_b" / "DONE.json")
    summaries = steps_lib.run_steps(tmp_path, [steps_lib.Step("a", ok, "a"), steps_lib.Step("b", ok, "b")], log=logs.append)
    assert calls == ["ok", "boom", "ok"]
    assert summaries["a"]["x"] == 1
    assert any("already complete" in l for l in logs) and any("resuming an interrupted step" in l for l in logs)


@pytest.mark.slow
def test_describe_schedule_recomputes_frames_and_checks_budget(tmp_path):
    from vipnas_tf.arch import get_space, resolve_arch
    from vipnas_tf.temporal.frame_arch import FrameArch, frame_cost
    from vipnas_tf.temporal.schedule import Schedule

    space = get_space("mobilenetv3")
    frames = [FrameArch(space.min(), "add", 6), FrameArch(space.min(), "cat", 2)]
    size = (64, 64)
    costs = [frame_cost(f, size) for f in frames]
    total = sum(c.paper_gflops for c in costs)
    paths = {}
    for name, budget in (("ok", total * 1.01), ("over", total * 0.9)):
        sched = Schedule.from_archs(resolve_arch("s_vipnas_mbv3"), frames, size,
                                    extra={"budget_total_gflops": budget})
        paths[name] = str(tmp_path / f"{name}.json")
        sched.save(paths[name])
    out = _run("scripts/describe.py", f"--schedule={paths['ok']}", "--json")
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert [f["fusion_op"] for f in d["frames"]] == ["add", "cat"]
    for f, c in zip(d["frames"], costs):
        assert f["macs"] == c.macs and 0 < f["fusion_paper_gflops"] < f["paper_gflops"]
    assert d["within_budget"] is True and abs(d["total_gflops_nonkey"] - total) < 1e-6
    over = _run("scripts/describe.py", f"--schedule={paths['over']}")
    assert over.returncode == 1 and "OVER" in over.stdout
    missing = _run("scripts/describe.py", f"--schedule={tmp_path / 'nope.json'}")
    assert missing.returncode == 2 and "nope.json" in missing.stderr


def _fake_run(root):
    """Step folders of a quickstart run with the files the report reads (no training)."""
    from tests.runtime import helpers
    from vipnas_tf.search.spatial import CSV_FIELDS

    names = ["synthetic_data", "supernet", "spatial_search", "finetune", "posetrack_finetune", "temporal",
             "temporal_search", "export", "benchmark", "evaluate", "video", "report"]
    d = {n: root / f"{i + 1:02d}_{n}" for i, n in enumerate(names)}
    for p in d.values():
        p.mkdir(parents=True)
    sched = helpers.schedule(num_frames=3)
    sched.save(d["temporal_search"] / "schedule.json")
    key = sched.to_dict()["key"]
    (d["supernet"] / "DONE.json").write_text(json.dumps(
        {"train": {"last": {"val_ap_max": 0.0626, "val_ap_min": 0.0248}}, "untrained_ap": 0.0, "command": "train"}))
    # candidates: (GFLOPs, AP); the front is (0.012, 0.044), (0.02, 0.05), (0.03, 0.09): two with AP >= 0.045
    rows = [(0.012, 0.044), (0.02, 0.05), (0.025, 0.01), (0.03, 0.09), (0.04, 0.08)]
    lines = [",".join(CSV_FIELDS)] + [f"{i},a{i},1,{g},1,,{ap},1,x" for i, (g, ap) in enumerate(rows)]
    lines.append(f"5,p,1,0.05,1,,0.5,0,preset:s_vipnas_mbv3")  # a preset: not a searched candidate
    (d["spatial_search"] / "candidates.csv").write_text("\n".join(lines) + "\n")
    (d["spatial_search"] / "DONE.json").write_text(json.dumps(
        {"arch": key["arch"], "ap": 0.044, "paper_gflops": key["paper_gflops"], "budget": {"limit": 0.02},
         "command": "search"}))
    (d["evaluate"] / "evaluation.json").write_text(json.dumps(
        {"schedule_map_nonkey": 15.0, "s_vipnet_per_frame_map_nonkey": 16.9}))
    results = [("s_vipnet_float32.tflite", 2000.0), ("s_vipnet_int8.tflite", 2500.0), ("t_vipnas_T3_float32", 1900.0),
               ("t_vipnas_T3_int8", 2600.0), ("sbl_mbv3_float32.tflite", 300.0),
               ("s_vipnet_float32_256x192.tflite", 150.0), ("t_vipnas_T3_float32_256x192", 240.0),
               ("sbl_mbv3_int8_256x192.tflite", 40.0)]
    (d["benchmark"] / "benchmark.json").write_text(json.dumps({"results": [
        {"name": n, "fps": f, "p50_ms": 1e3 / f, "p90_ms": 1e3 / f} for n, f in results]}))
    helpers.write_clip(d["video"] / "synthetic_overlay.mp4", num_frames=6)
    helpers.write_clip(d["video"] / "overlay.mp4", num_frames=4)
    (d["video"] / "DONE.json").write_text(json.dumps(
        {"synthetic": {"frames": 6, "fps": 50.0, "command": "infer synthetic"},
         "real": {"frames": 4, "fps": 9.0, "detector": "hog", "detector_calls": 1, "detector_share": 0.6,
                  "command": "infer real"}}))
    return {n: str(p) for n, p in d.items()}, sched


def test_report_headline_and_self_contained_html(tmp_path):
    """The headline numbers (and summary.json's copy of them), the verdicts on weak
    results, and a report.html that needs no other file."""
    import re

    from vipnas_tf.pipeline.headline import headline
    from vipnas_tf.pipeline.quickstart import QuickstartSettings
    from vipnas_tf.pipeline.report import write_report

    d, sched = _fake_run(tmp_path)
    settings = QuickstartSettings(space="mobilenetv3")  # the fake run's schedule is of that space
    h = headline(d, settings)
    assert (h["untrained_ap"], h["biggest_ap"], h["smallest_ap"]) == (0.0, 0.0626, 0.0248)
    assert (h["pareto_candidates"], h["pareto_half_best"]) == (3, 2)
    assert (h["candidates"], h["candidates_half_best"]) == (5, 3)
    sv = h["s_vipnet"]
    assert sv["budget_gflops"] == 0.02 and sv["space_min_gflops"] <= sv["gflops"] < sv["space_max_gflops"]
    assert 0 <= sv["budget_position"] <= 1 and sv["budget_used"] == round(sv["gflops"] / 0.02, 3)
    assert h["fps"]["64x64"] == {"s_vipnet_float32": 2000.0, "s_vipnet_int8": 2500.0, "schedule_float32": 1900.0,
                                 "schedule_int8": 2600.0, "sbl_mbv3_float32": 300.0}
    assert h["fps"]["256x192"]["schedule_float32"] == 240.0 and h["fps"]["256x192"]["sbl_mbv3_int8"] == 40.0
    desc = sched.describe()
    assert h["schedule_gflops_nonkey"] == desc["avg_gflops_nonkey"] and h["s_vipnet_gflops"] == desc["key"]["paper_gflops"]
    g = h["gflops"]["256x192"]
    assert g["s_vipnet"] > 10 * h["gflops"]["64x64"]["s_vipnet"] and g["sbl_mbv3"] > g["s_vipnet"]
    verdicts = " ".join(h["verdicts"])
    assert "At 64x64 (float32) the schedule is not faster" in verdicts and "less accurate" in verdicts
    assert "256x192 (float32)" not in verdicts  # faster there

    folder = tmp_path / "12_report"
    summary = write_report(str(tmp_path), d, str(folder), settings)
    assert summary["headline"]["pareto_half_best"] == 2
    page = (tmp_path / "report.html").read_text()
    assert not re.search(r"(src|href)=[\"'](https?:|//|[^\"'#]*\.(png|gif|css|js))", page)
    assert "<link" not in page and "<script" not in page and "<style>" in page
    assert page.count("data:image/gif;base64,") == 2 and page.count("data:image/png;base64,") >= 2
    # every section opens with a sentence
    for section in re.findall(r"<h2>.*?</h2>\s*(<\w+)", page):
        assert section == "<p", section
    assert page.index("Headline") < page.index("Step times")
    assert "0.0626" in page and 'class="verdict"' in page and "mmpose checkpoints" in page
    md = (tmp_path / "report.md").read_text()
    assert "12_report/overlay.gif" in md and "12_report/synthetic_overlay.gif" in md and "2 of 3" in md
def test_quickstart_fine_tunes_the_key_model_on_posetrack_before_the_temporal_step(tmp_path):
    from vipnas_tf.pipeline.quickstart import QuickstartSettings, build_steps

    names = [s.name for s in build_steps(str(tmp_path), QuickstartSettings())]
    assert names.index("finetune") + 1 == names.index("posetrack_finetune") == names.index("temporal") - 1
    assert names[-1] == "report" and len(names) == 12  # folders 01_synthetic_data .. 12_report
    flags = open(os.path.join(ROOT, "configs", "quickstart_posetrack_finetune.flags")).read().split("\n")
    assert {"--mode=standalone", "--input_size=64x64", "--synthetic_set=posetrack"} <= set(flags)
    recipe = open(os.path.join(ROOT, "configs", "posetrack_finetune.flags")).read().split("\n")
    assert {"--epochs=20", "--learning_rate=1e-4", "--lr_decay_at=0.5,0.75", "--input_size=256x192"} <= set(recipe)
