"""Keypoints <-> Gaussian heatmaps: the one codec shared by data, inference and export.

Shape letters: N batch, K keypoints, H/W input-crop size, h/w heatmap size.

Coordinates: keypoints are in input-crop pixels (pixel-index convention); heatmap
coordinates are crop coordinates divided by the stride (W / w, H / h), as in mmpose's
MSRA heatmap codec. Targets are *unbiased* Gaussians centred on the exact sub-pixel
location (not rounded to the grid) so that DARK decoding can recover the sub-pixel
position; the standard decode (argmax + a quarter-pixel shift towards the higher
neighbour) is the SimpleBaseline / HRNet one.
"""
import numpy as np

_MIN_LOG = 1e-10


def _as_index(flip_pairs_or_index, num_keypoints):
    """Accepts flip pairs ((i, j), ...) or a permutation [K]; returns the permutation."""
    arr = np.asarray(flip_pairs_or_index)
    if arr.ndim == 1 and arr.size == num_keypoints:
        return arr.astype(np.int64)
    index = np.arange(num_keypoints)
    for i, j in np.reshape(arr, (-1, 2)):
        index[i], index[j] = j, i
    return index


class HeatmapCodec:
    """Encodes keypoints to Gaussian target heatmaps and decodes heatmaps to keypoints.

    Args:
      input_size: (H, W) of the input crop, e.g. (256, 192).
      heatmap_size: (h, w); defaults to input_size / 4.
      sigma: Gaussian standard deviation in heatmap pixels (2.0 at 64x48).
      refine: "quarter" (argmax + quarter-pixel shift, the default) or "dark"
        (distribution-aware Taylor refinement; numpy `decode` only).

    Example:
      >>> codec = HeatmapCodec((256, 192))
      >>> hm, w = codec.encode(np.array([[96., 128.]] * 17), np.ones(17))
      >>> hm.shape, w.shape
      ((64, 48, 17), (17,))
      >>> kps, scores = codec.decode(hm[None])   # kps [1, 17, 2] ~ (96, 128)
    """

    def __init__(self, input_size=(256, 192), heatmap_size=None, sigma=2.0, refine="quarter"):
        self.input_size = (int(input_size[0]), int(input_size[1]))
        if heatmap_size is None:
            heatmap_size = (self.input_size[0] // 4, self.input_size[1] // 4)
        self.heatmap_size = (int(heatmap_size[0]), int(heatmap_size[1]))
        self.sigma = float(sigma)
        if refine not in ("quarter", "dark"):
            raise ValueError(f"refine must be 'quarter' or 'dark', got {refine!r}")
        self.refine = refine

    @property
    def stride(self):
        """(sx, sy): input-crop pixels per heatmap pixel along x and y."""
        return (self.input_size[1] / self.heatmap_size[1],
                self.input_size[0] / self.heatmap_size[0])

    def get_config(self):
        """Constructor arguments as a plain dict."""
        return {"input_size": list(self.input_size), "heatmap_size": list(self.heatmap_size),
                "sigma": self.sigma, "refine": self.refine}

    # ------------------------------------------------------------------ encode
    def encode(self, keypoints, visible):
        """Target heatmaps for one person.

        Args:
          keypoints: [K, 2] (x, y) in input-crop pixels.
          visible: [K] > 0 where the keypoint is labelled.

        Returns:
          heatmaps: float32 [h, w, K], peak 1 at each labelled keypoint, zero maps for
            unlabelled ones.
          target_weight: float32 [K], 1 for labelled keypoints whose 3-sigma window
            overlaps the heatmap, else 0.
        """
        hm, tw = self.encode_batch(np.asarray(keypoints)[None], np.asarray(visible)[None])
        return hm[0], tw[0]

    def encode_batch(self, keypoints, visible):
        """Batched `encode`: keypoints [N, K, 2], visible [N, K] -> [N, h, w, K], [N, K]."""
        keypoints = np.asarray(keypoints, np.float32)
        visible = np.asarray(visible)
        h, w = self.heatmap_size
        sx, sy = self.stride
        mu_x = keypoints[..., 0] / sx  # [N, K]
        mu_y = keypoints[..., 1] / sy
        radius = 3.0 * self.sigma
        inside = ((mu_x - radius < w) & (mu_y - radius < h)
                  & (mu_x + radius >= 0) & (mu_y + radius >= 0))
        weight = ((visible > 0) & inside & np.isfinite(mu_x) & np.isfinite(mu_y))
        weight = weight.astype(np.float32)
        xs = np.arange(w, dtype=np.float32)
        ys = np.arange(h, dtype=np.float32)
        # The 2-D Gaussian is separable: exp(-(dx^2+dy^2)/2s^2) = gx * gy.
        inv = 1.0 / (2.0 * self.sigma ** 2)
        mx = np.where(weight > 0, mu_x, 0.0)[..., None]
        my = np.where(weight > 0, mu_y, 0.0)[..., None]
        gx = np.exp(-((xs - mx) ** 2) * inv) * weight[..., None]  # [N, K, w]
        gy = np.exp(-((ys - my) ** 2) * inv)  # [N, K, h]
        heatmaps = np.einsum("nkh,nkw->nhwk", gy, gx).astype(np.float32)
        return heatmaps, weight

    def encode_tf(self, keypoints, visible):
        """TF twin of `encode_batch` (same values), for use inside tf.data graphs.

        Args:
          keypoints: tensor [..., K, 2] in input-crop pixels.
          visible: tensor [..., K].

        Returns:
          (heatmaps [..., h, w, K] float32, target_weight [..., K] float32).
        """
        import tensorflow as tf  # local: keeps numpy users of the codecs (readers, LiteRT harness) TF-free

        keypoints = tf.cast(keypoints, tf.float32)
        h, w = self.heatmap_size
        sx, sy = self.stride
        mu_x = keypoints[..., 0] / sx
        mu_y = keypoints[..., 1] / sy
        radius = 3.0 * self.sigma
        inside = ((mu_x - radius < w) & (mu_y - radius < h)
                  & (mu_x + radius >= 0) & (mu_y + radius >= 0))
        finite = tf.math.is_finite(mu_x) & tf.math.is_finite(mu_y)
        weight = tf.cast((tf.cast(visible, tf.float32) > 0) & inside & finite, tf.float32)
        inv = 1.0 / (2.0 * self.sigma ** 2)
        mx = tf.where(weight > 0, mu_x, 0.0)[..., None]
        my = tf.where(weight > 0, mu_y, 0.0)[..., None]
        gx = tf.exp(-tf.square(tf.range(w, dtype=tf.float32) - mx) * inv) * weight[..., None]
        gy = tf.exp(-tf.square(tf.range(h, dtype=tf.float32) - my) * inv)
        heatmaps = gy[..., :, None] * gx[..., None, :]  # [..., K, h, w]
        rank = len(heatmaps.shape)
        perm = list(range(rank - 3)) + [rank - 2, rank - 1, rank - 3]
        return tf.transpose(heatmaps, perm), weight

    # ------------------------------------------------------------------ decode
    def decode(self, heatmaps, refine=None):
        """Keypoints and scores from heatmaps (numpy).

        Args:
          heatmaps: [N, h, w, K] (or [h, w, K] for one person).
          refine: override the codec's refinement ("quarter" or "dark").

        Returns:
          keypoints: float32 [N, K, 2] in input-crop pixels.
          scores: float32 [N, K], the heatmap maxima.
        """
        heatmaps = np.asarray(heatmaps, np.float32)
        single = heatmaps.ndim == 3
        if single:
            heatmaps = heatmaps[None]
        n, h, w, k = heatmaps.shape
        flat = heatmaps.transpose(0, 3, 1, 2).reshape(n, k, h * w)
        idx = flat.argmax(axis=-1)
        scores = np.take_along_axis(flat, idx[..., None], axis=-1)[..., 0]
        x = (idx % w).astype(np.int64)
        y = (idx // w).astype(np.int64)
        refine = refine or self.refine
        if refine == "dark":
            coords = _refine_dark(heatmaps, x, y, self.sigma)
        else:
            coords = _refine_quarter(flat, x, y, h, w)
        sx, sy = self.stride
        keypoints = coords * np.array([sx, sy], np.float32)
        if single:
            return keypoints[0], scores[0]
        return keypoints.astype(np.float32), scores.astype(np.float32)

    def decode_tf(self, heatmaps):
        """Pure-TF decode (argmax + quarter-pixel shift), traceable in export graphs.

        Uses only ops TFLite supports (transpose, reshape, argmax, reduce_max, gather,
        arithmetic, comparisons, casts), so a model can emit keypoints directly.

        Args:
          heatmaps: tensor [N, h, w, K].

        Returns:
          (keypoints [N, K, 2] float32 in input-crop pixels, scores [N, K] float32).
        """
        import tensorflow as tf  # local: keeps numpy users of the codecs (readers, LiteRT harness) TF-free

        heatmaps = tf.cast(heatmaps, tf.float32)
        h, w = self.heatmap_size
        k = heatmaps.shape[-1]
        flat = tf.reshape(tf.transpose(heatmaps, [0, 3, 1, 2]), [-1, k, h * w])
        idx = tf.argmax(flat, axis=-1, output_type=tf.int32)  # [N, K]
        scores = tf.reduce_max(flat, axis=-1)
        x = idx - (idx // w) * w  # floormod, spelled out for converters
        y = idx // w
        # Neighbour indices, clamped into range; out-of-range ones are masked below.
        last = h * w - 1
        neighbours = tf.stack([
            tf.clip_by_value(idx + 1, 0, last), tf.clip_by_value(idx - 1, 0, last),
            tf.clip_by_value(idx + w, 0, last), tf.clip_by_value(idx - w, 0, last)], axis=-1)
        vals = tf.gather(flat, neighbours, batch_dims=2)  # [N, K, 4]
        dx = vals[..., 0] - vals[..., 1]
        dy = vals[..., 2] - vals[..., 3]
        ok_x = tf.cast((x > 0) & (x < w - 1), tf.float32)
        ok_y = tf.cast((y > 0) & (y < h - 1), tf.float32)
        sign_x = tf.cast(dx > 0, tf.float32) - tf.cast(dx < 0, tf.float32)
        sign_y = tf.cast(dy > 0, tf.float32) - tf.cast(dy < 0, tf.float32)
        fx = tf.cast(x, tf.float32) + 0.25 * sign_x * ok_x
        fy = tf.cast(y, tf.float32) + 0.25 * sign_y * ok_y
        sx, sy = self.stride
        keypoints = tf.stack([fx * sx, fy * sy], axis=-1)
        return keypoints, scores


def _refine_quarter(flat, x, y, h, w):
    """argmax (x, y) [N, K] -> float coords shifted 0.25 towards the higher neighbour."""
    idx = y * w + x
    last = h * w - 1

    def at(i):
        return np.take_along_axis(flat, np.clip(i, 0, last)[..., None], axis=-1)[..., 0]

    dx = at(idx + 1) - at(idx - 1)
    dy = at(idx + w) - at(idx - w)
    ok_x = (x > 0) & (x < w - 1)
    ok_y = (y > 0) & (y < h - 1)
    fx = x + 0.25 * np.sign(dx) * ok_x
    fy = y + 0.25 * np.sign(dy) * ok_y
    return np.stack([fx, fy], axis=-1).astype(np.float32)


def _gaussian_blur(heatmaps, kernel_size):
    """Zero-padded separable Gaussian blur of [N, h, w, K] keeping each map's maximum."""
    sigma = 0.3 * ((kernel_size - 1) * 0.5 - 1) + 0.8  # OpenCV's sigma for ksize
    r = kernel_size // 2
    t = np.arange(-r, r + 1, dtype=np.float32)
    kern = np.exp(-t ** 2 / (2 * sigma ** 2))
    kern /= kern.sum()
    n, h, w, k = heatmaps.shape
    padded = np.pad(heatmaps, ((0, 0), (r, r), (r, r), (0, 0)))
    tmp = sum(kern[i] * padded[:, :, i:i + w] for i in range(kernel_size))
    out = sum(kern[i] * tmp[:, i:i + h] for i in range(kernel_size))
    peak_in = heatmaps.max(axis=(1, 2), keepdims=True)
    peak_out = np.maximum(out.max(axis=(1, 2), keepdims=True), _MIN_LOG)
    return out * (peak_in / peak_out)


def _refine_dark(heatmaps, x, y, sigma):
    """DARK: a second-order Taylor step on the log of the blurred heatmap (Zhang 2020)."""
    n, h, w, k = heatmaps.shape
    kernel = int(round(6 * sigma - 1))
    kernel += 1 - kernel % 2
    logh = np.log(np.maximum(_gaussian_blur(heatmaps, kernel), _MIN_LOG))
    logh = logh.transpose(0, 3, 1, 2)  # [N, K, h, w]
    coords = np.stack([x, y], axis=-1).astype(np.float32)
    ni, ki = np.meshgrid(np.arange(n), np.arange(k), indexing="ij")
    ok = (x > 1) & (x < w - 2) & (y > 1) & (y < h - 2)
    xc, yc = np.clip(x, 2, w - 3), np.clip(y, 2, h - 3)

    def at(dy, dx):
        return logh[ni, ki, yc + dy, xc + dx]

    dx = 0.5 * (at(0, 1) - at(0, -1))
    dy = 0.5 * (at(1, 0) - at(-1, 0))
    dxx = 0.25 * (at(0, 2) - 2 * at(0, 0) + at(0, -2))
    dyy = 0.25 * (at(2, 0) - 2 * at(0, 0) + at(-2, 0))
    dxy = 0.25 * (at(1, 1) - at(-1, 1) - at(1, -1) + at(-1, -1))
    det = dxx * dyy - dxy ** 2
    ok &= np.abs(det) > 1e-12
    safe = np.where(ok, det, 1.0)
    # offset = -H^-1 g with H^-1 = [[dyy, -dxy], [-dxy, dxx]] / det
    off_x = -(dyy * dx - dxy * dy) / safe
    off_y = -(-dxy * dx + dxx * dy) / safe
    # A step larger than a pixel means the quadratic model is off (flat or
    # multi-modal map); keep the integer argmax there.
    ok &= (np.abs(off_x) < 1.0) & (np.abs(off_y) < 1.0)
    coords[..., 0] += np.where(ok, off_x, 0.0)
    coords[..., 1] += np.where(ok, off_y, 0.0)
    return coords


# ---------------------------------------------------------------------- flip test
def flip_back(heatmaps, flip_pairs, shift=False):
    """Heatmaps of a horizontally flipped input, mapped back to the original frame.

    Mirrors the w axis and swaps left/right channels.

    Args:
      heatmaps: [N, h, w, K] predicted on flipped crops.
      flip_pairs: ((left, right), ...) slot pairs, or a permutation [K].
      shift: also apply the one-pixel shift (see `flip_test_average`).

    Returns:
      float32 [N, h, w, K].
    """
    heatmaps = np.asarray(heatmaps, np.float32)
    index = _as_index(flip_pairs, heatmaps.shape[-1])
    out = heatmaps[:, :, ::-1, :][..., index]
    if shift:
        out = out.copy()
        out[:, :, 1:] = out[:, :, :-1]
    return np.ascontiguousarray(out)


def flip_test_average(heatmaps, flipped_heatmaps, flip_pairs, shift=True):
    """Flip-test fusion: mean of the heatmaps and the flipped-back flipped heatmaps.

    A crop flipped about its pixel columns maps x to W - 1 - x, so the flipped-back
    heatmap peaks 0.75 heatmap pixels left of the true location; shifting it one pixel
    right (SimpleBaseline's trick) leaves a 0.25-pixel error instead.

    Args:
      heatmaps: [N, h, w, K] on the original crops.
      flipped_heatmaps: [N, h, w, K] on the horizontally flipped crops.
      flip_pairs: ((left, right), ...) or a permutation [K].
      shift: apply the one-pixel shift.

    Returns:
      float32 [N, h, w, K].
    """
    back = flip_back(flipped_heatmaps, flip_pairs, shift=shift)
    return 0.5 * (np.asarray(heatmaps, np.float32) + back)


def flip_test_average_tf(heatmaps, flipped_heatmaps, flip_pairs, shift=True):
    """TF twin of `flip_test_average` for graphs: tensors [N, h, w, K] (static K)."""
    import tensorflow as tf  # local: keeps numpy users of the codecs (readers, LiteRT harness) TF-free

    index = _as_index(flip_pairs, flipped_heatmaps.shape[-1]).tolist()
    back = tf.gather(tf.reverse(flipped_heatmaps, axis=[2]), index, axis=-1)
    if shift:
        back = tf.concat([back[:, :, :1], back[:, :, :-1]], axis=2)
    return 0.5 * (tf.cast(heatmaps, tf.float32) + tf.cast(back, tf.float32))
