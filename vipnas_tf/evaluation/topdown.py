"""Top-down inference glue shared by the COCO and PoseTrack evaluators.

Shape letters: N persons, H/W input size, h/w heatmap size, K keypoints.

`load_eval_crops` cuts every person box out of its image once (each image decoded
once, in threads) and keeps the crops as uint8, so that an evaluator built once can
score thousands of sub-networks without touching the disk again. `predict_keypoints`
runs a plain callable `predict_fn(images [N, H, W, 3] float32) -> heatmaps
[N, h, w, K]` (numpy or tf) batch by batch, with optional flip test, and decodes.
"""
import collections
import concurrent.futures

import numpy as np
from tqdm import tqdm

from vipnas_tf.codecs.affine import get_affine_matrix, keypoints_crop_to_image
from vipnas_tf.codecs.heatmap import flip_test_average
from vipnas_tf.data.transforms import normalize_images_np, read_image_bgr, warp_crop


def load_eval_crops(samples, input_size=(256, 192), padding=1.25, num_threads=2, unreadable=None,
                    progress=False):
    """Plain (un-augmented) RGB crops of every row of a SampleSet.

    Args:
      samples: SampleSet.
      input_size: (H, W).
      padding: box padding.
      num_threads: decoding threads (OpenCV releases the GIL).
      unreadable: None (an image that cannot be read is an error), or a list: the
        paths of images that cannot be read are appended to it and their rows' crops
        stay black, for the caller to leave out.
      progress: show a progress bar over the images (stderr).

    Returns:
      (crops uint8 [N, H, W, 3] RGB, centers float32 [N, 2], scales float32 [N, 2]).

    Raises:
      FileNotFoundError naming the image when it is missing or cannot be decoded
      (unless `unreadable` is a list).
    """
    centers, scales = samples.center_scale(input_size, padding)
    h, w = input_size
    crops = np.zeros((len(samples), h, w, 3), np.uint8)
    rows_of = collections.defaultdict(list)
    for i, path in enumerate(samples.image_paths):
        rows_of[path].append(i)

    def work(path):
        image = read_image_bgr(path)
        if image is None:
            if unreadable is None:
                raise FileNotFoundError(f"cannot read image {path} (missing or corrupt)")
            return path
        for i in rows_of[path]:
            m = get_affine_matrix(centers[i], scales[i], 0.0, input_size)
            crops[i] = warp_crop(image, m, input_size)[..., ::-1]

    with concurrent.futures.ThreadPoolExecutor(max(1, num_threads)) as pool:
        futures = [pool.submit(work, p) for p in rows_of]
        for future in tqdm(futures, desc="images", unit="image", disable=not progress, leave=False):
            failed = future.result()
            if failed is not None:
                unreadable.append(failed)
    return crops, centers, scales


def _to_numpy(x):
    return x.numpy() if hasattr(x, "numpy") else np.asarray(x)


def predict_heatmaps(predict_fn, crops, batch_size=64, flip_test=False, flip_pairs=None,
                     shift_heatmap=True, progress=False):
    """Heatmaps [N, h, w, K] for uint8 RGB crops [N, H, W, 3].

    Crops are ImageNet-normalised per batch. With `flip_test`, each batch is also run
    horizontally flipped and the two are averaged (`flip_test_average`, with the
    one-pixel shift unless `shift_heatmap=False`). `progress` shows a bar over the
    batches (stderr).
    """
    if flip_test and flip_pairs is None:
        raise ValueError("flip_test needs the dataset's flip_pairs")
    out = []
    starts = range(0, len(crops), batch_size)
    for start in tqdm(starts, desc="persons", unit="batch", disable=not progress, leave=False):
        batch = normalize_images_np(crops[start:start + batch_size])
        heatmaps = _to_numpy(predict_fn(batch)).astype(np.float32)
        if flip_test:
            flipped = _to_numpy(predict_fn(np.ascontiguousarray(batch[:, :, ::-1]))).astype(np.float32)
            heatmaps = flip_test_average(heatmaps, flipped, flip_pairs, shift=shift_heatmap)
        out.append(heatmaps)
    if not out:
        return np.zeros((0,), np.float32)
    return np.concatenate(out, axis=0)


def predict_keypoints(predict_fn, crops, centers, scales, codec, batch_size=64, flip_test=False,
                      flip_pairs=None, shift_heatmap=True, progress=False):
    """Image-pixel keypoints [N, K, 2] and scores [N, K] for cached crops.

    Args:
      predict_fn: images float32 [n, H, W, 3] -> heatmaps [n, h, w, K].
      crops: uint8 RGB [N, H, W, 3] (`load_eval_crops`).
      centers, scales: [N, 2] boxes the crops were cut from.
      codec: HeatmapCodec of the model's input / heatmap size.
      batch_size: persons per predict_fn call.
      flip_test: average with the flipped prediction.
      flip_pairs: the dataset's flip pairs (needed for flip_test).
      shift_heatmap: the one-pixel shift of the flipped-back heatmaps (`flip_test_average`).
      progress: show a progress bar over the batches (stderr).
    """
    heatmaps = predict_heatmaps(predict_fn, crops, batch_size, flip_test, flip_pairs, shift_heatmap, progress)
    if len(crops) == 0:
        k = len(flip_pairs or ()) or 17
        return np.zeros((0, k, 2), np.float32), np.zeros((0, k), np.float32)
    expected = codec.heatmap_size
    if tuple(heatmaps.shape[1:3]) != tuple(expected):
        raise ValueError(f"predict_fn returned heatmaps {heatmaps.shape[1:3]}, the codec "
                         f"expects {expected} (input {codec.input_size})")
    kp_crop, scores = codec.decode(heatmaps)
    return keypoints_crop_to_image(kp_crop, centers, scales, codec.input_size), scores
