import json

import numpy as np
import pytest

from vipnas_tf.data.posetrack import PoseTrackData


def _pt(shared_data):
    return shared_data / "mmpose_samples" / "posetrack18"


def test_merged_file_and_folder_agree(shared_data):
    root = _pt(shared_data)
    merged = PoseTrackData(root / "annotations" / "test_posetrack18_val.json", root)
    folder = PoseTrackData(root / "annotations" / "val", root)
    assert len(merged.samples) == len(folder.samples) == 14
    np.testing.assert_array_equal(merged.samples.ann_ids, folder.samples.ann_ids)
    assert [v.vid_id for v in folder.videos] == ["003418", "009473", "012834"]
    assert folder.videos[0].name == "003418_mpii_test"
    assert folder.info.name == "posetrack18"
    # track ids, head boxes and ignore regions are kept
    assert sorted(folder.samples.track_ids[folder.samples.image_ids == 10128340000]) == list(range(11))
    assert folder.annotations[1012834000000]["bbox_head"] == [378, 503, 44, 53]
    frame = folder.frames[10128340000]
    assert len(frame.ignore_regions) == 4 and frame.ignore_regions[0].shape[1] == 2
    assert frame.image_path.endswith("images/val/012834_mpii_test/000000.jpg")
    # ear slots are never labelled in PoseTrack18
    assert folder.samples.visible[:, 3:5].max() == 0


def test_box_clipped_to_image(shared_data):
    root = _pt(shared_data)
    data = PoseTrackData(root / "annotations" / "val", root)
    row = data.row_of_annotation(1012834000010)  # bbox y = -54.6 in the file
    assert data.samples.bboxes[row, 1] == 0.0


def _video(frames, persons_per_frame, missing=None):
    images, anns = [], []
    for t in range(frames):
        img_id = 10000010000 + t
        images.append({"id": img_id, "file_name": f"images/val/000001_x/{t:06d}.jpg", "vid_id": "000001",
                       "frame_id": img_id, "nframes": frames, "is_labeled": True})
        for p in range(persons_per_frame):
            if missing and (t, p) in missing:
                continue
            anns.append({"id": img_id * 100 + p, "image_id": img_id, "track_id": p, "bbox": [0, 0, 10, 20],
                         "bbox_head": [0, 0, 4, 4], "keypoints": [5, 5, 1] * 17})
    return {"images": images[::-1], "annotations": anns, "categories": []}  # frames shuffled on purpose


def test_frames_sorted_and_clips_consecutive_same_track(tmp_path):
    p = tmp_path / "v.json"
    # track 1 is missing in frame 2: its clips must not span frame 2
    p.write_text(json.dumps(_video(5, 2, missing={(2, 1)})))
    data = PoseTrackData(p, tmp_path)
    assert [f.frame_id for f in data.videos[0].frames] == sorted(f.frame_id for f in data.videos[0].frames)
    clips = data.clips(num_frames=2)
    s = clips.samples
    for idx in clips.indices:
        assert len(set(s.track_ids[idx])) == 1
        assert np.all(np.diff(s.image_ids[idx]) == 1)
    # track 0: frames 0-1,1-2,2-3,3-4 -> 4 clips; track 1: 0-1, 3-4 -> 2 clips
    assert len(clips) == 6
    assert clips.num_frames == 2 and len(data.clips(3, step=2)) == 2 + 0


@pytest.mark.parametrize("key", ["keypoints", "track_id", "image_id"])
def test_missing_annotation_key_is_named(tmp_path, key):
    data = _video(1, 1)
    del data["annotations"][0][key]
    p = tmp_path / "v.json"
    p.write_text(json.dumps(data))
    with pytest.raises(ValueError) as e:
        PoseTrackData(p, tmp_path)
    assert str(p) in str(e.value) and "annotation id 1000001000000" in str(e.value) and f"'{key}'" in str(e.value)


def test_missing_image_key_and_bad_ignore_regions(tmp_path):
    data = _video(1, 1)
    del data["images"][0]["vid_id"]
    p = tmp_path / "v.json"
    p.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"image id 10000010000: key 'vid_id'"):
        PoseTrackData(p, tmp_path)
    data = _video(1, 1)
    data["images"][0]["ignore_regions_x"] = [[1, 2, 3]]
    data["images"][0]["ignore_regions_y"] = [[1, 2]]
    p.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"ignore_regions"):
        PoseTrackData(p, tmp_path)


