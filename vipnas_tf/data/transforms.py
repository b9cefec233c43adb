"""Top-down augmentation and cropping on numpy arrays (one person, or one clip).

The pipeline draws one set of `AugmentParams` per sample (per clip: one set shared by
all T+1 frames), builds the crop affine from the box and the parameters, warps the
image with OpenCV and moves the keypoints with the same matrix. The augmentations are
the paper's (Sec. 4.2: random rotation in [-40, 40] degrees and random flip) plus two
the paper does not state, from the SimpleBaseline / mmpose top-down recipe: random
scale and half-body crops.
"""
import dataclasses
import os
from typing import Optional, Tuple

import cv2
import numpy as np

from vipnas_tf.codecs.affine import (
    affine_transform_points,
    compose_affine,
    fix_aspect_ratio,
    get_affine_matrix,
    horizontal_flip_matrix,
)

# ImageNet statistics of RGB images in 0..255 (the usual top-down normalisation).
IMAGENET_MEAN_RGB = (123.675, 116.28, 103.53)
IMAGENET_STD_RGB = (58.395, 57.12, 57.375)


def normalize_images_np(images):
    """uint8/float RGB images [..., 3] in 0..255 -> ImageNet-normalised float32."""
    mean = np.asarray(IMAGENET_MEAN_RGB, np.float32)
    std = np.asarray(IMAGENET_STD_RGB, np.float32)
    return (np.asarray(images, np.float32) - mean) / std


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Training augmentation settings (the defaults: the paper's rotation and flip, with
    scale and half-body from the SimpleBaseline / mmpose recipe).

    Args:
      flip_prob: probability of a horizontal flip (with left/right joint swap; paper:
        random flip).
      scale_range: (lo, hi) factor applied to the box size (box larger = person
        smaller in the crop); not in the paper: (0.75, 1.25), milder than mmpose
        0.x's scale_factor 0.5 (factors in [0.5, 1.5]).
      rotation_deg: maximum |rotation|; angles are uniform in [-r, r] (paper: 40).
      rotation_prob: probability of rotating at all (the paper does not say; 0.6 as
        mmpose 0.x's TopDownGetRandomScaleRotation).
      shift_factor: maximum box-centre shift as a fraction of the box size.
      shift_prob: probability of shifting.
      half_body_prob: probability of cropping to the upper or lower body (not in the
        paper; 0.3 with more than 8 labelled joints, as mmpose 0.x's
        TopDownHalfBodyTransform). Clips: the same half on every frame, or none.
      half_body_min_keypoints: half-body needs more labelled keypoints than this.
      half_body_padding: padding of the half-body box.
    """

    flip_prob: float = 0.5
    scale_range: Tuple[float, float] = (0.75, 1.25)
    rotation_deg: float = 40.0
    rotation_prob: float = 0.6
    shift_factor: float = 0.0
    shift_prob: float = 0.0
    half_body_prob: float = 0.3
    half_body_min_keypoints: int = 8
    half_body_padding: float = 1.5

    @staticmethod
    def none():
        """No augmentation at all (validation-like crops)."""
        return AugmentConfig(flip_prob=0.0, scale_range=(1.0, 1.0), rotation_deg=0.0,
                             rotation_prob=0.0, half_body_prob=0.0)


@dataclasses.dataclass
class AugmentParams:
    """One draw of random augmentation parameters (shared by all frames of a clip)."""

    flip: bool = False
    scale_factor: float = 1.0
    rotation: float = 0.0
    shift: Tuple[float, float] = (0.0, 0.0)
    half_body: Optional[str] = None  # None, "upper" or "lower"


def sample_augment_params(rng, config):
    """Draws AugmentParams from `config` with a numpy Generator `rng`.

    Every draw consumes the same random numbers whatever the outcome, so that the
    parameters of sample i depend only on its seed.
    """
    u = rng.random(6)
    scale = rng.uniform(*config.scale_range) if config.scale_range[0] != config.scale_range[1] \
        else float(config.scale_range[0])
    rotation = rng.uniform(-config.rotation_deg, config.rotation_deg)
    shift = rng.uniform(-1.0, 1.0, size=2) * config.shift_factor
    return AugmentParams(
        flip=bool(u[0] < config.flip_prob),
        scale_factor=float(scale),
        rotation=float(rotation) if u[1] < config.rotation_prob else 0.0,
        shift=tuple(float(s) for s in shift) if u[2] < config.shift_prob else (0.0, 0.0),
        half_body=(("upper" if u[4] < 0.5 else "lower") if u[3] < config.half_body_prob
                   else None),
    )


def half_body_box(keypoints, visible, info, which, aspect_ratio, padding):
    """Centre and scale of the upper or lower body's labelled joints, or None.

    Falls back to the other half when the chosen half has fewer than 2 labelled
    joints (as mmpose does); returns None when neither half has 2.
    """
    vis = np.asarray(visible) > 0
    upper = [i for i in info.upper_body_ids if vis[i]]
    lower = [i for i in info.lower_body_ids if vis[i]]
    chosen = upper if which == "upper" else lower
    if len(chosen) < 2:
        chosen = lower if which == "upper" else upper
    if len(chosen) < 2:
        return None
    pts = np.asarray(keypoints, np.float32)[chosen]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    center = 0.5 * (lo + hi)
    scale = fix_aspect_ratio(np.maximum(hi - lo, 1.0), aspect_ratio) * padding
    return center.astype(np.float32), scale.astype(np.float32)


def crop_matrix(center, scale, params, input_size):
    """2x3 affine from image pixels to the (augmented, maybe flipped) input crop."""
    center = np.asarray(center, np.float32) + np.asarray(params.shift) * np.asarray(scale)
    scale = np.asarray(scale, np.float32) * params.scale_factor
    matrix = get_affine_matrix(center, scale, params.rotation, input_size)
    if params.flip:
        matrix = compose_affine(horizontal_flip_matrix(input_size[1]), matrix)
    return matrix


def warp_crop(image, matrix, input_size):
    """Warps a BGR or RGB image [h, w, 3] into a crop [H, W, 3] (bilinear, black border)."""
    return cv2.warpAffine(image, matrix, (int(input_size[1]), int(input_size[0])),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def transform_keypoints(keypoints, visible, matrix, flip, flip_index):
    """Moves keypoints [K, 2] into the crop; on flip also permutes left/right slots."""
    kp = affine_transform_points(keypoints, matrix)
    vis = np.asarray(visible, np.float32).copy()
    if flip:
        kp, vis = kp[flip_index], vis[flip_index]
    return kp, vis


def read_image_bgr(path):
    """Reads an image file as BGR uint8 [h, w, 3]; None when missing or undecodable.

    BGR (OpenCV's order) on purpose: converting only the small crop to RGB is cheaper
    than converting the whole image.
    """
    try:
        return cv2.imread(os.fspath(path), cv2.IMREAD_COLOR)
    except cv2.error:
        return None
