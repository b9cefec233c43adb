"""Deployment library and `tflite/convert.py`: single models, schedules, bad input."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tiny_models import K, build_tiny_pose_model, sample_inputs, tiny_frame_factory
from vipnas_tf import litert
from vipnas_tf.export import convert as convert_lib, deploy, parity
from vipnas_tf.export.schedule_export import convert_schedule
from vipnas_tf.litert import run_tflite
from vipnas_tf.temporal.schedule import SCHEDULE_FORMAT, Schedule

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))


def _cli(args, timeout=600):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, HERE, os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, os.path.join(REPO, "tflite", "convert.py"), *args],
                          capture_output=True, text=True, timeout=timeout, env=env, check=False)


def _json(stdout):
    return json.loads(stdout[stdout.index("{"):])


# ------------------------------------------------------------------------------ library


def test_convert_float32_reports_parity(tiny_model, tmp_path):
    path = tmp_path / "m.tflite"
    fb, summary = convert_lib.convert(tiny_model, "float32", str(path))
    assert path.read_bytes() == fb and summary["size_bytes"] == len(fb)
    p = summary["parity"]
    assert p["max_abs_diff"] <= 1e-4 and p["argmax_identical"] and p["keypoint_error_px"] == 0.0
    assert summary["layers"]["batch_norm"] == 0 and summary["lowered"]


def test_convert_with_decode_outputs_keypoints(tiny_model):
    fb, _ = convert_lib.convert(tiny_model, "float16", decode=True)
    outs = run_tflite(fb, sample_inputs(tiny_model))
    assert [o.shape for o in outs] == [(1, 8, 6, K), (1, K, 2), (1, K)]


@pytest.mark.parametrize("mode", ["int8", "qat"])
def test_int8_and_qat_without_data_are_refused(tiny_model, mode):
    with pytest.raises(ValueError, match="needs real input crops"):
        convert_lib.convert(tiny_model, mode)


def test_compare_heatmaps_keypoint_error():
    ref = np.zeros((1, 8, 6, 2), np.float32)
    ref[0, 2, 1, 0] = ref[0, 5, 4, 1] = 1.0
    got = ref.copy()
    got[0, 2, 1, 0], got[0, 2, 3, 0] = 0.0, 1.0  # keypoint 0 moves 2 cells right = 8 px
    r = parity.compare_heatmaps(ref, got, (32, 24))
    assert r["keypoint_error_px"] == pytest.approx(4.0)  # (8 + 0) / 2
    assert r["argmax_agreement"] == 0.5 and not r["argmax_identical"]


def _valid_schedule(num_frames, size=(64, 64)):
    """A schedule.json dict that `Schedule.load` accepts: s_vipnas_mbv3 key frames and
    frame architectures sampled from its temporal space."""
    from vipnas_tf.arch import arch_cost, resolve_arch
    from vipnas_tf.arch.space import get_space
    from vipnas_tf.temporal.frame_arch import TemporalSpace, frame_cost

    key = resolve_arch("s_vipnas_mbv3")
    frames = TemporalSpace(get_space(key.space), max_arch=key).sample(np.random.default_rng(0), num_frames)
    kc = arch_cost(key, size)
    return {"format": SCHEDULE_FORMAT, "space": key.space, "input_size": list(size),
            "num_frames": num_frames,
            "key": {"arch": key.to_string(), "model_dir": None, "paper_gflops": kc.paper_gflops,
                    "macs": kc.macs},
            "frames": [dict(f.to_dict(), paper_gflops=frame_cost(f, size).paper_gflops,
                            macs=frame_cost(f, size).macs) for f in frames],
            "model_dir": None, "key_frame_interval": num_frames + 1}


def _schedule(num_frames, keypoint_layout=None):
    """A `Schedule` of `_valid_schedule` (64x64)."""
    return Schedule.from_dict(dict(_valid_schedule(num_frames), keypoint_layout=keypoint_layout))


def _write(path, data):
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("mode", ["float32", "int8"])
@pytest.mark.slow
def test_convert_schedule_generic(tiny_model, tmp_path, mode):
    """Schedule conversion over any 'frame i -> two-input model' callable; the folder
    is what the benchmark's ScheduleRunner reads."""
    size = (64, 64)
    key = build_tiny_pose_model(size=size)
    frames = [build_tiny_pose_model(size=size, seed=20 + i, with_prev_heatmaps=True) for i in range(2)]
    images = sample_inputs(key, 6, seed=1)[0]
    out = tmp_path / "sched"
    schedule = _schedule(2, keypoint_layout="posetrack18")
    result = convert_schedule(schedule, key, lambda i: frames[i], out, mode,
                              calibration_images=images if mode == "int8" else None,
                              eval_images=images[:3], progress=False)
    assert sorted(os.listdir(out)) == ["frame1.json", "frame1.tflite", "frame2.json", "frame2.tflite",
                                       "key.json", "key.tflite", "manifest.json"]
    assert not [p for p in os.listdir(tmp_path) if ".tmp-" in p]
    manifest = litert.read_manifest(out)
    assert manifest["key_frame_interval"] == 3 and manifest["quantization"] == mode
    costs = schedule.describe()  # the manifest's costs are the cost model's
    assert manifest["heatmap_input"] == "prev_heatmaps" and manifest["key_macs"] == costs["key"]["macs"]
    assert [f["macs"] for f in manifest["frame_models"]] == [f["macs"] for f in costs["frames"]]
    assert manifest["key_arch"] == schedule.key_arch.to_string() and manifest["input_size"] == list(size)
    assert manifest["keypoint_layout"] == "posetrack18" and result["keypoint_layout"] == "posetrack18"
    assert all(m["keypoint_layout"] == "posetrack18" for m in result["models"])
    runner = litert.ScheduleRunner(out)
    assert runner.step().shape == (1, 16, 16, K)
    parity = [m["parity"] for m in result["models"]]
    if mode == "float32":
        assert all(p["max_abs_diff"] <= 1e-4 and p["argmax_identical"] for p in parity)
    else:
        # Each frame model is compared with its float twin fed the float chain's heatmaps.
        assert all(p["max_abs_diff"] <= 0.1 * p["output_scale"] for p in parity)


