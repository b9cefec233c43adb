import numpy as np
import pytest

from vipnas_tf.codecs import COCO_INFO, POSETRACK18_INFO, DatasetInfo, info_for_names


def test_coco_flip_pairs():
    assert COCO_INFO.num_keypoints == 17
    assert COCO_INFO.flip_pairs == ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))
    idx = COCO_INFO.flip_index
    np.testing.assert_array_equal(idx[idx], np.arange(17))


def test_posetrack_does_not_swap_head_slots():
    pairs = dict(POSETRACK18_INFO.flip_pairs)
    assert 1 not in pairs and 2 not in pairs  # head_bottom / head_top are central
    assert pairs[3] == 4 and pairs[5] == 6
    assert POSETRACK18_INFO.flip_index[1] == 1 and POSETRACK18_INFO.flip_index[2] == 2
    assert POSETRACK18_INFO.joint_groups["Head"] == (0, 1, 2)


def test_body_slots_shared_for_finetuning():
    assert COCO_INFO.keypoint_names[5:] == POSETRACK18_INFO.keypoint_names[5:]


def test_info_for_names_and_validation():
    assert info_for_names(POSETRACK18_INFO.keypoint_names) is POSETRACK18_INFO
    assert info_for_names(["a"]) is None
    with pytest.raises(ValueError, match="sigmas"):
        DatasetInfo("x", ("a", "b"), (0.1,), (), (), {}, (1.0, 1.0))


def test_coco_to_posetrack18_channel_mapping_is_stated_and_name_true():
    from vipnas_tf.codecs import LayoutMismatchError, channel_mapping
    from vipnas_tf.codecs.layout_mapping import fresh_slots

    mapping = channel_mapping("coco", "posetrack18")
    assert mapping[0] == 0 and mapping[5:] == tuple(range(5, 17))  # nose and body joints copied
    assert fresh_slots("coco", "posetrack18") == (1, 2)  # head_bottom, head_top
    assert mapping[3:5] == (3, 4)  # ears carried (never labelled in PoseTrack18)
    for t, s in enumerate(mapping):
        if s is not None:
            assert COCO_INFO.keypoint_names[s] == POSETRACK18_INFO.keypoint_names[t]
    assert channel_mapping("posetrack18", "posetrack18") == tuple(range(17))
    with pytest.raises(LayoutMismatchError, match="'posetrack18' to 'coco'"):
        channel_mapping("posetrack18", "coco")
    with pytest.raises(ValueError, match="unknown keypoint layout 'mpii'"):
        channel_mapping("mpii", "coco")


def test_layout_mismatch_names_both_layouts_and_sources():
    from vipnas_tf.codecs import LayoutMismatchError, require_same_layout
    from vipnas_tf.codecs.dataset_info import UNLABELLED_SLOTS

    assert require_same_layout("coco", "a", "coco", "b") == "coco"
    with pytest.raises(LayoutMismatchError) as e:
        require_same_layout("coco", "key_model_dir /k", "posetrack18", "clips /c", what="train")
    assert all(s in str(e.value) for s in ("'coco'", "'posetrack18'", "/k", "/c", "cannot train"))
    assert UNLABELLED_SLOTS["posetrack18"] == (3, 4)
