import numpy as np
import pytest
import tensorflow as tf

from vipnas_tf.codecs import (
    affine_transform_points,
    bbox_xywh_to_center_scale,
    compose_affine,
    get_affine_matrix,
    horizontal_flip_matrix,
    invert_affine,
    keypoints_crop_to_image,
    keypoints_crop_to_image_tf,
)


def test_bbox_to_center_scale_fixes_aspect_and_pads():
    # A tall box (w/h < 192/256) is widened, a wide box is heightened.
    c, s = bbox_xywh_to_center_scale([[10, 20, 30, 80], [0, 0, 120, 40]], (256, 192))
    np.testing.assert_allclose(c, [[25, 60], [60, 20]])
    np.testing.assert_allclose(s[0], [80 * 0.75 * 1.25, 80 * 1.25])
    np.testing.assert_allclose(s[1], [120 * 1.25, 120 / 0.75 * 1.25])
    assert np.allclose(s[:, 0] / s[:, 1], 0.75)


def test_forward_maps_box_onto_crop_and_inverse_undoes_it():
    center, scale, size = (300.0, 200.0), (150.0, 200.0), (256, 192)
    m = get_affine_matrix(center, scale, 0.0, size)
    corners = [[225, 100], [375, 300], [300, 200]]
    np.testing.assert_allclose(affine_transform_points(corners, m), [[0, 0], [192, 256], [96, 128]], atol=1e-4)
    for rot in (0.0, 33.0, -40.0):
        m = get_affine_matrix(center, scale, rot, size)
        inv = get_affine_matrix(center, scale, rot, size, inverse=True)
        pts = np.random.default_rng(0).uniform(0, 500, (10, 2))
        np.testing.assert_allclose(affine_transform_points(affine_transform_points(pts, m), inv), pts, atol=1e-3)
        np.testing.assert_allclose(invert_affine(m), inv, atol=1e-9)


def test_positive_rotation_is_counter_clockwise_box():
    # A point above the centre of a box rotated +90 deg (CCW on screen, y down) lies
    # to the left of the centre in the image.
    m = get_affine_matrix((100.0, 100.0), (40.0, 40.0), 90.0, (64, 64))
    top_of_crop_in_image = affine_transform_points([[32, 0]], invert_affine(m))[0]
    np.testing.assert_allclose(top_of_crop_in_image, [80, 100], atol=1e-4)


def test_flip_composition():
    m = compose_affine(horizontal_flip_matrix(192), get_affine_matrix((50, 50), (192, 256), 0, (256, 192)))
    # the box's left edge lands on the crop's right edge
    np.testing.assert_allclose(affine_transform_points([[50 - 96, 50]], m), [[191, 128]], atol=1e-4)


def test_crop_to_image_matches_inverse_affine_and_tf():
    centers = np.array([[300, 200], [50, 60]], np.float32)
    scales = np.array([[150, 200], [30, 40]], np.float32)
    kp = np.random.default_rng(1).uniform(0, 190, (2, 17, 2)).astype(np.float32)
    out = keypoints_crop_to_image(kp, centers, scales, (256, 192))
    for i in range(2):
        inv = get_affine_matrix(centers[i], scales[i], 0, (256, 192), inverse=True)
        np.testing.assert_allclose(out[i], affine_transform_points(kp[i], inv), atol=1e-3)
    out_tf = keypoints_crop_to_image_tf(tf.constant(kp), tf.constant(centers), tf.constant(scales), (256, 192))
    np.testing.assert_allclose(out_tf.numpy(), out, atol=1e-3)


def test_warp_moves_pixels_like_points():
    import cv2

    img = np.zeros((300, 400, 3), np.uint8)
    img[150, 260] = 255
    m = get_affine_matrix((250.0, 140.0), (96.0, 128.0), 25.0, (256, 192))
    crop = cv2.warpAffine(img, m, (192, 256), flags=cv2.INTER_LINEAR)
    y, x = np.unravel_index(crop[..., 0].argmax(), crop.shape[:2])
    px, py = affine_transform_points([[260, 150]], m)[0]
    assert abs(x - px) <= 1 and abs(y - py) <= 1


@pytest.mark.parametrize("bad", [[0, 0, 0, 10]])
def test_zero_width_box_gives_zero_scale_width(bad):
    # A zero-area box still converts (aspect fix widens it); readers skip such boxes.
    c, s = bbox_xywh_to_center_scale(bad, (256, 192))
    assert s[0] > 0
