"""ElasticFusion: the temporal feature fusion module of T-ViPNet (paper Sec. 3.3, Fig. 2).

    previous heatmaps [N, h, w, K] -> 1x1 conv (K -> C) -> bilinear resize to the
    selected stage's features [N, hs, ws, C] -> fuse by Add / Mul / Cat -> 1x1 conv
    (C, or 2C for Cat, -> C) = fused features, same shape as the stage's features.

Shape letters: N batch, K keypoints, h/w heatmap size, hs/ws the stage's feature size,
C the stage's active channels (elastic: stage widths are searched).

Weights: one set per fusion stage, created at the stage's largest width and sliced
like `ElasticConv2D` (the first C filters; Fig. A2):

- conv1 kernel [1, 1, K, Cmax] (+ bias [Cmax]) -> columns [:C];
- conv2 kernel [1, 1, 2 Cmax, Cmax] (+ bias [Cmax]): Add / Mul use input rows [:C];
  Cat concatenates [features, heatmap features] and uses rows [:C] for the features
  plus rows [Cmax : Cmax + C] for the heatmap features, so that the three ops share
  the feature rows and a width change never moves a row.

conv2's feature rows start as the identity (the rest of the weights at the paper's
N(0, 0.001)): a fresh module passes the features through almost unchanged for Add and
Cat, so a T-ViPNet initialised from S-ViPNet (Sec. 3.4.2) starts as S-ViPNet. Mul
(features x heatmap features) starts near zero and has to learn its scale; that is
the op as the paper states it.

Op and stage are choosable as int32 scalar tensors (one traced graph for every
choice: `tf.switch_case` over the ops, `tf.cond` on the selected stage) or as Python
ints (a specialised graph, like a static model). The static twin made of standard
Keras layers is `static_fusion`.
"""
import keras
import numpy as np
import tensorflow as tf

from vipnas_tf.layers import common
from vipnas_tf.temporal.frame_arch import FUSION_OPS


def _op_index(op):
    if isinstance(op, str):
        if op not in FUSION_OPS:
            raise ValueError(f"fusion op {op!r}: expected one of {list(FUSION_OPS)}")
        return FUSION_OPS.index(op)
    if isinstance(op, (int, np.integer)):
        if not 0 <= int(op) < len(FUSION_OPS):
            raise ValueError(f"fusion op index {op}: expected 0..{len(FUSION_OPS) - 1} ({list(FUSION_OPS)})")
        return int(op)
    return tf.cast(op, tf.int32)


