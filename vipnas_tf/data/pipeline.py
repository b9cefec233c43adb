"""Top-down tf.data pipelines: person crops (`make_topdown_dataset`) and clips of T+1
frames of one track (`make_clip_dataset`).

Shape letters: N batch, T+1 frames per clip, H/W input size, h/w heatmap size,
K keypoints.

How it works: only row indices and a running element counter travel through the
graph. A parallel `tf.numpy_function`, called on chunks of a few elements to amortise
tf.data's per-call cost, reads the JPEG with OpenCV, draws the random
augmentation from a generator seeded with (seed, counter) - so the same seed gives the
same batches whatever the thread timing - and warps the crop. The shuffle is tf.data's,
seeded with `seed`; like every seeded TensorFlow random op it also depends on the
global seed (`tf.random.set_seed`; the Trainer sets it to the run's seed), so the same
batches need the same global seed, or none. Batches are then
normalised (ImageNet mean/std, RGB) and the target heatmaps are encoded in-graph with
`HeatmapCodec.encode_tf`, which keeps Python work per crop small.

Bad images: in training a missing or undecodable image is skipped, counted in the
`PipelineStats` (also attached to the returned dataset as `.pipeline_stats`) and
logged; training goes on. In evaluation mode (`training=False`) it is an error naming
the file.
"""
import logging
import threading

import numpy as np
import tensorflow as tf

from vipnas_tf.codecs.heatmap import HeatmapCodec
from vipnas_tf.data.transforms import (  # noqa: F401  (normalize_images_np re-exported)
    IMAGENET_MEAN_RGB,
    IMAGENET_STD_RGB,
    AugmentConfig,
    AugmentParams,
    crop_matrix,
    half_body_box,
    normalize_images_np,
    read_image_bgr,
    sample_augment_params,
    transform_keypoints,
    warp_crop,
)

log = logging.getLogger(__name__)


class PipelineStats:
    """Thread-safe counters of a pipeline: crops loaded, images skipped (and which).

    The trainer reads `skipped` / `skipped_paths` (or `as_dict()`) to report them.
    """

    max_paths = 100

    def __init__(self):
        self._lock = threading.Lock()
        self.loaded = 0
        self.skipped = 0
        self.skipped_paths = []

    def record_loaded(self, n=1):
        with self._lock:
            self.loaded += n

    def record_skip(self, path):
        with self._lock:
            self.skipped += 1
            count = self.skipped
            if len(self.skipped_paths) < self.max_paths:
                self.skipped_paths.append(path)
        if count <= 10 or count % 100 == 0:
            log.warning("skipping missing or corrupt image %s (%d skipped so far)", path, count)

    def as_dict(self):
        with self._lock:
            return {"loaded": self.loaded, "skipped": self.skipped,
                    "skipped_paths": list(self.skipped_paths)}


def normalize_images(images):
    """uint8/float RGB images [..., 3] in 0..255 -> ImageNet-normalised float32."""
    mean = tf.constant(IMAGENET_MEAN_RGB, tf.float32)
    std = tf.constant(IMAGENET_STD_RGB, tf.float32)
    return (tf.cast(images, tf.float32) - mean) / std