def test_labelled_person_without_bbox_is_an_error_unlabelled_is_skipped(tmp_path):
    data = _video(1, 2)
    data["annotations"][1]["keypoints"] = [0, 0, 0] * 17
    del data["annotations"][1]["bbox"]
    p = tmp_path / "v.json"
    p.write_text(json.dumps(data))
    assert len(PoseTrackData(p, tmp_path).samples) == 1
    del data["annotations"][0]["bbox"]
    p.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"key 'bbox' is missing"):
        PoseTrackData(p, tmp_path)


def test_reads_synthetic_videos(synthetic_root):
    root = synthetic_root / "posetrack"
    data = PoseTrackData(root / "annotations" / "train", root)
    assert len(data.videos) == 3 and all(len(v.frames) == 5 for v in data.videos)
    s = data.samples
    assert s.visible[:, 3:5].max() == 0  # ears unlabelled, PoseTrack convention
    assert (s.visible[:, 1] > 0).all() and (s.visible[:, 2] > 0).mean() > 0.9  # head_bottom / head_top
    clips = data.clips(4)
    assert len(clips) >= 3
    assert all(np.all(np.diff(s.image_ids[i]) == 1) for i in clips.indices)


# ---- format and layout detection, bad input (real shared samples) --------------------------


def test_format_and_layout_detected_from_content(shared_data, tmp_path):
    from vipnas_tf.data.formats import annotation_layout, detect_annotation_format, load_samples

    root = _pt(shared_data)
    folder, merged = root / "annotations" / "val", root / "annotations" / "test_posetrack18_val.json"
    coco = shared_data / "mmpose_samples" / "coco" / "test_coco.json"
    assert detect_annotation_format(folder) == detect_annotation_format(merged) == "posetrack"
    assert detect_annotation_format(coco) == "coco"
    assert annotation_layout(folder) == annotation_layout(merged) == "posetrack18"
    assert annotation_layout(coco) == "coco"
    # the released per-video folder and mmpose's merged file give the same samples
    a, fmt_a = load_samples(folder, root)
    b, fmt_b = load_samples(merged, root)
    assert fmt_a == fmt_b == "posetrack" and a.info.name == b.info.name == "posetrack18"
    np.testing.assert_array_equal(a.ann_ids, b.ann_ids)
    np.testing.assert_allclose(a.keypoints, b.keypoints)
    c, fmt_c = load_samples(coco, coco.parent)
    assert fmt_c == "coco" and c.info.name == "coco" and len(c) == 12
    # neither format: the error names the file and says how to state the format
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"videos": []}))
    with pytest.raises(ValueError) as e:
        detect_annotation_format(bad)
    assert str(bad) in str(e.value) and "'images'" in str(e.value) and "--data_format" in str(e.value)
    # keypoint names of no known layout
    data = json.loads(merged.read_text())
    data["categories"][0]["keypoints"] = ["k%d" % i for i in range(17)]
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"odd.json: field 'categories\[\].keypoints'"):
        annotation_layout(odd)


def test_image_id_naming_no_image_names_file_field_and_both_values(shared_data, tmp_path):
    data = json.loads((_pt(shared_data) / "annotations" / "val" / "003418_mpii_test.json").read_text())
    ann = data["annotations"][0]
    ann["image_id"] = 999
    p = tmp_path / "003418_mpii_test.json"
    p.write_text(json.dumps(data))
    with pytest.raises(ValueError) as e:
        PoseTrackData(p, tmp_path)
    msg = str(e.value)
    assert str(p) in msg and "'image_id'" in msg and f"annotation id {ann['id']}" in msg
    assert "999" in msg and "10034180000" in msg  # the bad value and the file's image ids
    del ann["image_id"]
    p.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"annotation id 1003418000000: key 'image_id' is missing"):
        PoseTrackData(p, tmp_path)


def test_track_without_frames_is_named(shared_data, tmp_path):
    data = json.loads((_pt(shared_data) / "annotations" / "val" / "009473_mpii_test.json").read_text())
    tracks = sorted({a["track_id"] for a in data["annotations"]})
    data["images"] = []
    p = tmp_path / "009473_mpii_test.json"
    p.write_text(json.dumps(data))
    with pytest.raises(ValueError) as e:
        PoseTrackData(p, tmp_path)
    msg = str(e.value)
    assert str(p) in msg and "'images' is empty" in msg and "track without frames" in msg
    assert str(tracks[:10]) in msg and f"has {len(data['annotations'])} entries" in msg
