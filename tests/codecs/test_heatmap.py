import numpy as np
import pytest
import tensorflow as tf

from vipnas_tf.codecs import COCO_INFO, HeatmapCodec, flip_back, flip_test_average, flip_test_average_tf


def _interior_keypoints(rng, n, input_size=(256, 192), margin=12):
    h, w = input_size
    return rng.uniform([margin, margin], [w - 1 - margin, h - 1 - margin], size=(n, 17, 2)).astype(np.float32)


def test_encode_shapes_peak_and_weights():
    codec = HeatmapCodec((256, 192))
    kp = np.tile([[100.0, 120.0]], (17, 1))
    vis = np.ones(17)
    vis[3] = 0  # unlabelled
    kp[4] = [-40.0, -40.0]  # 3 sigma window entirely outside the heatmap
    kp[5] = [-4.0, 120.0]  # centre just outside, window overlaps: kept (as mmpose)
    hm, tw = codec.encode(kp, vis)
    assert hm.shape == (64, 48, 17) and hm.dtype == np.float32
    assert tw.tolist() == [1, 1, 1, 0, 0] + [1] * 12
    assert hm[..., 3].max() == 0 and hm[..., 4].max() == 0
    # The peak sits at keypoint / stride: (100 / 4, 120 / 4) = (25, 30), value 1.
    assert np.unravel_index(hm[..., 0].argmax(), (64, 48)) == (30, 25)
    assert hm[30, 25, 0] == pytest.approx(1.0)
    # Gaussian with sigma 2: one pixel away exp(-1/8).
    assert hm[30, 26, 0] == pytest.approx(np.exp(-1 / 8), rel=1e-5)