@keras.saving.register_keras_serializable(package="vipnas_tf")
class ElasticFusion(keras.layers.Layer):
    """Temporal fusion of previous heatmaps into one backbone stage, elastic in op,
    stage and the stage's width.

    Args:
      num_keypoints: K, channels of the previous heatmaps.
      stage_channels: largest feature channels of each fusion stage (1-based stage i
        -> `stage_channels[i - 1]`).
      kernel_initializer: initializer of the kernels (paper: N(0, 0.001)).
      identity_init: start conv2's feature rows as the identity (see module docs).

    Call arguments:
      features: [N, hs, ws, C] output of backbone stage `stage`.
      heatmaps: [N, h, w, K] previous frame's heatmaps.
      stage: 1-based stage the features come from (Python int: picks the weights).
      op: fusion op: "add" | "mul" | "cat", its index, or an int32 scalar tensor.
      channels: active width C (int or tensor; default the features' static width).
      selected_stage: the architecture's fusion stage (int or tensor). When given
        and != `stage`, the features pass through unchanged (the module sits at
        another stage); `tf.cond` for tensors.

    Example:
      >>> fusion = ElasticFusion(17, [16, 24, 40, 80, 112, 160])
      >>> y = fusion(x3, prev, stage=3, op=tf.constant(2), selected_stage=tf.constant(3))
    """

    def __init__(self, num_keypoints, stage_channels, kernel_initializer=common.PAPER_INITIALIZER,
                 identity_init=True, **kwargs):
        super().__init__(**kwargs)
        self.num_keypoints = int(num_keypoints)
        self.stage_channels = [int(c) for c in stage_channels]
        self.kernel_initializer = kernel_initializer
        self.identity_init = bool(identity_init)
        if not self.stage_channels:
            raise ValueError(f"{self.name}: stage_channels is empty")

    @property
    def num_stages(self):
        return len(self.stage_channels)

    def build(self, input_shape=None):
        init = common.initializer(self.kernel_initializer)
        self.conv1_kernels, self.conv1_biases, self.conv2_kernels, self.conv2_biases = [], [], [], []
        for i, c in enumerate(self.stage_channels):
            s = i + 1
            self.conv1_kernels.append(self.add_weight(name=f"s{s}_conv1_kernel", shape=(1, 1, self.num_keypoints, c),
                                                      initializer=init))
            self.conv1_biases.append(self.add_weight(name=f"s{s}_conv1_bias", shape=(c,), initializer="zeros"))
            conv2_init = _IdentityRows(init) if self.identity_init else init
            self.conv2_kernels.append(self.add_weight(name=f"s{s}_conv2_kernel", shape=(1, 1, 2 * c, c),
                                                      initializer=conv2_init))
            self.conv2_biases.append(self.add_weight(name=f"s{s}_conv2_bias", shape=(c,), initializer="zeros"))
        self.built = True

    # ---- sliced weights -------------------------------------------------------------
    def _check_stage(self, stage):
        if isinstance(stage, bool) or not isinstance(stage, (int, np.integer)) or not 1 <= stage <= self.num_stages:
            raise ValueError(f"{self.name}: stage must be a Python int in 1..{self.num_stages}, got {stage!r}")
        return int(stage) - 1

    def active_weights(self, stage, op, channels):
        """(conv1 kernel, conv1 bias, conv2 kernel, conv2 bias) for a Python-int op."""
        i = self._check_stage(stage)
        cmax = self.stage_channels[i]
        k1 = tf.convert_to_tensor(self.conv1_kernels[i])[..., :channels]
        b1 = tf.convert_to_tensor(self.conv1_biases[i])[:channels]
        k2 = tf.convert_to_tensor(self.conv2_kernels[i])
        if op == FUSION_OPS.index("cat"):
            k2 = tf.concat([k2[:, :, :channels, :channels], k2[:, :, cmax:cmax + channels, :channels]], axis=2)
        else:
            k2 = k2[:, :, :channels, :channels]
        b2 = tf.convert_to_tensor(self.conv2_biases[i])[:channels]
        return k1, b1, k2, b2

    # ---- forward -----------------------------------------------------------------------
    def fuse(self, features, heatmaps, stage, op, channels=None):
        """The fusion at a known stage (no stage selection)."""
        i = self._check_stage(stage)
        if channels is None:
            channels = features.shape[-1] if features.shape[-1] is not None else tf.shape(features)[-1]
        channels = common.as_int(channels, self.stage_channels[i])
        op = _op_index(op)
        size = tf.shape(features)[1:3]

        def run(op_index):
            k1, b1, k2, b2 = self.active_weights(stage, op_index, channels)
            h = tf.nn.conv2d(heatmaps, k1, 1, "VALID") + b1
            h = tf.image.resize(h, size, method="bilinear")
            if op_index == 0:
                x = features + h
            elif op_index == 1:
                x = features * h
            else:
                x = tf.concat([features, h], axis=-1)
            return tf.nn.conv2d(x, k2, 1, "VALID") + b2

        if isinstance(op, int):
            return run(op)
        return tf.switch_case(op, [lambda j=j: run(j) for j in range(len(FUSION_OPS))])

    def call(self, features, heatmaps, stage, op, channels=None, selected_stage=None):
        if selected_stage is None:
            return self.fuse(features, heatmaps, stage, op, channels)
        if isinstance(selected_stage, (int, np.integer)):
            if int(selected_stage) != int(stage):
                return features
            return self.fuse(features, heatmaps, stage, op, channels)
        return tf.cond(
            tf.equal(tf.cast(selected_stage, tf.int32), int(stage)),
            lambda: self.fuse(features, heatmaps, stage, op, channels),
            lambda: tf.identity(features),
        )

    # ---- extraction -------------------------------------------------------------------
    def export_weights(self, static_layer, part):
        """Sliced weights for the static twin's layer `fusion__s<i>_conv1|conv2`."""
        try:
            stage_text, conv = part.split("_", 1)
            stage = int(stage_text[1:])
        except (AttributeError, ValueError):
            raise ValueError(f"{self.name}: cannot map static layer part {part!r}") from None
        i = self._check_stage(stage)
        cmax = self.stage_channels[i]
        kernel_shape = tuple(static_layer.weights[0].shape)
        out = int(kernel_shape[-1])
        if conv == "conv1":
            return [np.asarray(self.conv1_kernels[i])[..., :out], np.asarray(self.conv1_biases[i])[:out]]
        if conv == "conv2":
            k2 = np.asarray(self.conv2_kernels[i])
            if kernel_shape[2] == 2 * out:
                k = np.concatenate([k2[:, :, :out, :out], k2[:, :, cmax:cmax + out, :out]], axis=2)
            else:
                k = k2[:, :, :out, :out]
            return [k, np.asarray(self.conv2_biases[i])[:out]]
        raise ValueError(f"{self.name}: unknown static part {part!r}")

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_keypoints": self.num_keypoints,
            "stage_channels": list(self.stage_channels),
            "kernel_initializer": self.kernel_initializer,
            "identity_init": self.identity_init,
        })
        return config


class _IdentityRows:
    """Initializer of a [1, 1, 2C, C] kernel: rows [:C] the identity, the rest `base`."""

    def __init__(self, base):
        self.base = base

    def __call__(self, shape, dtype=None):
        value = self.base(shape, dtype=dtype)
        c = shape[-1]
        eye = tf.eye(c, dtype=value.dtype)[None, None]
        return tf.concat([eye, tf.convert_to_tensor(value)[:, :, c:, :]], axis=2)


def static_fusion(features, heatmaps, stage, op, name="fusion"):
    """The fusion module as standard Keras layers (what `TemporalSuperNetwork.extract`
    inserts after stage `stage`): Conv2D 1x1 -> Resizing (bilinear; skipped when the
    sizes already agree) -> Add / Multiply / Concatenate -> Conv2D 1x1. Layer names
    `<name>__s<stage>_<part>` map back to the ElasticFusion `<name>`."""
    op = FUSION_OPS[_op_index(op)]
    c = int(features.shape[-1])
    hs, ws = int(features.shape[1]), int(features.shape[2])
    prefix = f"{name}__s{int(stage)}"
    h = keras.layers.Conv2D(c, 1, use_bias=True, name=f"{prefix}_conv1")(heatmaps)
    if (int(heatmaps.shape[1]), int(heatmaps.shape[2])) != (hs, ws):
        h = keras.layers.Resizing(hs, ws, interpolation="bilinear", name=f"{prefix}_resize")(h)
    if op == "add":
        x = keras.layers.Add(name=f"{prefix}_add")([features, h])
    elif op == "mul":
        x = keras.layers.Multiply(name=f"{prefix}_mul")([features, h])
    else:
        x = keras.layers.Concatenate(axis=-1, name=f"{prefix}_cat")([features, h])
    return keras.layers.Conv2D(c, 1, use_bias=True, name=f"{prefix}_conv2")(x)