class _Cropper:
    """Loads and crops rows of a SampleSet; the Python side of the numpy_function."""

    def __init__(self, samples, input_size, training, augment, seed, padding, stats,
                 box_mode="per_frame"):
        self.samples = samples
        self.input_size = tuple(int(v) for v in input_size)
        self.training = training
        self.augment = augment if training else AugmentConfig.none()
        self.seed = int(seed)
        self.padding = padding
        self.stats = stats
        self.box_mode = box_mode
        self.centers, self.scales = samples.center_scale(self.input_size, padding)
        self.flip_index = samples.info.flip_index
        self.aspect = self.input_size[1] / self.input_size[0]

    def _params(self, counter, rows):
        if not self.training:
            return AugmentParams()
        rng = np.random.default_rng([self.seed, int(counter)])
        return sample_augment_params(rng, self.augment)

    def _half_body(self, row, which):
        """The half-body box (center, scale) of a row, or None when it has too few joints."""
        vis = self.samples.visible[row]
        if (vis > 0).sum() <= self.augment.half_body_min_keypoints:
            return None
        return half_body_box(self.samples.keypoints[row], vis, self.samples.info, which, self.aspect,
                             self.augment.half_body_padding)

    def _boxes(self, rows, params):
        """(center, scale) of every frame's crop box.

        Each frame is cut around its own box (`box_mode="per_frame"`) or the first
        frame's. Half-body: the same half for every frame of a clip, each frame's box
        around its own joints of that half; when one frame cannot have it (too few
        labelled joints), no frame of the clip does, so a clip is all half-body or none.
        """
        box_rows = [rows[0]] * len(rows) if self.box_mode == "first" else list(rows)
        plain = [(self.centers[r], self.scales[r]) for r in box_rows]
        if params.half_body is None:
            return plain
        halves = [self._half_body(r, params.half_body) for r in box_rows]
        return plain if any(b is None for b in halves) else halves

    def crop_element(self, rows, counter):
        """rows: int64 [F] (F = 1 for person crops, T+1 for clips) -> crops, kps, vis,
        crop matrices [F, 2, 3] (image -> crop, augmentation included), ok."""
        params = self._params(counter, rows)
        h, w = self.input_size
        k = self.samples.info.num_keypoints
        crops = np.zeros((len(rows), h, w, 3), np.uint8)
        kps = np.zeros((len(rows), k, 2), np.float32)
        vis = np.zeros((len(rows), k), np.float32)
        mats = np.tile(np.eye(2, 3, dtype=np.float32), (len(rows), 1, 1))
        boxes = self._boxes(rows, params)
        for f, row in enumerate(rows):
            path = self.samples.image_paths[row]
            image = read_image_bgr(path)
            if image is None:
                if not self.training:
                    raise FileNotFoundError(f"cannot read image {path} (missing or corrupt)")
                self.stats.record_skip(path)
                return crops, kps, vis, mats, False
            center, scale = boxes[f]
            matrix = crop_matrix(center, scale, params, self.input_size)
            mats[f] = matrix
            crops[f] = warp_crop(image, matrix, self.input_size)
            kps[f], vis[f] = transform_keypoints(self.samples.keypoints[row],
                                                 self.samples.visible[row], matrix,
                                                 params.flip, self.flip_index)
        self.stats.record_loaded(len(rows))
        return crops, kps, vis, mats, True

    def __call__(self, rows, counters):
        """A chunk: rows int64 [C, F], counters [C] -> [C, F, ...] arrays and ok [C].

        Working on chunks of elements amortises tf.data's per-call overhead.
        """
        out = [self.crop_element(r, c) for r, c in zip(np.asarray(rows), np.asarray(counters))]
        return tuple(np.stack([o[i] for o in out]) for i in range(4)) + (np.array([o[4] for o in out], np.bool_),)


