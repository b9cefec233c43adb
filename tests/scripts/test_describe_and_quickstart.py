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
def test_describe_json_figures(name, gflops, mparams):
    out = _run("scripts/describe.py", f"--arch={name}", "--json")
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert {"arch", "space", "macs", "params", "paper_gflops"} <= set(d)
    assert abs(d["paper_gflops"] - gflops) / gflops <= 0.03
    assert abs(d["params"] / 1e6 - mparams) / mparams <= 0.03


def test_describe_unknown_preset_lists_presets():
    out = _run("scripts/describe.py", "--arch=resnet9000", "--json")
    assert out.returncode == 2
    assert "s_vipnas_mbv3" in out.stderr and "sbl_res50" in out.stderr


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


def test_quickstart_fine_tunes_the_key_model_on_posetrack_before_the_temporal_step(tmp_path):
    from vipnas_tf.pipeline.quickstart import QuickstartSettings, build_steps

    names = [s.name for s in build_steps(str(tmp_path), QuickstartSettings())]
    assert names.index("finetune") + 1 == names.index("posetrack_finetune") == names.index("temporal") - 1
    assert names[-1] == "report" and len(names) == 12  # folders 01_synthetic_data .. 12_report
    flags = open(os.path.join(ROOT, "configs", "quickstart_posetrack_finetune.flags")).read().split("\n")
    assert {"--mode=standalone", "--input_size=64x64", "--synthetic_set=posetrack"} <= set(flags)
    recipe = open(os.path.join(ROOT, "configs", "posetrack_finetune.flags")).read().split("\n")
    assert {"--epochs=20", "--learning_rate=1e-4", "--lr_decay_at=0.5,0.75", "--input_size=256x192"} <= set(recipe)