@pytest.mark.parametrize("input_size", [(256, 192), (128, 96), (384, 288)])
def test_round_trip_quarter_within_one_input_pixel(input_size):
    codec = HeatmapCodec(input_size)
    assert codec.heatmap_size == (input_size[0] // 4, input_size[1] // 4)
    kp = _interior_keypoints(np.random.default_rng(0), 20, input_size)
    hm, _ = codec.encode_batch(kp, np.ones((20, 17)))
    dec, scores = codec.decode(hm)
    # argmax is within 0.5 heatmap px; the quarter shift halves that: <= 0.25 px = 1 input px.
    assert np.abs(dec - kp).max() <= 1.0 + 1e-4
    assert scores.min() > 0.88  # the peak of a sub-pixel Gaussian is >= exp(-0.25/4)


def test_round_trip_dark_is_subpixel_exact():
    codec = HeatmapCodec((256, 192), refine="dark")
    kp = _interior_keypoints(np.random.default_rng(1), 10, margin=28)
    hm, _ = codec.encode_batch(kp, np.ones((10, 17)))
    dec, _ = codec.decode(hm)
    assert np.abs(dec - kp).max() < 0.02
    # and it beats the quarter shift by far
    quarter, _ = codec.decode(hm, refine="quarter")
    assert np.abs(quarter - kp).mean() > 10 * np.abs(dec - kp).mean()


def test_decode_single_and_batch_agree():
    codec = HeatmapCodec((128, 96))
    hm = np.random.default_rng(2).random((3, 32, 24, 17)).astype(np.float32)
    kb, sb = codec.decode(hm)
    k1, s1 = codec.decode(hm[1])
    np.testing.assert_allclose(k1, kb[1])
    np.testing.assert_allclose(s1, sb[1])


@pytest.mark.parametrize("input_size", [(256, 192), (128, 96)])
def test_decode_tf_equals_numpy(input_size):
    codec = HeatmapCodec(input_size)
    h, w = codec.heatmap_size
    rng = np.random.default_rng(3)
    random_maps = rng.random((4, h, w, 17)).astype(np.float32)
    # Peaks on every border row/column exercise the no-shift branches.
    kp = rng.uniform(0, 1, (4, 17, 2)) * [input_size[1] - 1, input_size[0] - 1]
    kp[0, :4] = [[0, 0], [input_size[1] - 1, 10], [10, input_size[0] - 1], [3, 3]]
    encoded, _ = codec.encode_batch(kp.astype(np.float32), np.ones((4, 17)))
    fn = tf.function(codec.decode_tf, input_signature=[tf.TensorSpec([None, h, w, 17])])
    for maps in (random_maps, encoded):
        k_np, s_np = codec.decode(maps)
        k_tf, s_tf = fn(tf.constant(maps))
        np.testing.assert_allclose(k_tf.numpy(), k_np, atol=1e-5)
        np.testing.assert_allclose(s_tf.numpy(), s_np, atol=1e-6)


def test_encode_tf_equals_numpy():
    codec = HeatmapCodec((128, 96))
    rng = np.random.default_rng(4)
    kp = rng.uniform(-20, 140, (2, 3, 17, 2)).astype(np.float32)
    vis = (rng.random((2, 3, 17)) > 0.2).astype(np.float32)
    hm_np, tw_np = codec.encode_batch(kp.reshape(6, 17, 2), vis.reshape(6, 17))
    hm_tf, tw_tf = codec.encode_tf(kp, vis)  # extra leading dims (clips) work too
    np.testing.assert_allclose(hm_tf.numpy().reshape(hm_np.shape), hm_np, atol=1e-6)
    np.testing.assert_array_equal(tw_tf.numpy().reshape(tw_np.shape), tw_np)


def test_flip_back_is_an_involution_and_swaps_channels():
    hm = np.random.default_rng(5).random((2, 8, 6, 17)).astype(np.float32)
    pairs = COCO_INFO.flip_pairs
    back = flip_back(hm, pairs)
    np.testing.assert_array_equal(flip_back(back, pairs), hm)
    np.testing.assert_array_equal(back[:, :, 0, 1], hm[:, :, -1, 2])  # left_eye <- right_eye
    np.testing.assert_array_equal(back[:, :, 0, 0], hm[:, :, -1, 0])  # nose stays


def test_flip_test_average_with_shift_is_more_accurate():
    """A flipped crop maps x to W-1-x; the one-pixel shift brings the peak back to
    within a quarter heatmap pixel, instead of three quarters."""
    codec = HeatmapCodec((256, 192))
    rng = np.random.default_rng(6)
    kp = _interior_keypoints(rng, 8, margin=20)
    kp_flipped = kp.copy()
    kp_flipped[..., 0] = 191 - kp[..., 0]
    kp_flipped = kp_flipped[:, COCO_INFO.flip_index]  # what a model sees on the flipped crop
    hm, _ = codec.encode_batch(kp, np.ones((8, 17)))
    hm_f, _ = codec.encode_batch(kp_flipped, np.ones((8, 17)))
    err = {}
    for shift in (False, True):
        back = flip_back(hm_f, COCO_INFO.flip_pairs, shift=shift)
        dec, _ = codec.decode(back)
        err[shift] = np.abs(dec[..., 0] - kp[..., 0]).mean()
    assert err[True] < 1.2 < 2.0 < err[False]
    avg = flip_test_average(hm, hm_f, COCO_INFO.flip_pairs)
    dec, _ = codec.decode(avg)
    assert np.abs(dec - kp).max() < 2.0
    avg_tf = flip_test_average_tf(tf.constant(hm), tf.constant(hm_f), COCO_INFO.flip_pairs)
    np.testing.assert_allclose(avg_tf.numpy(), avg, atol=1e-6)


def test_decode_tf_converts_to_tflite_and_matches():
    """The export team embeds decode_tf in models: it must convert to builtin TFLite ops."""
    from ai_edge_litert.interpreter import Interpreter

    codec = HeatmapCodec((128, 96))

    @tf.function(input_signature=[tf.TensorSpec([1, 32, 24, 17], tf.float32)])
    def decode(heatmaps):
        k, s = codec.decode_tf(heatmaps)
        return {"keypoints": k, "scores": s}

    converter = tf.lite.TFLiteConverter.from_concrete_functions([decode.get_concrete_function()], decode)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    model = converter.convert()
    interp = Interpreter(model_content=model)
    interp.allocate_tensors()
    maps = np.random.default_rng(7).random((1, 32, 24, 17)).astype(np.float32)
    interp.set_tensor(interp.get_input_details()[0]["index"], maps)
    interp.invoke()
    outs = [interp.get_tensor(d["index"]) for d in interp.get_output_details()]
    out = {"keypoints": next(o for o in outs if o.ndim == 3), "scores": next(o for o in outs if o.ndim == 2)}
    k_np, s_np = codec.decode(maps)
    np.testing.assert_allclose(out["keypoints"], k_np, atol=1e-5)
    np.testing.assert_allclose(out["scores"], s_np, atol=1e-6)


def test_bad_refine_rejected():
    with pytest.raises(ValueError, match="refine"):
        HeatmapCodec(refine="soft-argmax")
