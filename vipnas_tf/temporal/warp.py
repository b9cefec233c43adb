"""Previous heatmaps moved into the current crop: the one warp of training, clip
evaluation and online inference.

A T-ViPNet fuses the heatmaps of the previous frame (paper Eq. 2, Fig. 2). They were
predicted in the previous frame's crop, while the T-ViPNet sees the current frame's
crop, which is cut around the current box (and, in training, through the clip's random
rotation / scale / flip). Before fusion the previous heatmaps are therefore resampled
on the current crop's heatmap grid:

    A_f = D @ M_f                         image pixels -> heatmap pixels of frame f
    warp = A_(t-1) @ inverse(A_t)         heatmap pixel of frame t -> of frame t-1

with `M_f` the 2x3 crop affine of frame f (image -> input-crop pixels,
`vipnas_tf.codecs.affine` conventions: pixel-index coordinates, the box centre at
(W/2, H/2)) and D = diag(w / W, h / H) (the heatmap codec's convention: heatmap
coordinates = crop coordinates / stride). `warp_heatmaps` samples the previous heatmaps
bilinearly at `warp @ (u, v, 1)` for every current heatmap pixel (u, v); outside the
previous crop the heatmaps are zero, reached linearly over one heatmap pixel beyond the
border (as if the heatmaps were padded with one ring of zeros).

Everything here is TensorFlow (differentiable in the heatmaps, usable inside
`tf.function` and `tf.while_loop`), so the training graph, the evaluators and the video
runner call the same code and get the same numbers. A clip's random flip is shared by all
its frames, so the flips cancel in `warp` and the heatmap channels stay in the same
(flipped) order. Identical crops give the identity warp, which returns the heatmaps
unchanged.

Shape letters: N batch, h/w heatmap size, K keypoints, H/W input size.
"""
import tensorflow as tf


def _homogeneous(matrix):
    """[..., 2, 3] -> [..., 3, 3] with the row (0, 0, 1)."""
    shape = tf.shape(matrix)
    bottom = tf.broadcast_to(tf.constant([0.0, 0.0, 1.0], matrix.dtype), tf.concat([shape[:-2], [1, 3]], axis=0))
    return tf.concat([matrix, bottom], axis=-2)


def heatmap_warp_matrix(prev_crop_matrix, crop_matrix, input_size, heatmap_size):
    """The sampling matrix of the previous heatmaps on the current heatmap grid.

    Args:
      prev_crop_matrix: [..., 2, 3] crop affine (image -> input-crop pixels) of the frame
        the heatmaps were predicted in.
      crop_matrix: [..., 2, 3] crop affine of the current frame.
      input_size: (H, W) of the crops.
      heatmap_size: (h, w) of the heatmaps.

    Returns:
      float32 [..., 2, 3]: current heatmap pixel (u, v, 1) -> previous heatmap pixel.
      Computed in float64 (image coordinates reach thousands of pixels); no gradient
      (the crops are data).
    """
    scale = tf.constant([[heatmap_size[1] / input_size[1], 0.0, 0.0],
                         [0.0, heatmap_size[0] / input_size[0], 0.0],
                         [0.0, 0.0, 1.0]], tf.float64)
    prev = scale @ _homogeneous(tf.cast(prev_crop_matrix, tf.float64))
    cur = scale @ _homogeneous(tf.cast(crop_matrix, tf.float64))
    warp = prev @ tf.linalg.inv(cur)
    return tf.stop_gradient(tf.cast(warp[..., :2, :], tf.float32))


def warp_heatmaps(heatmaps, warp_matrix):
    """Samples heatmaps [N, h, w, K] at `warp_matrix` [N, 2, 3] (see the module doc).

    Bilinear, zero outside (one zero ring: a point up to one heatmap pixel past the
    border still gets a linear share of the border value). Differentiable in `heatmaps`.
    """
    heatmaps = tf.convert_to_tensor(heatmaps)
    dtype = heatmaps.dtype
    h, w, k = (int(d) for d in heatmaps.shape[1:4])
    n = tf.shape(heatmaps)[0]
    warp_matrix = tf.cast(warp_matrix, tf.float32)
    vs, us = tf.meshgrid(tf.range(h, dtype=tf.float32), tf.range(w, dtype=tf.float32), indexing="ij")
    grid = tf.stack([tf.reshape(us, [-1]), tf.reshape(vs, [-1]), tf.ones([h * w])], axis=0)  # [3, h*w]
    src = tf.einsum("nij,jp->nip", warp_matrix, grid)  # [N, 2, h*w] (x, y) in the previous heatmap
    # Coordinates in the heatmaps padded with one ring of zeros.
    x = tf.clip_by_value(src[:, 0] + 1.0, 0.0, w + 1.0)
    y = tf.clip_by_value(src[:, 1] + 1.0, 0.0, h + 1.0)
    x0 = tf.minimum(tf.floor(x), float(w))
    y0 = tf.minimum(tf.floor(y), float(h))
    fx = tf.cast(x - x0, dtype)[..., None]
    fy = tf.cast(y - y0, dtype)[..., None]
    x0, y0 = tf.cast(x0, tf.int32), tf.cast(y0, tf.int32)
    padded = tf.reshape(tf.pad(heatmaps, [[0, 0], [1, 1], [1, 1], [0, 0]]), [n, (h + 2) * (w + 2), k])
    index = y0 * (w + 2) + x0  # [N, h*w]

    def at(offset):
        return tf.gather(padded, index + offset, batch_dims=1)  # [N, h*w, K]

    top = at(0) * (1.0 - fx) + at(1) * fx
    bottom = at(w + 2) * (1.0 - fx) + at(w + 3) * fx
    return tf.reshape(top * (1.0 - fy) + bottom * fy, [n, h, w, k])


def warp_previous_heatmaps(heatmaps, prev_crop_matrix, crop_matrix, input_size):
    """Heatmaps [N, h, w, K] of the crops `prev_crop_matrix` [N, 2, 3] moved into the
    crops `crop_matrix` [N, 2, 3] (both image -> input-crop affines at `input_size`).

    Example:
      >>> prev = warp_previous_heatmaps(h0, batch["crop_matrix"][:, 0], batch["crop_matrix"][:, 1], (64, 64))
    """
    heatmaps = tf.convert_to_tensor(heatmaps)
    heatmap_size = (int(heatmaps.shape[1]), int(heatmaps.shape[2]))
    return warp_heatmaps(heatmaps, heatmap_warp_matrix(prev_crop_matrix, crop_matrix, input_size, heatmap_size))


def frame_input_heatmaps(prev, crop_matrices, t, input_size):
    """What the T-ViPNet of clip frame `t` (1..T) fuses: the heatmaps `prev` [N, h, w, K]
    of frame t - 1 warped into frame t's crop; `prev` itself when `crop_matrices`
    ([N, T + 1, 2, 3] per-frame crop affines, or None) is None. `t` may be a tensor
    (inside `tf.while_loop`)."""
    if crop_matrices is None:
        return prev
    crop_matrices = tf.convert_to_tensor(crop_matrices)
    return warp_previous_heatmaps(prev, tf.gather(crop_matrices, t - 1, axis=1),
                                  tf.gather(crop_matrices, t, axis=1), input_size)
