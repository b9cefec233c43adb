"""scripts/infer_video.py end to end: the shared sample video, synthetic clips with a
boxes file, and the bad-input exits (status 2, message naming the problem)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.runtime import helpers
from vipnas_tf.runtime.detector import hog_available

pytestmark = pytest.mark.slow  # traces super-networks / runs the real commands

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(*args):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "scripts/infer_video.py", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env=env)


@pytest.fixture(scope="module")
def schedule_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("sched") / "schedule.json"
    helpers.schedule(num_frames=2).save(path)
    return path


def test_shared_sample_video(shared_data, schedule_path, tmp_path):
    video = shared_data / "tfjs_samples" / "rendered_person.mp4"
    if not video.exists():
        pytest.skip(f"{video} not found")
    out = _run(f"--video={video}", f"--schedule={schedule_path}", f"--output_json={tmp_path / 'poses.json'}",
               f"--output_video={tmp_path / 'overlay.mp4'}", "--max_frames=7", "--json")
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads(out.stdout[out.stdout.index("{"):])
    # untrained networks lose the person after 2 (T + 1) = 6 frames: the detector finds it again (a new track)
    assert summary["frames"] == 7 and summary["poses"] == 7 and summary["tracks"] == (2 if hog_available() else 1)
    assert summary["poses_per_position"] == [3, 2, 2] and summary["fps"] > 0
    assert summary["weights"] == "initialised" and "FRESHLY INITIALISED" in out.stderr
    poses = json.loads((tmp_path / "poses.json").read_text())
    assert sorted({a["image_id"] for a in poses["annotations"]}) == list(range(7))
    assert (tmp_path / "overlay.mp4").stat().st_size > 0
    if not hog_available():  # OpenCV without its contrib build: whole-frame crops, said so
        assert summary["box_source"] == "keypoints" and "no HOG people detector" in out.stderr
        return
    # the default person detector: frame 0's box is around the person (MoveNet's keypoints), not the frame
    assert summary["box_source"] == "detector:hog" and summary["detector_calls"] >= 1
    assert 0 < summary["detector_share"] < 1
    x, y, w, h = poses["annotations"][0]["bbox"]
    ref = json.loads((shared_data / "tfjs_samples" / "rendered_person_movenet_reference.json").read_text())[0]
    kp = np.array([[v["x"], v["y"]] for v in ref.values()])
    assert np.mean((kp[:, 0] >= x) & (kp[:, 0] <= x + w) & (kp[:, 1] >= y) & (kp[:, 1] <= y + h)) >= 0.9
    assert w * h < 576 * 576 / 3


@pytest.mark.parametrize(
    "case,message",
    [
        ("missing_video", "no such video file"),
        ("not_a_video", "cannot open video|no readable frames"),
        ("boxes_beyond_video", "frame 40 .*has 5 frames"),
        ("t_zero", "T >= 1"),
        ("schedule_space", "'key.arch'"),
        ("first_box", "lies outside"),
        ("detector", "detector 'yolo'"),
        ("detector_with_boxes", "--detector=hog with --boxes or --first_box"),
    ],
)
def test_bad_input_exits_with_a_clear_error(case, message, schedule_path, tmp_path):
    helpers.write_clip(tmp_path / "clip.mp4", num_frames=5)
    args = {"video": tmp_path / "clip.mp4", "schedule": schedule_path}
    extra = []
    if case == "missing_video":
        args["video"] = tmp_path / "nope.mp4"
    elif case == "not_a_video":
        (tmp_path / "bad.mp4").write_bytes(b"\x00" * 100)
        args["video"] = tmp_path / "bad.mp4"
    elif case == "boxes_beyond_video":
        (tmp_path / "boxes.json").write_text(json.dumps([{"image_id": 40, "bbox": [0, 0, 20, 20], "score": 1.0}]))
        extra = [f"--boxes={tmp_path / 'boxes.json'}"]
    elif case == "first_box":
        extra = ["--first_box=900,900,10,10"]
    elif case == "detector":
        extra = ["--detector=yolo"]
    elif case == "detector_with_boxes":
        extra = ["--detector=hog", "--first_box=1,1,10,10"]
    else:
        d = json.loads(schedule_path.read_text())
        if case == "t_zero":
            d.update(num_frames=0, frames=[], key_frame_interval=1)
        else:
            d["key"]["arch"] = d["key"]["arch"].replace("mobilenetv3/", "resnet50/", 1)
        args["schedule"] = tmp_path / "schedule.json"
        args["schedule"].write_text(json.dumps(d))
    out = _run(f"--video={args['video']}", f"--schedule={args['schedule']}",
               f"--output_json={tmp_path / 'poses.json'}", "--json", *extra)
    assert out.returncode == 2, out.stderr[-2000:]
    assert "infer_video.py: error:" in out.stderr
    import re

    assert re.search(message, out.stderr), out.stderr[-2000:]
    assert not (tmp_path / "poses.json").exists()
