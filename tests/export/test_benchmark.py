"""Benchmark harness: interleaved timing, schedules, corrupt files, memory, CLI.

Timing numbers are never asserted (benchmarks are not timed unit tests): only the
structure of the report and the behaviour around it.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tiny_models import K, build_tiny_pose_model
from vipnas_tf import litert
from vipnas_tf.export import tflite_export

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_model, tiny_temporal_model):
    d = tmp_path_factory.mktemp("bench")
    paths = {"image": str(d / "image.tflite"), "temporal": str(d / "temporal.tflite"),
             "corrupt": str(d / "corrupt.tflite")}
    tflite_export.export_tflite(tiny_model, paths["image"])
    tflite_export.export_tflite(tiny_temporal_model, paths["temporal"])
    with open(paths["corrupt"], "wb") as f:
        f.write(b"TFL3 this is not a flatbuffer" * 10)
    sched = d / "sched"
    sched.mkdir()
    for name in ("key.tflite", "t1.tflite", "t2.tflite"):
        src = paths["image"] if name == "key.tflite" else paths["temporal"]
        os.symlink(src, sched / name)
    (sched / "manifest.json").write_text(json.dumps({
        "name": "tiny_T2", "key_model": "key.tflite", "key_macs": 1e6,
        "frame_models": [{"file": "t1.tflite", "macs": 5e5}, {"file": "t2.tflite", "macs": 5e5}],
        "key_frame_interval": 3}))
    paths["schedule"] = str(sched)
    return paths


def test_latency_stats_per_frame_for_schedules():
    s = litert.latency_stats([0.010, 0.020, 0.030], frames_per_step=1)
    assert s["p50_ms"] == pytest.approx(20.0) and s["fps"] == pytest.approx(50.0)
    c = litert.latency_stats([0.030, 0.030], frames_per_step=3)
    assert c["cycle_p50_ms"] == pytest.approx(30.0)
    assert c["p50_ms"] == pytest.approx(10.0) and c["fps"] == pytest.approx(100.0)


def test_measure_interleaved_rotates_and_counts():
    order = []

    class Fake:
        def __init__(self, n):
            self.n = n

        def step(self):
            order.append(self.n)

    times = litert.measure_interleaved([Fake(0), Fake(1), Fake(2)], runs=3, warmup=1)
    assert [len(t) for t in times] == [3, 3, 3]
    assert order[3:] == [0, 1, 2, 1, 2, 0, 2, 0, 1]


def test_primed_timing_calls_each_step_twice_and_times_the_second():
    import time

    order = []

    def step(n, seconds):
        def call():
            order.append(n)
            time.sleep(seconds)
        return call

    # Step 0 sleeps only on its first call of each pair: timed primed, it is fast.
    calls = {"n": 0}

    def first_slow():
        calls["n"] += 1
        order.append(0)
        time.sleep(0.02 if calls["n"] % 2 == 0 else 0.0)

    times = litert.interleaved_times([first_slow, step(1, 0.0)], runs=2, warmup=1, primed=True)
    assert order[2:] == [0, 0, 1, 1, 1, 1, 0, 0]
    assert [len(w) for _, w in times] == [2, 2]
    assert max(times[0][1]) < 0.01  # the timed call is the second of each pair


def test_schedule_feeds_previous_heatmaps(files, tiny_model, tiny_temporal_model):
    runner = litert.ScheduleRunner(files["schedule"])
    assert runner.frames_per_step == 3 and runner.macs == 2e6
    last = runner.step()
    # Recompute the cycle with Keras from the same inputs: key -> t1 -> t2.
    key_in = runner.key.get_tensor(runner.key.get_input_details()[0]["index"])
    interp, heat_in, _ = runner.frames[1]
    image_in = [d for d in interp.get_input_details() if d["index"] != heat_in["index"]][0]
    image = interp.get_tensor(image_in["index"])
    img1 = runner.frames[0][0].get_tensor(image_in["index"])
    h = np.asarray(tiny_model(key_in))
    h = np.asarray(tiny_temporal_model([img1, h]))
    h = np.asarray(tiny_temporal_model([image, h]))
    np.testing.assert_allclose(last, h, atol=1e-4)


def test_manifest_interval_is_checked(tmp_path, files):
    (tmp_path / "manifest.json").write_text(json.dumps(
        {"key_model": files["image"], "frame_models": [files["temporal"]], "key_frame_interval": 4}))
    with pytest.raises(ValueError, match="T \\+ 1"):
        litert.read_manifest(tmp_path)


def test_run_benchmark_reports_corrupt_model_and_measures_the_rest(files, tmp_path):
    spec = litert.BenchmarkSpec(models=[files["image"], files["corrupt"], files["temporal"]],
                                schedule_dirs=[files["schedule"]], runs=3, warmup=1,
                                measure_memory=True, macs={"image.tflite": 1e6})
    report = litert.run_benchmark(spec)
    by_name = {r["name"]: r for r in report["results"]}
    assert "cannot load TFLite model" in by_name["corrupt.tflite"]["error"]
    for name in ("image.tflite", "temporal.tflite", "tiny_T2"):
        r = by_name[name]
        assert r["p50_ms"] > 0 and r["p90_ms"] >= r["p50_ms"] and r["fps"] > 0
        assert r["peak_memory_mb"] > 0
    assert by_name["tiny_T2"]["kind"] == "schedule"
    assert by_name["image.tflite"]["gflops_per_s"] == pytest.approx(
        2e6 * by_name["image.tflite"]["fps"] / 1e9, rel=1e-3)
    png = tmp_path / "bench.png"
    litert.plot_results(report, str(png))
    assert png.stat().st_size > 1000


@pytest.mark.slow
def test_cli_prints_json(files, tmp_path):
    out = subprocess.run(
        [sys.executable, os.path.join(REPO, "tflite", "benchmark.py"),
         f"--models={files['image']},{files['corrupt']}", f"--schedule_dir={files['schedule']}",
         "--threads=1", "--runs=3", "--warmup=1", "--nomemory", "--json",
         f"--plot={tmp_path / 'p.png'}"],
        capture_output=True, text=True, timeout=120, check=True)
    report = json.loads(out.stdout[out.stdout.index("{"):])
    names = [r["name"] for r in report["results"]]
    assert names == ["image.tflite", "corrupt.tflite", "tiny_T2"]
    assert {"p50_ms", "p90_ms", "fps"} <= set(report["results"][0])
    assert "fps" in report["results"][2] and "error" in report["results"][1]
    assert (tmp_path / "p.png").exists()


def test_harness_runs_without_tensorflow(files):
    """vipnas_tf.litert imports and runs a .tflite with TensorFlow and Keras unimportable."""
    code = (
        "import sys, json\n"
        "sys.modules['tensorflow'] = None\n"
        "sys.modules['keras'] = None\n"
        "import numpy as np\n"
        "from vipnas_tf import litert\n"
        "from vipnas_tf.litert import benchmark, interpreter, memory, plots, runners, timing\n"
        "r = litert.ModelRunner(sys.argv[1])\n"
        "times = litert.measure_interleaved([r], runs=2, warmup=1)\n"
        "x = np.ones([1] + r.info()['inputs'][0]['shape'][1:], np.float32)\n"
        "out = litert.run_tflite(sys.argv[1], [x])[0]\n"
        "print(json.dumps({'runs': len(times[0]), 'shape': list(out.shape)}))\n")
    out = subprocess.run([sys.executable, "-c", code, files["image"]], capture_output=True, text=True,
                         timeout=120, check=False, env=dict(os.environ, PYTHONPATH=REPO))
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["runs"] == 2 and result["shape"][-1] == K


def test_report_names_its_files_by_absolute_path_and_its_machine(files, monkeypatch):
    """A report is read from elsewhere (the LiteRT cross-check, plots): its paths must
    not depend on the directory the benchmark ran in."""
    folder = os.path.dirname(files["image"])
    monkeypatch.chdir(folder)
    report = litert.run_benchmark(litert.BenchmarkSpec(
        models=["image.tflite"], schedule_dirs=[os.path.relpath(files["schedule"], folder)], runs=1, warmup=0,
        measure_memory=False))
    model, sched = report["results"]
    assert model["path"] == os.path.abspath(files["image"])
    assert sched["path"] == os.path.abspath(files["schedule"])
    assert all(os.path.isabs(p) and os.path.isfile(p) for p in [sched["key_model"], *sched["frame_models"]])
    assert {"cpu", "cpu_flags_hash", "ai_edge_litert", "date"} <= set(report["machine"])


@pytest.mark.skipif(not os.path.exists("/proc/cpuinfo"), reason="reads /proc/cpuinfo")
def test_machine_info_tells_cpu_generations_apart():
    """Hypervisors show two AMD EPYC generations under one model name; the CPU family,
    model and stepping of /proc/cpuinfo are what tell them apart."""
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        family = next((line.split(":", 1)[1].strip() for line in f if line.startswith("cpu family")), None)
    info = litert.machine_info()
    if family is None:
        assert info["cpuid"] == ""
    else:
        assert info["cpuid"].startswith(f"family {family} model ")


def test_describe_machine_names_cpu_generation_flags_litert_and_date():
    machine = {"cpu": "AMD EPYC", "cpuid": "family 26 model 2 stepping 1", "cpu_flags_hash": "311d8161239e",
               "ai_edge_litert": "2.3.0", "date": "2026-12-02"}
    assert litert.describe_machine(machine) == \
        "AMD EPYC (family 26 model 2 stepping 1), flags 311d8161239e, LiteRT 2.3.0, 2026-12-02"
    assert litert.describe_machine({"cpu": "AMD EPYC", "date": "2026-12-01"}) == "AMD EPYC, 2026-12-01"
    assert litert.describe_machine(litert.machine_info()).endswith(litert.machine_info()["date"])
