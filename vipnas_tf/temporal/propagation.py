"""Multi-frame pose propagation over clips (paper Sec. 3.4.2, eq. 1-2, Fig. 3).

    H^0 = S(I^0)                       key frame: a fixed, pre-trained S-ViPNet
    H^t = T(I^t, H^(t-1); arch^t)      t = 1..T: the T-ViPNet super-network, each
                                       frame with its own architecture vector

`PropagationModel` is the RNN-style Keras model (the state is the previous heatmaps);
`propagate_clips` runs the same recurrence with concrete per-frame networks (exported
frame models, the evaluators' BN-calibrated frames). Both move the previous heatmaps
into the current frame's crop before fusion (`vipnas_tf.temporal.warp`) when given the
clips' per-frame crop affines, as the video runner does. `multi_frame_loss` is the
objective (target-weighted MSE summed over the T non-key frames); `sample_frame_archs`
draws the per-frame architectures of the sandwich rule. This module holds the model and
the loss only: the training step, distillation and distribution live in
`vipnas_tf.training`.

Shape letters: N batch, T non-key frames, H/W input size, h/w heatmap size, K
keypoints, L frame-architecture encoding length.
"""
import keras
import tensorflow as tf

from vipnas_tf.temporal.frame_arch import FrameArch, TemporalSpace
from vipnas_tf.temporal.supernet import TemporalSuperNetwork
from vipnas_tf.temporal.warp import frame_input_heatmaps


