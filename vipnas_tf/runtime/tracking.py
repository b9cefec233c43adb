"""Person tracks of the online video runner: boxes, association, heatmap hand-over.

A `Track` is one person followed from frame to frame. It carries the state of the
propagation (paper Fig. 2): the heatmaps of its previous frame, in the coordinates of
the crop they were predicted in, and its position in the key-frame cycle.

When the person's box moves between two frames, the previous heatmaps are *warped*
into the new crop before the T-ViPNet sees them: heatmap pixel (u, v) of the new crop
maps to an image point and from there into the old crop (`vipnas_tf.temporal.warp`,
the same function as in training and clip evaluation: bilinear, zeros outside the old
crop). `warp_heatmaps` is that warp for two crops given as (center, scale).

Boxes are (x, y, w, h) in image pixels; crops use (center, scale) as in
`vipnas_tf.codecs.affine`.
"""
import dataclasses
from typing import Optional

import numpy as np

from vipnas_tf.codecs.affine import bbox_from_keypoints, get_affine_matrix
from vipnas_tf.temporal.warp import warp_previous_heatmaps


@dataclasses.dataclass
class Track:
    """One tracked person.

    Attributes:
      track_id: stable id (the PoseTrack `track_id`).
      box: (x, y, w, h) of the current frame's crop box.
      position: position in the key-frame cycle for the next frame: 0 = key frame
        (S-ViPNet), 1..T = the T-ViPNet of that non-key frame.
      heatmaps: [h, w, K] of the last frame (None before the first key frame).
      center, scale: the crop (image pixels) those heatmaps belong to.
      crop_matrix: that crop's affine [2, 3] (image -> crop pixels).
      keypoints, scores: [K, 2] image pixels and [K] of the last frame.
      missed: consecutive frames without a confident pose (keypoint tracking).
      anchor: the box a person detector last gave this track (None: no detector).
    """

    track_id: int
    box: np.ndarray
    position: int = 0
    heatmaps: Optional[np.ndarray] = None
    center: Optional[np.ndarray] = None
    scale: Optional[np.ndarray] = None
    crop_matrix: Optional[np.ndarray] = None
    keypoints: Optional[np.ndarray] = None
    scores: Optional[np.ndarray] = None
    missed: int = 0
    anchor: Optional[np.ndarray] = None


def iou(a, b):
    """IoU of boxes a [n, 4] and b [m, 4] (x, y, w, h) -> [n, m]."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def match_boxes(previous, current, threshold=0.3):
    """Greedy IoU association (highest IoU first).

    Returns:
      (pairs [(i_prev, j_cur)], unmatched current indices).
    """
    if len(previous) == 0 or len(current) == 0:
        return [], list(range(len(current)))
    overlaps = iou(previous, current)
    pairs, used_p, used_c = [], set(), set()
    for flat in np.argsort(-overlaps, axis=None):
        i, j = np.unravel_index(flat, overlaps.shape)
        if overlaps[i, j] < threshold:
            break
        if i in used_p or j in used_c:
            continue
        pairs.append((int(i), int(j)))
        used_p.add(i)
        used_c.add(j)
    return pairs, [j for j in range(len(current)) if j not in used_c]


def box_from_pose(keypoints, scores, threshold=0.3, min_keypoints=4, enlarge=1.2, frame_size=None):
    """Box (x, y, w, h) around the confident keypoints, enlarged about its centre by
    `enlarge` (a keypoint box is tighter than a person box: it misses the top of the
    head and the feet), clipped to the frame; None when fewer than `min_keypoints`
    keypoints reach `threshold`."""
    visible = np.asarray(scores) >= threshold
    if int(visible.sum()) < min_keypoints:
        return None
    tight = bbox_from_keypoints(keypoints, visible)
    cx, cy = tight[0] + tight[2] / 2, tight[1] + tight[3] / 2
    side = max(tight[2], tight[3]) * 0.1  # a straight-arm pose still gets some width
    w, h = max(tight[2], side) * enlarge, max(tight[3], side) * enlarge
    box = np.array([cx - w / 2, cy - h / 2, w, h], np.float32)
    if frame_size is not None:
        box = clip_box(box, frame_size)
    return box if box[2] > 1 and box[3] > 1 else None


def clip_box(box, frame_size):
    """Clips (x, y, w, h) to a (width, height) frame."""
    fw, fh = frame_size
    x1, y1 = np.clip(box[0], 0, fw), np.clip(box[1], 0, fh)
    x2, y2 = np.clip(box[0] + box[2], 0, fw), np.clip(box[1] + box[3], 0, fh)
    return np.array([x1, y1, x2 - x1, y2 - y1], np.float32)


def warp_heatmaps(heatmaps, src_center, src_scale, dst_center, dst_scale):
    """Moves heatmaps [h, w, K] predicted in the crop (src_center, src_scale) into the
    crop (dst_center, dst_scale) of the same frame size (bilinear, zeros outside): the
    shared `vipnas_tf.temporal.warp` with the two crops' (un-rotated) affines. The
    same crop returns `heatmaps` itself.
    """
    heatmaps = np.asarray(heatmaps, np.float32)
    if np.allclose(src_center, dst_center) and np.allclose(src_scale, dst_scale):
        return heatmaps
    # The heatmap-level affine of an axis-aligned crop does not depend on the input
    # size, so the crops are built at heatmap size directly.
    size = heatmaps.shape[:2]
    src = get_affine_matrix(src_center, src_scale, 0.0, size).astype(np.float32)
    dst = get_affine_matrix(dst_center, dst_scale, 0.0, size).astype(np.float32)
    return warp_previous_heatmaps(heatmaps[None], src[None], dst[None], size)[0].numpy()


def parse_box(text, frame_size=None):
    """'x,y,w,h' -> float32 [4]; ValueError naming the text."""
    try:
        box = np.array([float(v) for v in str(text).split(",")], np.float32)
    except ValueError:
        box = np.zeros(0)
    if box.shape != (4,) or box[2] <= 0 or box[3] <= 0:
        raise ValueError(f"box {text!r}: expected x,y,w,h with w, h > 0")
    if frame_size is not None:
        clipped = clip_box(box, frame_size)
        if clipped[2] <= 1 or clipped[3] <= 1:
            raise ValueError(f"box {text!r} lies outside the {frame_size[0]}x{frame_size[1]} frame")
        box = clipped
    return box
