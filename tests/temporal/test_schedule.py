"""Schedule: round trip, relative model dirs, costs recomputed, validation errors."""
import json

import numpy as np
import pytest

from vipnas_tf.arch import arch_cost, get_space
from vipnas_tf.temporal import FrameArch, Schedule, TemporalSpace, frame_cost
from vipnas_tf.temporal.schedule import SCHEDULE_FORMAT


@pytest.fixture
def schedule():
    space = get_space("mobilenetv3")
    rng = np.random.default_rng(0)
    frames = TemporalSpace(space).sample(rng, 3)
    return Schedule.from_archs(space.max(), frames, (256, 192), key_model_dir="s_vipnet",
                               model_dir="t_vipnet", extra={"budget": 0.3})


def _edit(path, fn):
    d = json.loads(path.read_text())
    fn(d)
    path.write_text(json.dumps(d))


def test_round_trip_and_format(schedule, tmp_path):
    path = tmp_path / "out" / "schedule.json"
    schedule.save(path)
    d = json.loads(path.read_text())
    assert d["format"] == SCHEDULE_FORMAT and d["num_frames"] == 3 and d["key_frame_interval"] == 4
    assert set(d["frames"][0]) == {"arch", "fusion_op", "fusion_stage", "paper_gflops", "macs"}
    key = arch_cost(schedule.key_arch).paper_gflops
    frames = [frame_cost(f).paper_gflops for f in schedule.frames]
    assert d["avg_gflops"] == pytest.approx((key + sum(frames)) / 4, abs=1e-4)
    assert d["avg_gflops_nonkey"] == pytest.approx(sum(frames) / 3, abs=1e-4)
    assert d["budget"] == 0.3
    loaded = Schedule.load(path).validate("mobilenetv3", (256, 192))
    assert loaded.frames == schedule.frames and loaded.key_arch == schedule.key_arch
    assert loaded.key_model_path == str(tmp_path / "out" / "s_vipnet")
    assert loaded.model_path == str(tmp_path / "out" / "t_vipnet")
    assert loaded.extra == {"budget": 0.3}
    assert loaded.frame_arch(0) is None and loaded.frame_arch(3) == schedule.frames[2]


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda d: d.update(num_frames=0, frames=[]), "num_frames.*T >= 1"),
        (lambda d: d.update(num_frames=2), "'frames': has 3 entries but num_frames=2"),
        (lambda d: d.update(key_frame_interval=3), "'key_frame_interval'"),
        (lambda d: d.update(format="other"), "'format'"),
        (lambda d: d["frames"][1].update(fusion_op="sub"), r"'frames\[1\]'.*fusion_op"),
        (lambda d: d["frames"][0].pop("fusion_stage"), r"'frames\[0\]'.*fusion_stage"),
        (lambda d: d.update(input_size=[250, 192]), "'input_size'"),
        (lambda d: d["key"].update(arch="mobilenetv3/stem_c16_k3"), "'key.arch'"),
    ],
)
def test_load_errors_name_the_field(schedule, tmp_path, edit, message):
    path = tmp_path / "schedule.json"
    schedule.save(path)
    _edit(path, edit)
    with pytest.raises(ValueError, match=message):
        Schedule.load(path).validate()


def test_validate_errors_name_the_field(schedule, tmp_path):
    path = tmp_path / "schedule.json"
    schedule.save(path)
    s = Schedule.load(path)
    with pytest.raises(ValueError, match="'space': 'mobilenetv3' does not match the model's space 'resnet50'"):
        s.validate("resnet50")
    with pytest.raises(ValueError, match="'input_size'"):
        s.validate("mobilenetv3", (128, 96))
    bounded = TemporalSpace("mobilenetv3", max_arch=get_space("mobilenetv3").min())
    with pytest.raises(ValueError, match=r"'frames\[\d\]'.*bigger than the temporal space's bound"):
        s.validate(temporal_space=bounded)
    _edit(path, lambda d: d["frames"][2].update(paper_gflops=9.0))
    with pytest.raises(ValueError, match=r"'frames\[2\].paper_gflops': stored 9.0"):
        Schedule.load(path).validate()
    _edit(path, lambda d: d["frames"][2].update(fusion_stage=9))
    with pytest.raises(ValueError, match=r"'frames\[2\]'.*fusion_stage=9"):
        Schedule.load(path).validate()
    with pytest.raises(FileNotFoundError, match="no such schedule file"):
        Schedule.load(tmp_path / "missing.json")


def test_t_below_one_is_an_error():
    with pytest.raises(ValueError, match="T >= 1"):
        Schedule.from_archs(get_space("mobilenetv3").max(), [], (256, 192))


def test_describe_per_frame(schedule):
    d = schedule.describe()
    assert len(d["frames"]) == 3
    for f, fa in zip(d["frames"], schedule.frames):
        assert f["paper_gflops"] == round(frame_cost(fa).paper_gflops, 4)
        assert FrameArch.from_dict(f) == fa


def _run_dir(path, layout):
    path.mkdir(parents=True)
    cfg = {"mode": "standalone", "space": "mobilenetv3"}
    if layout:
        cfg["keypoint_layout"] = layout
    (path / "run_config.json").write_text(json.dumps(cfg))


def test_keypoint_layout_round_trip_and_agreement_with_model_dirs(schedule, tmp_path):
    import dataclasses

    from vipnas_tf.codecs import LayoutMismatchError

    out = tmp_path / "out"
    path = out / "schedule.json"
    dataclasses.replace(schedule, keypoint_layout="posetrack18").save(path)
    assert json.loads(path.read_text())["keypoint_layout"] == "posetrack18"
    loaded = Schedule.load(path)
    assert loaded.keypoint_layout == "posetrack18" and "keypoint_layout" not in loaded.extra
    assert loaded.check_model_layouts() == "posetrack18"  # no model dirs on disk: the file's
    _run_dir(out / "s_vipnet", "posetrack18")
    _run_dir(out / "t_vipnet", "coco")  # T-ViPNets of another layout than the key frame
    with pytest.raises(LayoutMismatchError) as e:
        Schedule.load(path).check_model_layouts()
    assert "'model_dir'" in str(e.value) and str(out / "t_vipnet") in str(e.value) and "'coco'" in str(e.value)
    # a schedule written before the field existed takes its model dirs' layout
    _edit(path, lambda d: d.pop("keypoint_layout"))
    (out / "t_vipnet" / "run_config.json").write_text(json.dumps({"mode": "temporal", "keypoint_layout": "posetrack18"}))
    assert Schedule.load(path).check_model_layouts() == "posetrack18"
    # neither: a clear error (or None when not required)
    bare = tmp_path / "bare" / "schedule.json"
    schedule.save(bare)
    assert Schedule.load(bare).check_model_layouts(required=False) is None
    with pytest.raises(ValueError, match=r"field 'keypoint_layout' is missing.*\"keypoint_layout\": \"posetrack18\""):
        Schedule.load(bare).check_model_layouts()
    _edit(bare, lambda d: d.update(keypoint_layout="mpii"))
    with pytest.raises(ValueError, match=r"field 'keypoint_layout': 'mpii' is not a keypoint layout"):
        Schedule.load(bare)