def test_manifest_costs_are_the_schedules_at_the_converted_size(tmp_path):
    """Converted at another input size, the manifest's costs are the cost model's there;
    at a size the cost model has no figures for (not a multiple of 32), they are null."""
    import dataclasses

    from vipnas_tf.export.schedule_export import write_manifest

    schedule = _schedule(2, keypoint_layout="coco")
    files = ["key.tflite", "frame1.tflite", "frame2.tflite"]
    m = write_manifest(tmp_path, schedule, files, name="s", input_size=(128, 96))
    want = dataclasses.replace(schedule, input_size=(128, 96)).describe()
    assert m["key_macs"] == want["key"]["macs"] > schedule.describe()["key"]["macs"]
    assert [f["gflops"] for f in m["frame_models"]] == [f["paper_gflops"] for f in want["frames"]]
    assert m["input_size"] == [128, 96] and m["keypoint_layout"] == "coco"
    assert litert.read_manifest(tmp_path)["key_frame_interval"] == 3
    odd = write_manifest(tmp_path, schedule, files, name="s", input_size=(32, 24))
    assert odd["key_macs"] is None and "avg_gflops" not in odd
    assert odd["frame_models"][0]["arch"] == schedule.frames[0].to_dict()["arch"]


def test_convert_schedule_int8_without_data_is_refused(tiny_model, tmp_path):
    with pytest.raises(ValueError, match="needs real input crops"):
        convert_schedule(_schedule(1), tiny_model, lambda i: None, tmp_path / "s", "int8")
    assert not (tmp_path / "s").exists()


def test_failed_schedule_keeps_previous_folder(tiny_model, tmp_path):
    out = tmp_path / "sched"
    out.mkdir()
    (out / "manifest.json").write_text("{}")

    def broken(i):
        raise RuntimeError("frame model build failed")

    with pytest.raises(RuntimeError, match="build failed"):
        convert_schedule(_schedule(1), tiny_model, broken, out, "float32", progress=False)
    assert os.listdir(out) == ["manifest.json"]


@pytest.mark.parametrize("change,match", [
    ({"format": "other/v0"}, "format"),
    ({"key_frame_interval": 5}, "key_frame_interval"),
    ({"num_frames": 3}, "num_frames"),
    ({"frames": []}, "frames"),
])
def test_load_schedule_errors_name_the_field(tmp_path, change, match):
    data = _valid_schedule(2)
    Schedule.load(_write(tmp_path / "ok.json", data))  # the base is valid
    data.update(change)
    with pytest.raises(ValueError, match=f"schedule.json: field '.*{match}"):
        deploy.load_schedule(_write(tmp_path / "schedule.json", data))


@pytest.mark.slow
def test_load_static_model_from_model_dir(tmp_path):
    from vipnas_tf.arch import resolve_arch
    from vipnas_tf.testing.model_dirs import make_supernet_dir

    arch = resolve_arch("s_vipnas_mbv3")
    net = make_supernet_dir(tmp_path / "run", input_size=(64, 64), mode="standalone", arch=arch,
                            randomize=True, seed=2)
    loaded = deploy.load_static_model(None, tmp_path / "run")
    assert not loaded.random_init and "checkpoint" in loaded.weights
    assert loaded.arch == arch and loaded.input_size == (64, 64)
    assert loaded.keypoint_layout == "coco"  # from the run's run_config.json
    x = np.random.default_rng(0).normal(size=(1, 64, 64, 3)).astype(np.float32)
    from vipnas_tf.training.model_dir import load_model
    restored, _ = load_model(tmp_path / "run")
    want = np.asarray(restored.extract(arch)(x, training=False))
    np.testing.assert_allclose(np.asarray(loaded.model(x, training=False)), want, atol=1e-5)
    with pytest.raises(ValueError, match="no run_config.json|not a vipnas-tf model directory"):
        deploy.load_static_model("s_vipnas_mbv3", tmp_path)
    del net