class PropagationModel(keras.Model):
    """Key frame through a frozen S-ViPNet, then T propagation frames.

    Args:
      temporal: the `TemporalSuperNetwork` (trained).
      key_model: the S-ViPNet: any callable `images [N, H, W, 3] -> heatmaps
        [N, h, w, K]` (a static Keras model, or a `SuperNetwork` with `key_arch`).
        Keras models are frozen (`trainable = False`) and run with training=False;
        its output is wrapped in `tf.stop_gradient`.
      key_arch: architecture passed as `arch=` to the key model (an `Arch`, which
        gives the specialised graph, or an encoded vector); for super-networks.
      include_key: also return the key frame's heatmaps (output [N, T + 1, ...]).
      unroll: True (default): a Python loop over the frames, the T-ViPNet traced T
        times; False: a `tf.while_loop` whose body traces the T-ViPNet once (a
        shorter trace; needs encoded `frame_archs`).

    Call arguments:
      clips: [N, T + 1, H, W, 3] normalised crops; frame 0 is the key frame.
      frame_archs: int32 [T, L] one encoded `FrameArch` per non-key frame (a list
        of T `FrameArch` values, passed as `frame_archs=`, gives the specialised
        graph; Keras takes only tensors positionally).
      training: BN mode of the T-ViPNets.
      key_heatmaps: optional precomputed [N, h, w, K] key-frame heatmaps (then the
        key model is not run).
      crop_matrices: optional [N, T + 1, 2, 3] crop affine of every frame (image ->
        input-crop pixels; the clip dataset's `crop_matrix`). Given, each frame's
        T-ViPNet fuses the previous heatmaps warped into its own crop
        (`warp.frame_input_heatmaps`, in the graph); None feeds them as they are
        (right only when every frame was cut from the same box).

    Returns:
      [N, T, h, w, K] heatmaps of the non-key frames ([N, T + 1, ...] with
      `include_key`).

    T is static (the clip length). Changing the architectures (the values of
    `frame_archs`) never re-traces, unrolled or not.

    Example:
      >>> model = PropagationModel(tnet, key_model=s_vipnet_static)
      >>> v = sample_frame_archs(tnet.temporal_space, rng, T=3, mode="random")
      >>> pred = model(batch["image"], tf.constant(v), training=True)     # [N, 3, h, w, K]
      >>> loss = multi_frame_loss(pred, batch["heatmaps"][:, 1:], batch["target_weight"][:, 1:])
    """

    def __init__(self, temporal, key_model, key_arch=None, include_key=False, unroll=True, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(temporal, TemporalSuperNetwork):
            raise ValueError(f"PropagationModel: temporal must be a TemporalSuperNetwork, got {type(temporal).__name__}")
        if not callable(key_model):
            raise ValueError(f"PropagationModel: key_model must be callable, got {type(key_model).__name__}")
        self.temporal = temporal
        if isinstance(key_model, keras.layers.Layer):
            key_model.trainable = False
        self.key_model = key_model
        self.key_arch = key_arch
        self.include_key = bool(include_key)
        self.unroll = bool(unroll)

    def key_heatmaps(self, images):
        """Heatmaps of the key frame [N, h, w, K] (no gradient)."""
        kwargs = {}
        if self.key_arch is not None:
            kwargs["arch"] = self.key_arch
        if isinstance(self.key_model, keras.layers.Layer):
            kwargs["training"] = False
        return tf.stop_gradient(tf.cast(self.key_model(images, **kwargs), tf.float32))

    def call(self, clips, frame_archs, training=None, key_heatmaps=None, crop_matrices=None):
        num_frames = clips.shape[1]
        if num_frames is None or num_frames < 2:
            raise ValueError(f"PropagationModel: clips must have a static frame axis of T + 1 >= 2, got {num_frames}")
        t_count = num_frames - 1
        concrete = isinstance(frame_archs, (list, tuple)) and frame_archs and isinstance(frame_archs[0], FrameArch)
        if concrete:
            archs = list(frame_archs)
        else:
            frame_archs = tf.convert_to_tensor(frame_archs, tf.int32)
            if frame_archs.shape.rank != 2 or (frame_archs.shape[0] is not None and frame_archs.shape[0] != t_count):
                raise ValueError(f"PropagationModel: frame_archs must be [T={t_count}, L], got {frame_archs.shape}")
            archs = [frame_archs[t] for t in range(t_count)]
        if len(archs) != t_count:
            raise ValueError(f"PropagationModel: {len(archs)} frame architectures for T={t_count} non-key frames")
        prev = self.key_heatmaps(clips[:, 0]) if key_heatmaps is None else tf.stop_gradient(key_heatmaps)
        input_size = tuple(clips.shape[2:4])
        if not self.unroll and not concrete:
            return self._loop(clips, frame_archs, prev, training, crop_matrices, input_size)
        outputs = [prev] if self.include_key else []
        for t in range(t_count):
            fused = frame_input_heatmaps(prev, crop_matrices, t + 1, input_size)
            prev = self.temporal(clips[:, t + 1], fused, arch=archs[t], training=training)
            outputs.append(prev)
        return tf.stack(outputs, axis=1)

    def _loop(self, clips, frame_archs, prev, training, crop_matrices, input_size):
        t_count = clips.shape[1] - 1
        out = tf.TensorArray(prev.dtype, size=t_count, element_shape=prev.shape)

        def body(t, prev, out):
            fused = frame_input_heatmaps(prev, crop_matrices, t + 1, input_size)
            y = self.temporal(tf.gather(clips, t + 1, axis=1), fused, arch=tf.gather(frame_archs, t), training=training)
            y = tf.ensure_shape(tf.cast(y, prev.dtype), prev.shape)
            return t + 1, y, out.write(t, y)

        _, _, out = tf.while_loop(lambda t, *_: t < t_count, body, (tf.constant(0), prev, out))
        y = tf.transpose(out.stack(), [1, 0, 2, 3, 4])  # [N, T, h, w, K]
        if self.include_key:
            y = tf.concat([prev[:, None], y], axis=1)
        return y


def propagate_clips(key_fn, frame_fns, clips, crop_matrices=None):
    """Eq. 2 with concrete networks: H^0 = key_fn(I^0), H^t = frame_fns[t-1](I^t,
    warp(H^(t-1))), the warp as in `PropagationModel` (none when `crop_matrices` is None).

    Args:
      key_fn: images [N, H, W, 3] -> heatmaps [N, h, w, K].
      frame_fns: T callables (images, previous heatmaps already in this frame's crop)
        -> heatmaps (e.g. exported frame models).
      clips: [N, T + 1, H, W, 3] normalised crops.
      crop_matrices: [N, T + 1, 2, 3] per-frame crop affines (or None).

    Returns:
      [N, T, h, w, K] heatmaps of the non-key frames.
    """
    clips = tf.convert_to_tensor(clips, tf.float32)
    if clips.shape[1] != len(frame_fns) + 1:
        raise ValueError(f"propagate_clips: clips have {clips.shape[1]} frames, {len(frame_fns)} frame networks "
                         f"need {len(frame_fns) + 1}")
    input_size = tuple(clips.shape[2:4])
    prev = tf.convert_to_tensor(key_fn(clips[:, 0]), tf.float32)
    out = []
    for t, fn in enumerate(frame_fns, start=1):
        prev = tf.convert_to_tensor(fn(clips[:, t], frame_input_heatmaps(prev, crop_matrices, t, input_size)),
                                    tf.float32)
        out.append(prev)
    return tf.stack(out, axis=1)


def multi_frame_loss(pred, target, target_weight=None, reduce_frames="sum"):
    """Paper eq. 1: the target-weighted heatmap MSE of each non-key frame, summed over
    the T frames (`reduce_frames="mean"` averages instead).

    Per frame: mean over N, h, w, K of 0.5 * w_k * (pred - target)^2 with w_k the
    per-keypoint target weight (mmpose 0.x JointsMSELoss with use_target_weight,
    0.5 * (w * p - w * t)^2, for weights in {0, 1}).

    Args:
      pred: [N, T, h, w, K] predicted heatmaps.
      target: [N, T, h, w, K] target heatmaps (or soft labels for distillation).
      target_weight: [N, T, K] (default all ones).
      reduce_frames: "sum" (eq. 1) or "mean".

    Returns:
      scalar float32 loss.
    """
    pred = tf.cast(pred, tf.float32)
    target = tf.cast(target, tf.float32)
    if pred.shape.rank != 5:
        raise ValueError(f"multi_frame_loss: pred must be [N, T, h, w, K], got shape {pred.shape}")
    if target_weight is None:
        weight = tf.ones_like(pred[:, :, :1, :1, :])
    else:
        weight = tf.cast(target_weight, tf.float32)[:, :, None, None, :]
    per_frame = tf.reduce_mean(0.5 * weight * tf.square(pred - target), axis=[0, 2, 3, 4])  # [T]
    if reduce_frames == "sum":
        return tf.reduce_sum(per_frame)
    if reduce_frames == "mean":
        return tf.reduce_mean(per_frame)
    raise ValueError(f"multi_frame_loss: reduce_frames must be 'sum' or 'mean', got {reduce_frames!r}")


def sample_frame_archs(space, rng, num_frames, mode="random"):
    """Encoded per-frame architectures [T, L] int32 for one sandwich member.

    Args:
      space: a `TemporalSpace` (or a `TemporalSuperNetwork`'s `temporal_space`).
      rng: numpy Generator.
      num_frames: T.
      mode: "max" - every frame the biggest spatial network, temporal choices random
        per frame; "min" - the smallest, temporal random; "random" - each frame its own
        spatial and temporal choices (paper Sec. 3.4.2).

    Returns:
      int32 [T, L] (`space.decode_many` gives the FrameArch values back).
    """
    if isinstance(space, TemporalSuperNetwork):
        space = space.temporal_space
    if not isinstance(space, TemporalSpace):
        raise ValueError(f"sample_frame_archs: expected a TemporalSpace, got {type(space).__name__}")
    if int(num_frames) < 1:
        raise ValueError(f"sample_frame_archs: T={num_frames}, need at least one non-key frame")
    if mode == "max":
        archs = [space.max(rng) for _ in range(num_frames)]
    elif mode == "min":
        archs = [space.min(rng) for _ in range(num_frames)]
    elif mode == "random":
        archs = space.sample(rng, int(num_frames))
    else:
        raise ValueError(f"sample_frame_archs: mode must be 'max', 'min' or 'random', got {mode!r}")
    return space.encode_many(archs)


def sandwich_frame_archs(space, rng, num_frames, num_random=2):
    """The sandwich of one step: int32 [T, L] vectors for [max, min, random x
    num_random], in that order (the biggest first, as in-place distillation needs)."""
    modes = ["max", "min"] + ["random"] * int(num_random)
    return [sample_frame_archs(space, rng, num_frames, m) for m in modes]

