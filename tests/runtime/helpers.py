"""Synthetic clips and tiny "oracle" networks for the video runner tests.

The oracle networks turn brightness into heatmaps (1x1 conv averaging the colour
channels, 4x4 average pooling, 1x1 conv copying the map to every keypoint channel):
on a clip of bright blobs over black, every keypoint lands on the brightest blob of
the crop, so the runner's geometry (crops, decode, crop -> image) can
be checked exactly, without a trained model.
"""
import os

import cv2
import keras
import numpy as np

from vipnas_tf.arch import get_space
from vipnas_tf.temporal import Schedule, TemporalSpace

INPUT = (64, 64)
K = 17


def write_clip(path, num_frames=10, size=(160, 120), rects=((20, 30, 16, 40),), step=3, fps=10):
    """An mp4 of bright blobs filling rectangles (x, y, w, h), brightest at the centre
    (a peak, so the oracle's argmax is well defined), moving right by `step` px per
    frame; returns the blobs' centres per frame [num_frames, n, 2]."""
    writer = cv2.VideoWriter(os.fspath(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    assert writer.isOpened()
    centres = []
    for t in range(num_frames):
        img = np.zeros((size[1], size[0], 3), np.uint8)
        row = []
        for x, y, w, h in rects:
            x = x + step * t
            cx, cy = x + (w - 1) / 2, y + (h - 1) / 2
            yy, xx = np.mgrid[y:y + h, x:x + w]
            blob = np.exp(-0.5 * (((xx - cx) / (w / 3)) ** 2 + ((yy - cy) / (h / 3)) ** 2))
            img[y:y + h, x:x + w] = (255 * blob)[..., None].astype(np.uint8)
            row.append((cx, cy))
        writer.write(img)
        centres.append(row)
    writer.release()
    return np.asarray(centres, np.float32)


def schedule(num_frames=3, input_size=INPUT, seed=0):
    space = get_space("mobilenetv3")
    rng = np.random.default_rng(seed)
    frames = TemporalSpace(space).sample(rng, num_frames)
    return Schedule.from_archs(space.min(), frames, input_size)


def _brightness(image, name):
    x = keras.layers.Conv2D(1, 1, name=f"{name}_gray")(image)
    x = keras.layers.AveragePooling2D(4, name=f"{name}_pool")(x)
    return keras.layers.Conv2D(K, 1, name=f"{name}_copy")(x)


def _set_oracle_weights(model, prev_weight=0.0):
    for layer in model.layers:
        if layer.name.endswith("_gray"):
            layer.set_weights([np.full((1, 1, 3, 1), 1 / 3, np.float32), np.zeros(1, np.float32)])
        elif layer.name.endswith("_copy"):
            layer.set_weights([np.ones((1, 1, 1, K), np.float32), np.zeros(K, np.float32)])
        elif layer.name.endswith("_prev"):
            layer.set_weights([np.eye(K, dtype=np.float32)[None, None] * prev_weight, np.zeros(K, np.float32)])
    return model


def oracle_models(sched, prev_weight=0.0):
    """(key model, [frame models]) of the schedule's shapes; frame t adds
    `prev_weight` x the previous heatmaps."""
    h, w = sched.input_size
    image = keras.Input((h, w, 3), name="image")
    key = _set_oracle_weights(keras.Model(image, _brightness(image, "key"), name="oracle_key"))
    frames = []
    for t in range(sched.num_frames):
        image = keras.Input((h, w, 3), name="image")
        prev = keras.Input((h // 4, w // 4, K), name="prev_heatmaps")
        out = keras.layers.Add()([_brightness(image, f"f{t}"), keras.layers.Conv2D(K, 1, name=f"f{t}_prev")(prev)])
        frames.append(_set_oracle_weights(keras.Model([image, prev], out, name=f"oracle_frame{t + 1}"), prev_weight))
    return key, frames
