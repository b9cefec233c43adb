"""The online video runner on synthetic clips: geometry (oracle networks), key-frame
cycle, previous heatmaps handed to the right network, boxes files, several people,
empty frames, outputs, and the bad-input errors."""
import json

import cv2
import numpy as np
import pytest

from tests.runtime import helpers
from vipnas_tf.runtime import (
    BoxesFileError,
    FrameSource,
    ScheduleModelError,
    ScheduleModels,
    VideoPoseRunner,
    VideoSourceError,
    load_boxes,
    load_schedule_models,
    write_results,
)
from vipnas_tf.runtime import tracking


@pytest.fixture(scope="module")
def oracle():
    sched = helpers.schedule(num_frames=3)
    key, frames = helpers.oracle_models(sched)
    return sched, load_schedule_models(sched, builder=lambda s: (key, frames))


def _boxes_file(path, centres, size=(30, 56), skip=()):
    anns = []
    for t, row in enumerate(centres):
        if t in skip:
            continue
        for cx, cy in row:
            anns.append({"image_id": t, "category_id": 1, "score": 0.9,
                         "bbox": [float(cx - size[0] / 2), float(cy - size[1] / 2), size[0], size[1]]})
    path.write_text(json.dumps(anns))
    return path


def test_boxes_file_one_person(oracle, tmp_path):
    sched, models = oracle
    centres = helpers.write_clip(tmp_path / "clip.mp4", num_frames=10)
    boxes = load_boxes(_boxes_file(tmp_path / "boxes.json", centres), num_frames=10)
    result = VideoPoseRunner(sched, models).run(FrameSource(video=tmp_path / "clip.mp4"), boxes=boxes,
                                                output_video=tmp_path / "overlay.mp4")
    anns, s = result["annotations"], result["summary"]
    assert s["frames"] == 10 and s["poses"] == 10 and s["tracks"] == 1 and s["empty_frames"] == 0
    # key frames 0, 4, 8 (T = 3): 3 key poses, 7 propagated, position t used 3 / 3 / ... times
    assert s["poses_per_position"] == [3, 3, 2, 2] and s["key_frame_poses"] == 3
    for a in anns:
        kp = np.asarray(a["keypoints"]).reshape(-1, 3)
        assert len(kp) == 17 and len(a["scores"]) == 17
        # every keypoint on the rectangle's centre (heatmap pixel = 70 / 16 image px)
        assert np.abs(kp[:, :2] - centres[a["image_id"], 0]).max() <= 70 / 16
    assert [a["image_id"] for a in anns] == list(range(10))
    assert s["fps"] > 0 and s["model_fps"] >= s["fps"]
    assert s["avg_gflops_per_pose"] == pytest.approx(
        (3 * sched.describe()["key"]["paper_gflops"] + sum(n * f["paper_gflops"] for n, f in
                                                          zip([3, 2, 2], sched.describe()["frames"]))) / 10, abs=1e-3)
    write_results(tmp_path / "poses.json", result)
    out = json.loads((tmp_path / "poses.json").read_text())
    assert set(out) == {"images", "annotations", "categories"} and len(out["images"]) == 10
    assert "_position" not in out["annotations"][0] and out["categories"][0]["keypoints"][1] == "head_bottom"
    cap = cv2.VideoCapture(str(tmp_path / "overlay.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 10
    ok, frame = cap.read()
    assert ok and frame.shape == (120, 160, 3)


def test_two_people_and_empty_frames(oracle, tmp_path):
    """Two rectangles far apart; frames 4-5 have no boxes: recorded empty, and both
    tracks restart (new ids, key frames) afterwards."""
    sched, models = oracle
    centres = helpers.write_clip(tmp_path / "clip.mp4", num_frames=9, size=(240, 120),
                                 rects=((10, 30, 16, 40), (150, 20, 16, 40)), step=2)
    boxes = load_boxes(_boxes_file(tmp_path / "boxes.json", centres, skip=(4, 5)), num_frames=9)
    result = VideoPoseRunner(sched, models).run(FrameSource(video=tmp_path / "clip.mp4"), boxes=boxes)
    s, anns = result["summary"], result["annotations"]
    assert s["frames"] == 9 and s["empty_frames"] == 2 and s["poses"] == 14 and s["tracks"] == 4
    assert not [a for a in anns if a["image_id"] in (4, 5)]
    for a in anns:
        kp = np.asarray(a["keypoints"]).reshape(-1, 3)[:, :2]
        near = np.abs(centres[a["image_id"]] - kp.mean(0)).max(axis=1)
        assert near.min() <= 70 / 16  # on one of the two rectangles: its own (the crops are apart)
    ids_before = {a["track_id"] for a in anns if a["image_id"] < 4}
    ids_after = {a["track_id"] for a in anns if a["image_id"] > 5}
    assert len(ids_before) == 2 and len(ids_after) == 2 and not ids_before & ids_after
    # key frames: frame 0 (two new tracks) and frame 6 (two new tracks again)
    assert s["key_frame_poses"] == 4


def test_keypoint_tracking_from_full_frame_and_first_boxes(oracle, tmp_path):
    sched, models = oracle
    centres = helpers.write_clip(tmp_path / "clip.mp4", num_frames=6, size=(240, 120),
                                 rects=((10, 30, 16, 40), (150, 20, 16, 40)), step=2)
    runner = VideoPoseRunner(sched, models)
    full = runner.run(FrameSource(video=tmp_path / "clip.mp4"))
    assert full["summary"]["poses"] == 6 and full["summary"]["tracks"] == 1
    assert full["summary"]["box_source"] == "keypoints"
    two = runner.run(FrameSource(video=tmp_path / "clip.mp4", max_frames=4),
                     first_boxes=[(0, 10, 60, 90), (135, 5, 60, 90)])
    assert two["summary"]["frames"] == 4 and two["summary"]["tracks"] == 2
    for a in two["annotations"]:
        kp = np.asarray(a["keypoints"]).reshape(-1, 3)[:, :2].mean(0)
        person = a["track_id"] - 1
        assert np.abs(kp - centres[a["image_id"], person]).max() <= 112 / 16
    with pytest.raises(ValueError, match="exclusive"):
        runner.run(FrameSource(video=tmp_path / "clip.mp4"), boxes={}, first_boxes=[(0, 0, 10, 10)])
    with pytest.raises(ValueError, match="outside"):
        runner.run(FrameSource(video=tmp_path / "clip.mp4"), first_boxes=[(500, 500, 10, 10)])


def test_previous_heatmaps_reach_the_next_frame_network(tmp_path):
    """Each T-ViPNet gets the same track's previous heatmaps, warped into its crop."""
    sched = helpers.schedule(num_frames=2)
    calls = []
    rng = np.random.default_rng(0)

    def key(images):
        out = rng.uniform(size=(len(images), 16, 16, 17)).astype(np.float32)
        calls.append(("key", None, out))
        return out

    def frame(t):
        def run(images, prev):
            out = rng.uniform(size=(len(images), 16, 16, 17)).astype(np.float32)
            calls.append((t, prev, out))
            return out
        return run

    models = ScheduleModels(key, [frame(1), frame(2)], "injected")
    centres = helpers.write_clip(tmp_path / "clip.mp4", num_frames=5)
    boxes = {t: np.array([[c[0][0] - 15 + 2 * t, c[0][1] - 28, 30, 56, 1.0]], np.float32) for t, c in enumerate(centres)}
    VideoPoseRunner(sched, models).run(FrameSource(video=tmp_path / "clip.mp4"), boxes=boxes)
    calls = calls[3:]  # the warm-up runs each network once
    assert [c[0] for c in calls] == ["key", 1, 2, "key", 1]
    from vipnas_tf.codecs.affine import bbox_xywh_to_center_scale

    crops = [bbox_xywh_to_center_scale(boxes[t][0, :4], sched.input_size) for t in range(5)]
    for t in (1, 2, 4):
        c0, s0 = crops[t - 1]
        c1, s1 = crops[t]
        want = tracking.warp_heatmaps(calls[t - 1][2][0], c0, s0, c1, s1)
        np.testing.assert_allclose(calls[t][1][0], want, atol=1e-6)


# ---- bad input ---------------------------------------------------------------------------------
def test_bad_sources(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such video file"):
        FrameSource(video=tmp_path / "missing.mp4")
    (tmp_path / "not_a_video.mp4").write_text("hello")
    with pytest.raises(VideoSourceError, match="not_a_video.mp4"):
        FrameSource(video=tmp_path / "not_a_video.mp4")
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoSourceError, match="no images"):
        FrameSource(images=tmp_path / "empty")
    with pytest.raises(VideoSourceError, match="exactly one"):
        FrameSource()


def test_image_folder_with_a_corrupt_frame(oracle, tmp_path):
    sched, models = oracle
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in (1, 2, 10):  # natural order: 1, 2, 10
        img = np.zeros((120, 160, 3), np.uint8)
        img[30:70, 20 + 5 * i:36 + 5 * i] = 255
        cv2.imwrite(str(folder / f"{i}.jpg"), img)
    (folder / "3.jpg").write_bytes(b"not a jpeg")
    source = FrameSource(images=folder)
    assert source.files == ["1.jpg", "2.jpg", "3.jpg", "10.jpg"] and source.num_frames == 4
    result = VideoPoseRunner(sched, models).run(source)
    s = result["summary"]
    assert s["frames"] == 4 and s["unreadable_frames"] == [2] and s["poses"] == 3
    assert [im["file_name"] for im in result["images"]] == ["1.jpg", "2.jpg", "3.jpg", "10.jpg"]


def test_bad_boxes_files(tmp_path):
    path = tmp_path / "boxes.json"
    path.write_text(json.dumps([{"image_id": 12, "bbox": [0, 0, 10, 10]}]))
    with pytest.raises(BoxesFileError, match="frame 12.*has 10 frames"):
        load_boxes(path, num_frames=10)
    path.write_text(json.dumps([{"image_id": 1, "bbox": [0, 0, 10]}]))
    with pytest.raises(BoxesFileError, match="entry 0: key 'bbox'"):
        load_boxes(path)
    path.write_text(json.dumps({"boxes": []}))
    with pytest.raises(BoxesFileError, match="COCO results"):
        load_boxes(path)
    # PoseTrack ids: one video decoded, several need a video id
    path.write_text(json.dumps([{"image_id": 10128340003, "bbox": [0, 0, 10, 10], "score": 0.9},
                                {"image_id": 10034180001, "bbox": [0, 0, 10, 10], "score": 0.9}]))
    with pytest.raises(BoxesFileError, match="2 videos"):
        load_boxes(path)
    assert list(load_boxes(path, video_id=12834)) == [3]
    # annotation style with images: frame = position by frame_id; score threshold
    path.write_text(json.dumps({"images": [{"id": 7, "frame_id": 2}, {"id": 5, "frame_id": 1}],
                                "annotations": [{"image_id": 7, "bbox": [1, 2, 3, 4], "score": 0.8},
                                                {"image_id": 7, "bbox": [1, 2, 3, 4], "score": 0.1}]}))
    boxes = load_boxes(path, num_frames=2, score_threshold=0.5)
    assert list(boxes) == [1] and boxes[1].shape == (1, 5)


def test_schedule_not_matching_the_models(tmp_path):
    sched = helpers.schedule(num_frames=2)
    other = helpers.schedule(num_frames=2, input_size=(96, 64))
    key, frames = helpers.oracle_models(other)
    with pytest.raises(ScheduleModelError, match="'key'.*takes inputs"):
        load_schedule_models(sched, builder=lambda s: (key, frames))
    key, frames = helpers.oracle_models(sched)
    with pytest.raises(ScheduleModelError, match="2 frames but 1 models"):
        load_schedule_models(sched, builder=lambda s: (key, frames[:1]))
    with pytest.raises(ScheduleModelError, match=r"'frames\[0\]'"):
        load_schedule_models(sched, builder=lambda s: (key, [key, key]))

    def loader(model_dir):  # a run directory of another space
        return object(), {"space": "resnet50", "input_size": [64, 64], "mode": "temporal"}

    import dataclasses

    with pytest.raises(ScheduleModelError, match="'space'.*'resnet50'"):
        load_schedule_models(dataclasses.replace(sched, model_dir="/somewhere"), loader=loader)


def test_results_keypoint_names_follow_the_schedule_layout(oracle):
    import dataclasses

    from vipnas_tf.codecs import LayoutMismatchError
    from vipnas_tf.runtime import RunnerConfig

    sched, models = oracle
    assert VideoPoseRunner(sched, models).info.name == "posetrack18"  # no layout stated: PoseTrack18 names
    coco = dataclasses.replace(sched, keypoint_layout="coco")
    assert VideoPoseRunner(coco, models).info.keypoint_names[1] == "left_eye"  # the schedule's layout
    with pytest.raises(LayoutMismatchError, match="keypoint_format.*'posetrack18'"):
        VideoPoseRunner(coco, models, RunnerConfig(keypoint_format="posetrack18"))
