"""An oracle predict_fn: returns the ground-truth heatmaps of the crops it is given."""
import numpy as np

from vipnas_tf.codecs import affine_transform_points, get_affine_matrix


class OracleFn:
    """predict_fn replaying ground-truth heatmaps for an evaluator's rows, in order.

    With flip_test, calls alternate between the plain batch and its mirror image.
    """

    def __init__(self, evaluator, batch_size, flip_test=False, shift_px=0.0):
        s, codec = evaluator.samples, evaluator.codec
        h, w = codec.input_size
        kp = np.stack([affine_transform_points(s.keypoints[i], get_affine_matrix(
            evaluator.centers[i], evaluator.scales[i], 0, codec.input_size)) for i in range(len(s))])
        kp = kp + np.array([shift_px, 0.0], np.float32)
        self.plain, _ = codec.encode_batch(kp, s.visible)
        mirrored = kp.copy()
        mirrored[..., 0] = w - 1 - kp[..., 0]
        index = s.info.flip_index
        self.flipped, _ = codec.encode_batch(mirrored[:, index], s.visible[:, index])
        self.batch_size, self.flip_test = batch_size, flip_test
        self.start, self.calls = 0, 0

    def __call__(self, images):
        n = len(images)
        assert images.dtype == np.float32 and images.ndim == 4
        flipped = self.flip_test and self.calls % 2 == 1
        out = (self.flipped if flipped else self.plain)[self.start:self.start + n]
        self.calls += 1
        if not self.flip_test or flipped:
            self.start += n
        return out