def _build(cropper, index_rows, batch_size, training, seed, shuffle, repeat, drop_remainder,
           codec, num_parallel_calls, prefetch, clip, load_chunk=8):
    """Shared graph of both pipelines. index_rows: int64 [M, F] rows per element."""
    samples = cropper.samples
    m, frames = index_rows.shape
    h, w = cropper.input_size
    k = samples.info.num_keypoints
    centers, scales = cropper.centers, cropper.scales
    rows_const = tf.constant(index_rows, tf.int64)
    meta = {
        "image_id": tf.constant(samples.image_ids, tf.int64),
        "ann_id": tf.constant(samples.ann_ids, tf.int64),
        "track_id": tf.constant(samples.track_ids, tf.int64),
        "center": tf.constant(centers, tf.float32),
        "scale": tf.constant(scales, tf.float32),
        "bbox_score": tf.constant(samples.bbox_scores, tf.float32),
    }
    ds = tf.data.Dataset.range(m)
    if shuffle:
        ds = ds.shuffle(m, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.enumerate()

    def load(counters, elements):
        rows = tf.gather(rows_const, elements)  # [C, F]
        crops, kps, vis, mats, ok = tf.numpy_function(
            cropper, [rows, counters], [tf.uint8, tf.float32, tf.float32, tf.float32, tf.bool],
            stateful=False)
        crops.set_shape([None, frames, h, w, 3])
        kps.set_shape([None, frames, k, 2])
        vis.set_shape([None, frames, k])
        mats.set_shape([None, frames, 2, 3])
        ok.set_shape([None])
        out = {"image": crops, "keypoints": kps, "visible": vis, "crop_matrix": mats, "ok": ok,
               "index": elements if clip else rows[:, 0]}
        # Meta describes the box each crop was actually cut from.
        box_rows = tf.repeat(rows[:, :1], frames, axis=1) if cropper.box_mode == "first" else rows
        for key, table in meta.items():
            value = tf.gather(table, box_rows if key in ("center", "scale") else rows)
            out[key] = value if clip else value[:, 0]
        if not clip:
            for key in ("image", "keypoints", "visible", "crop_matrix"):
                out[key] = out[key][:, 0]
        return out

    parallel = num_parallel_calls or tf.data.AUTOTUNE
    # Chunks of a few elements per Python call, several chunks in parallel; then
    # back to single elements so that skipped ones can be dropped before batching.
    chunk = max(1, min(load_chunk, batch_size))
    ds = ds.batch(chunk)
    ds = ds.map(load, num_parallel_calls=parallel, deterministic=True)
    ds = ds.unbatch()
    if training:
        ds = ds.filter(lambda d: d["ok"])
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)

    def finalize(d):
        d = dict(d)
        d.pop("ok")
        # BGR crops from OpenCV -> RGB, then ImageNet normalisation.
        d["image"] = normalize_images(tf.reverse(d["image"], axis=[-1]))
        d["heatmaps"], d["target_weight"] = codec.encode_tf(d["keypoints"], d["visible"])
        return d

    ds = ds.map(finalize, num_parallel_calls=parallel, deterministic=True)
    if prefetch:
        ds = ds.prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = True
    ds = ds.with_options(options)
    return ds


def make_topdown_dataset(samples, input_size=(256, 192), batch_size=32, training=False, seed=0,
                         augment=None, codec=None, padding=1.25, shuffle=None, repeat=None,
                         drop_remainder=None, num_parallel_calls=None, prefetch=True,
                         stats=None, load_chunk=8):
    """A tf.data pipeline of augmented person crops with target heatmaps.

    Args:
      samples: a SampleSet (from `load_coco`, `PoseTrackData.samples`, ...).
      input_size: (H, W) of the crops, a multiple of 32 (e.g. (256, 192), (128, 96)).
      batch_size: N.
      training: augment, shuffle, repeat and skip unreadable images; otherwise crops
        are the plain boxes in order and an unreadable image is an error.
      seed: seeds shuffling and augmentation (same seed and TF global seed -> same batches).
      augment: AugmentConfig (default `AugmentConfig()`), used when training.
      codec: HeatmapCodec for the targets (default: input/4, sigma 2).
      padding: box padding (1.25).
      shuffle, repeat, drop_remainder: default to `training`.
      num_parallel_calls: map parallelism (default AUTOTUNE).
      prefetch: prefetch batches.
      stats: a PipelineStats to count loaded / skipped images (default: a new one).
      load_chunk: elements per Python call (amortises tf.data's per-call overhead).

    Returns:
      tf.data.Dataset of dicts with
        image float32 [N, H, W, 3] (ImageNet-normalised RGB),
        heatmaps float32 [N, h, w, K], target_weight float32 [N, K],
        keypoints float32 [N, K, 2] (crop pixels), visible float32 [N, K],
        crop_matrix float32 [N, 2, 3] (image -> crop pixels, augmentation included),
        image_id, ann_id, track_id int64 [N], center, scale float32 [N, 2] (the
        un-augmented box, image pixels), bbox_score float32 [N], index int64 [N] (row).
      The dataset has an attribute `pipeline_stats` (the PipelineStats).
    """
    codec = codec or HeatmapCodec(input_size)
    if tuple(codec.input_size) != tuple(input_size):
        raise ValueError(f"codec input size {codec.input_size} != input_size {input_size}")
    stats = stats if stats is not None else PipelineStats()
    shuffle = training if shuffle is None else shuffle
    repeat = training if repeat is None else repeat
    drop_remainder = training if drop_remainder is None else drop_remainder
    if len(samples) == 0:
        raise ValueError(f"{samples.source or 'samples'}: no person samples to crop")
    cropper = _Cropper(samples, input_size, training, augment or AugmentConfig(), seed,
                       padding, stats)
    rows = np.arange(len(samples), dtype=np.int64)[:, None]
    ds = _build(cropper, rows, batch_size, training, seed, shuffle, repeat, drop_remainder,
                codec, num_parallel_calls, prefetch, clip=False, load_chunk=load_chunk)
    ds.pipeline_stats = stats
    return ds


