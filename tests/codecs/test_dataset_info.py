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
