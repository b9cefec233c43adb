"""Boxes, association and the heatmap hand-over between crops."""
import numpy as np
import pytest

from vipnas_tf.codecs.affine import bbox_xywh_to_center_scale, keypoints_crop_to_image
from vipnas_tf.codecs.heatmap import HeatmapCodec
from vipnas_tf.runtime import tracking

INPUT = (256, 192)


def test_iou_and_matching():
    a = np.array([[0, 0, 10, 10], [100, 100, 10, 20]], np.float32)
    b = np.array([[102, 101, 10, 20], [1, 0, 10, 10], [300, 300, 5, 5]], np.float32)
    o = tracking.iou(a, b)
    assert o[0, 1] == pytest.approx(90 / 110) and o[0, 0] == 0
    pairs, new = tracking.match_boxes(a, b, threshold=0.3)
    assert sorted(pairs) == [(0, 1), (1, 0)] and new == [2]
    assert tracking.match_boxes([], b) == ([], [0, 1, 2])


def test_box_from_pose():
    kp = np.array([[10, 20], [30, 60], [20, 40], [15, 50], [500, 500]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.1])
    box = tracking.box_from_pose(kp, scores, threshold=0.5, min_keypoints=4, enlarge=1.5)
    # tight box x 10..30, y 20..60 -> centre (20, 40), size 20 x 40 -> 30 x 60
    np.testing.assert_allclose(box, [5, 10, 30, 60], atol=1e-5)
    assert tracking.box_from_pose(kp, scores, threshold=0.65, min_keypoints=4) is None
    clipped = tracking.box_from_pose(kp, scores, 0.5, 4, 1.5, frame_size=(25, 100))
    np.testing.assert_allclose(clipped, [5, 10, 20, 60], atol=1e-5)


@pytest.mark.parametrize("box_a,box_b", [((40, 50, 80, 160), (55, 45, 100, 190)),
                                          ((40, 50, 80, 160), (30, 70, 60, 120))])
def test_warped_heatmaps_keep_the_image_position(box_a, box_b):
    """A Gaussian for image point p in crop A, warped into crop B, decodes to p."""
    codec = HeatmapCodec(INPUT)
    ca, sa = bbox_xywh_to_center_scale(np.array(box_a, np.float32), INPUT)
    cb, sb = bbox_xywh_to_center_scale(np.array(box_b, np.float32), INPUT)
    points = np.array([[70.0, 120.0], [95.0, 150.0]], np.float32)  # inside both crops
    # image -> crop A pixels (inverse of keypoints_crop_to_image)
    size = np.array([INPUT[1], INPUT[0]], np.float32)
    crop_a = (points - ca + sa / 2) / sa * size
    hm, _ = codec.encode(crop_a, np.ones(len(points)))
    warped = tracking.warp_heatmaps(hm, ca, sa, cb, sb)
    kp, scores = codec.decode(warped[None])
    back = keypoints_crop_to_image(kp, cb[None], sb[None], INPUT)[0]
    step = float(sb[0]) / (INPUT[1] / 4)  # one heatmap pixel of crop B in image pixels
    assert np.abs(back - points).max() <= 0.5 * step
    assert scores.min() > 0.5
    # unchanged crop: untouched
    assert tracking.warp_heatmaps(hm, ca, sa, ca, sa) is hm