@pytest.mark.slow
def test_model_dir_round_trips_the_trained_weights(tmp_path):
    from vipnas_tf.arch import resolve_arch
    from vipnas_tf.testing.model_dirs import make_supernet_dir

    arch = resolve_arch("s_vipnas_mbv3")
    net = make_supernet_dir(tmp_path / "run", input_size=(64, 64), mode="standalone", arch=arch,
                            randomize=True, seed=2)
    loaded = deploy.load_static_model(None, tmp_path / "run")
    x = np.random.default_rng(0).normal(size=(1, 64, 64, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(loaded.model(x, training=False)),
                               np.asarray(net.extract(arch)(x, training=False)), atol=1e-5)


# ------------------------------------------------------------------------------ CLI


@pytest.mark.slow
def test_cli_float32_preset_random_init(tmp_path):
    out = tmp_path / "m.tflite"
    r = _cli(["--arch=s_vipnas_mbv3", "--quantization=float32", f"--output={out}",
              "--input_size=64x64", "--json"])
    assert r.returncode == 0, r.stderr[-3000:]
    s = _json(r.stdout)
    assert s["path"] == str(out) and s["size_bytes"] == out.stat().st_size
    assert s["random_init"] and "no pretrained weights" in s["weights"]
    assert s["parity"]["max_abs_diff"] <= 1e-4 and s["parity"]["argmax_identical"]
    assert s["layers"]["keras_grouped_conv"] == 0 and s["cost"]["macs"] > 0


@pytest.mark.slow
def test_cli_int8_without_data_is_refused(tmp_path):
    r = _cli(["--arch=s_vipnas_mbv3", "--quantization=int8", f"--output={tmp_path / 'm.tflite'}",
              "--input_size=64x64"])
    assert r.returncode == 2
    assert "needs real input crops" in r.stderr and "--data" in r.stderr
    assert not (tmp_path / "m.tflite").exists()


@pytest.mark.slow
def test_cli_int8_with_pipeline_data_and_model_dir(tmp_path, synthetic_coco):
    from vipnas_tf.arch import resolve_arch
    from vipnas_tf.testing.model_dirs import make_supernet_dir

    make_supernet_dir(tmp_path / "run", input_size=(64, 64), mode="standalone",
                      arch=resolve_arch("s_vipnas_mbv3"), randomize=True)
    train_ann, train_root, _, _ = synthetic_coco
    out = tmp_path / "m8.tflite"
    r = _cli([f"--model_dir={tmp_path / 'run'}", "--quantization=int8", f"--output={out}",
              f"--data={train_ann}", f"--image_root={train_root}", "--calibration_samples=16",
              "--eval_crops=8", "--decode", "--json"])
    assert r.returncode == 0, r.stderr[-3000:]
    s = _json(r.stdout)
    assert not s["random_init"] and s["calibration_samples"] == 16 and s["decode"]
    assert s["parity"]["inputs"] == "validation crops" and s["parity"]["num_crops"] == 8
    assert np.isfinite(s["parity"]["keypoint_error_px"])
    outs = run_tflite(str(out), [np.zeros((1, 64, 64, 3), np.float32)])
    assert [o.shape for o in outs] == [(1, 16, 16, 17), (1, 17, 2), (1, 17)]


@pytest.mark.slow
def test_cli_bad_image_root_names_the_file(tmp_path, synthetic_coco):
    train_ann = synthetic_coco[0]
    r = _cli(["--arch=s_vipnas_mbv3", "--quantization=int8", f"--output={tmp_path / 'm.tflite'}",
              "--input_size=64x64", f"--data={train_ann}", f"--image_root={tmp_path}"])
    assert r.returncode == 2 and "not found" in r.stderr and "--image_root" in r.stderr


@pytest.mark.slow
def test_cli_schedule_with_frame_factory(tmp_path):
    sched = _valid_schedule(2)
    (tmp_path / "schedule.json").write_text(json.dumps(sched))
    out = tmp_path / "sched_fp32"
    r = _cli([f"--schedule={tmp_path / 'schedule.json'}", "--quantization=float32", f"--output={out}",
              "--frame_factory=tiny_models:tiny_frame_factory", "--json"])
    assert r.returncode == 0, r.stderr[-3000:]
    s = _json(r.stdout)
    assert [m["path"] for m in s["models"]] == ["key.tflite", "frame1.tflite", "frame2.tflite"]
    assert all(m["parity"]["max_abs_diff"] <= 1e-4 for m in s["models"])
    report = litert.run_benchmark(litert.BenchmarkSpec(schedule_dirs=[str(out)], runs=2, warmup=1,
                                                          measure_memory=False))
    assert report["results"][0]["fps"] > 0 and report["results"][0]["kind"] == "schedule"
    assert tiny_frame_factory(Schedule.from_dict(sched), 0, (64, 64)).inputs[1].shape[1:] == (16, 16, 17)
