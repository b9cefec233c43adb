"""Boxes as (centre, scale) and the affine maps between an image and a person crop.

Conventions (mmpose 1.x style, shared by the input pipeline, inference and export):
- A box is a centre (x, y) and a scale (w, h), both in image pixels. `scale` is the
  size of the image region that fills the whole crop, already enlarged to the crop's
  aspect ratio and padded (1.25 by default).
- Pixel coordinates are pixel-index coordinates: pixel (i, j) has centre (j, i).
- Sizes are (H, W) like arrays; points are (x, y).
- The forward map sends the box centre to (W/2, H/2) of the crop and scales the box
  to the crop; a positive `rotation` (degrees) rotates the box counter-clockwise in
  the image, so the image content appears rotated clockwise in the crop.
"""
import numpy as np


def fix_aspect_ratio(scale, aspect_ratio):
    """Enlarges scale [..., 2] (w, h) to the aspect ratio w / h = `aspect_ratio`."""
    scale = np.asarray(scale, np.float32)
    w, h = scale[..., 0], scale[..., 1]
    wide = w > h * aspect_ratio
    new_w = np.where(wide, w, h * aspect_ratio)
    new_h = np.where(wide, w / aspect_ratio, h)
    return np.stack([new_w, new_h], axis=-1).astype(np.float32)


def bbox_xywh_to_center_scale(bbox, input_size=(256, 192), padding=1.25):
    """Converts boxes [..., 4] (x, y, w, h) to centre [..., 2] and scale [..., 2].

    The box is enlarged to the aspect W:H of `input_size` (H, W) and multiplied by
    `padding` (the usual 1.25 of top-down pose estimation).
    """
    bbox = np.asarray(bbox, np.float32)
    center = bbox[..., :2] + 0.5 * bbox[..., 2:4]
    aspect = float(input_size[1]) / float(input_size[0])
    scale = fix_aspect_ratio(bbox[..., 2:4], aspect) * padding
    return center.astype(np.float32), scale.astype(np.float32)


def bbox_from_keypoints(keypoints, visible):
    """Tight box (x, y, w, h) around the visible keypoints [K, 2]; None if none."""
    pts = np.asarray(keypoints, np.float32)[np.asarray(visible) > 0]
    if len(pts) == 0:
        return None
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    return np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]], np.float32)


def get_affine_matrix(center, scale, rotation, output_size, inverse=False):
    """The 2x3 affine mapping the (center, scale, rotation) box onto an output crop.

    Args:
      center: (x, y) box centre in image pixels.
      scale: (w, h) box size in image pixels.
      rotation: degrees; positive rotates the box counter-clockwise in the image.
      output_size: (H, W) of the crop.
      inverse: return the crop -> image map instead.

    Returns:
      float64 array [2, 3] usable with `cv2.warpAffine` (forward) or
      `affine_transform_points`.
    """
    out_h, out_w = float(output_size[0]), float(output_size[1])
    sx = out_w / float(scale[0])
    sy = out_h / float(scale[1])
    theta = np.deg2rad(float(rotation))
    cos, sin = np.cos(theta), np.sin(theta)
    # crop = S @ R @ (p - c) + o, with R rotating image vectors by +theta on screen
    # (y axis down) so that the box's own axes become the crop's axes.
    rot = np.array([[cos, -sin], [sin, cos]])
    lin = np.diag([sx, sy]) @ rot
    offset = np.array([out_w * 0.5, out_h * 0.5]) - lin @ np.asarray(center, np.float64)
    forward = np.concatenate([lin, offset[:, None]], axis=1)
    if not inverse:
        return forward
    return invert_affine(forward)


def invert_affine(matrix):
    """Inverse of a 2x3 affine matrix."""
    lin = matrix[:, :2]
    inv_lin = np.linalg.inv(lin)
    return np.concatenate([inv_lin, -inv_lin @ matrix[:, 2:3]], axis=1)


def compose_affine(outer, inner):
    """The 2x3 affine `outer(inner(p))`."""
    a = np.vstack([outer, [0.0, 0.0, 1.0]])
    b = np.vstack([inner, [0.0, 0.0, 1.0]])
    return (a @ b)[:2]


def horizontal_flip_matrix(width):
    """2x3 affine that mirrors x inside an image of `width` pixels: x -> width - 1 - x."""
    return np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0]])


def affine_transform_points(points, matrix):
    """Applies a 2x3 affine to points [..., 2]; returns float32 [..., 2]."""
    points = np.asarray(points, np.float64)
    out = points @ matrix[:, :2].T + matrix[:, 2]
    return out.astype(np.float32)


def keypoints_crop_to_image(keypoints, center, scale, input_size):
    """Maps crop keypoints back to image pixels (no rotation; the inference case).

    Args:
      keypoints: [N, K, 2] in input-crop pixels.
      center: [N, 2] box centres in image pixels.
      scale: [N, 2] box sizes in image pixels.
      input_size: (H, W) of the crop.

    Returns:
      float32 [N, K, 2] in image pixels.
    """
    keypoints = np.asarray(keypoints, np.float32)
    center = np.asarray(center, np.float32)[:, None, :]
    scale = np.asarray(scale, np.float32)[:, None, :]
    size_xy = np.array([input_size[1], input_size[0]], np.float32)
    return keypoints / size_xy * scale + center - 0.5 * scale


def keypoints_crop_to_image_tf(keypoints, center, scale, input_size):
    """TF twin of `keypoints_crop_to_image` for export graphs (pure arithmetic ops).

    Args:
      keypoints: tensor [N, K, 2] in input-crop pixels.
      center, scale: tensors [N, 2] in image pixels.
      input_size: python (H, W).
    """
    import tensorflow as tf  # local: keeps numpy users of this module TF-free

    size_xy = tf.constant([float(input_size[1]), float(input_size[0])], tf.float32)
    center = tf.cast(center, tf.float32)[:, None, :]
    scale = tf.cast(scale, tf.float32)[:, None, :]
    return tf.cast(keypoints, tf.float32) / size_xy * scale + center - 0.5 * scale