def make_clip_dataset(clips, input_size=(256, 192), batch_size=8, training=False, seed=0,
                      augment=None, codec=None, padding=1.25, box_mode="per_frame", num_frames=None,
                      shuffle=None, repeat=None, drop_remainder=None, num_parallel_calls=None,
                      prefetch=True, stats=None, load_chunk=2):
    """A tf.data pipeline of clips: T+1 consecutive crops of one person track.

    One random transform per clip (paper Sec. 4.2: "the same augmentation methods are
    applied across T+1 frames"): the same flip, scale, rotation and shift for all T+1
    frames, and half-body (the same half) for all frames or none. Each frame is cropped
    around its own box (`box_mode="per_frame"`; a half-body box around that frame's
    own joints) or around the first frame's box (`"first"`, so that the person's motion
    stays visible in crop coordinates). Every frame's crop affine is returned
    (`crop_matrix`): what `vipnas_tf.temporal.warp` needs to move the previous frame's
    heatmaps into the current crop, as the video runner does.

    Args:
      clips: a ClipSet (e.g. `PoseTrackData.clips(T + 1)`).
      num_frames: optional check that the clips have T + 1 frames.
      Other arguments as in `make_topdown_dataset`.

    Returns:
      tf.data.Dataset of dicts with image [N, T+1, H, W, 3], heatmaps
      [N, T+1, h, w, K], target_weight [N, T+1, K], keypoints [N, T+1, K, 2],
      visible [N, T+1, K], crop_matrix [N, T+1, 2, 3] (image -> crop pixels of each
      frame, augmentation included), image_id / ann_id / track_id [N, T+1], center /
      scale [N, T+1, 2] (the un-augmented box of each frame's crop: its own or, with
      box_mode "first", the first frame's), bbox_score [N, T+1], index [N] (clip row).
    """
    if num_frames is not None and num_frames != clips.num_frames:
        raise ValueError(f"clips have {clips.num_frames} frames, num_frames={num_frames}")
    if box_mode not in ("per_frame", "first"):
        raise ValueError(f"box_mode must be 'per_frame' or 'first', got {box_mode!r}")
    codec = codec or HeatmapCodec(input_size)
    stats = stats if stats is not None else PipelineStats()
    shuffle = training if shuffle is None else shuffle
    repeat = training if repeat is None else repeat
    drop_remainder = training if drop_remainder is None else drop_remainder
    if len(clips) == 0:
        raise ValueError(f"{clips.samples.source or 'clips'}: no clips")
    cropper = _Cropper(clips.samples, input_size, training, augment or AugmentConfig(), seed,
                       padding, stats, box_mode=box_mode)
    ds = _build(cropper, clips.indices, batch_size, training, seed, shuffle, repeat,
                drop_remainder, codec, num_parallel_calls, prefetch, clip=True,
                load_chunk=load_chunk)
    ds.pipeline_stats = stats
    return ds
