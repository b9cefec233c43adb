"""TemporalSuperNetwork: the T-ViPNet super-network (paper Sec. 3.3, 3.4.2).

A spatial `SuperNetwork` plus an `ElasticFusion` module that fuses the previous
frame's heatmaps into the output of one backbone stage:

    net = TemporalSuperNetwork.from_spatial(s_vipnet_supernet, max_arch=s_vipnet_arch)
    ts = net.temporal_space
    heatmaps = net(images, prev_heatmaps, arch=ts.encode(frame_arch), training=True)
    static = net.extract(frame_arch)   # inputs "image", "prev_heatmaps" -> "heatmaps"

`arch` is an int32 vector (spatial encoding + [fusion_op, fusion_stage]): one traced
graph serves every frame architecture. A `FrameArch` instead gives Python ints and a
graph specialised to it (as `SuperNetwork` does with `Arch`).

Shape letters: N batch, H/W input size, h/w = H/4, W/4 heatmap size, K keypoints.
"""
import keras
import numpy as np
import tensorflow as tf

from vipnas_tf.arch import cost as cost_lib
from vipnas_tf.arch.arch import parse_arch
from vipnas_tf.arch.space import get_space
from vipnas_tf.layers.common import split_static_name
from vipnas_tf.models.static_builders import build_static
from vipnas_tf.models.supernet import SuperNetwork, build_supernet
from vipnas_tf.temporal.fusion import ElasticFusion, static_fusion
from vipnas_tf.temporal.frame_arch import (  # noqa: F401  (re-exported)
    FUSION_OPS,
    FrameArch,
    TemporalSpace,
    describe_frame,
    frame_cost,
    fusion_conv_costs,
    parse_frame_arch,
)


@keras.saving.register_keras_serializable(package="vipnas_tf")
class TemporalSuperNetwork(keras.Model):
    """Spatial super-network + elastic fusion module.

    Args:
      space: spatial search space name.
      input_size: (H, W) the network is built for (used by `extract` by default).
      max_arch: optional bound of the temporal space (the S-ViPNet architecture, an
        `Arch` or its compact string); sampling stays within it.
      spatial: optional existing `SuperNetwork` to wrap (shares its weights; use
        `from_spatial` to start from a copy instead).
      padding: the spatial super-network's padding ("same" | "symmetric"; default:
        `spatial`'s, else `max_arch`'s, else "same"). Every frame architecture has it.

    Call arguments:
      images: [N, H, W, 3] normalised crops of the current frame.
      prev_heatmaps: [N, h, w, K] heatmaps of the previous frame.
      arch: int32 [L + 2] encoded frame architecture, or a `FrameArch` (specialised
        graph); default the `active_arch` variable.
      training: BN mode.

    Returns:
      heatmaps [N, h, w, K].
    """

    def __init__(self, space, input_size=(256, 192), max_arch=None, spatial=None, padding=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(max_arch, str):
            max_arch = parse_arch(max_arch)
        if padding is None:
            padding = spatial.padding if spatial is not None else max_arch.padding if max_arch is not None else "same"
        self.spatial = spatial if spatial is not None else build_supernet(space, input_size, padding=padding)
        if self.spatial.padding != padding:
            raise ValueError(f"TemporalSuperNetwork: spatial super-network has padding {self.spatial.padding!r}, "
                             f"not {padding!r}")
        self.padding = padding
        if self.spatial.space.name != space:
            raise ValueError(f"TemporalSuperNetwork: spatial super-network is of space "
                             f"{self.spatial.space.name!r}, not {space!r}")
        self.space_name = space
        self.input_size = cost_lib.check_input_size(input_size)
        self.temporal_space = TemporalSpace(self.spatial.space, max_arch=max_arch, padding=padding)
        self.max_arch = max_arch
        self.num_keypoints = self.spatial.num_keypoints
        self.fusion_stages = self.temporal_space.fusion_stages
        self.fusion = ElasticFusion(self.num_keypoints, [max(s.widths) for s in self.fusion_stages], name="fusion")
        self.fusion.build(None)
        self.active_arch = self.add_weight(
            name="active_frame_arch",
            shape=(self.temporal_space.encoding_size,),
            dtype="int32",
            initializer=keras.initializers.Constant(self.temporal_space.encode(self.temporal_space.max())),
            trainable=False,
        )
        self.built = True

    @classmethod
    def from_spatial(cls, supernet, max_arch=None, input_size=None, copy=True):
        """A temporal super-network initialised from a trained spatial one (paper
        Sec. 3.4.2: T-ViPNet starts from S-ViPNet's weights).

        Args:
          supernet: the spatial `SuperNetwork` (S-ViPNet's super-network or the
            stand-alone S-ViPNet as a super-network).
          max_arch: the S-ViPNet architecture bounding the temporal space (optional).
          input_size: default the supernet's.
          copy: copy the weights (default) so that training T-ViPNet leaves the key
            frame model untouched; False shares the very same layers.
        """
        if not isinstance(supernet, SuperNetwork):
            raise ValueError(f"from_spatial: expected a SuperNetwork, got {type(supernet).__name__}")
        input_size = input_size or supernet.input_size
        if not copy:
            return cls(supernet.space.name, input_size, max_arch=max_arch, spatial=supernet)
        net = cls(supernet.space.name, input_size, max_arch=max_arch, padding=supernet.padding)
        src, dst = supernet.weights, net.spatial.weights
        if len(src) != len(dst):
            raise ValueError(f"from_spatial: the super-network has {len(src)} weights, a fresh "
                             f"{supernet.space.name} super-network {len(dst)}")
        for s, d in zip(src, dst):
            if tuple(s.shape) != tuple(d.shape):
                raise ValueError(f"from_spatial: weight {s.path} has shape {tuple(s.shape)}, expected {tuple(d.shape)}")
            d.assign(s)
        return net

    # ---- forward -----------------------------------------------------------------------
    def decode_choices(self, arch):
        """Spatial choices (as `SuperNetwork.decode_choices`) + "fusion_op" and
        "fusion_stage" (Python ints for a FrameArch, int32 scalars for a vector)."""
        if isinstance(arch, FrameArch):
            self.temporal_space.validate(arch)
            choices = self.spatial.decode_choices(arch.spatial)
            choices["fusion_op"] = FUSION_OPS.index(arch.fusion_op)
            choices["fusion_stage"] = int(arch.fusion_stage)
            return choices
        v = tf.cast(tf.convert_to_tensor(arch), tf.int32)
        choices = self.spatial.decode_choices(v[:-2])
        choices["fusion_op"] = v[-2]
        choices["fusion_stage"] = v[-1]
        return choices

    def call(self, images, prev_heatmaps, arch=None, training=None):
        choices = self.decode_choices(self.active_arch if arch is None else arch)
        prev_heatmaps = tf.cast(prev_heatmaps, images.dtype)

        def hook(stage, x):
            spec = self.fusion_stages[stage - 1]
            selected = choices["fusion_stage"]
            if isinstance(selected, int) and selected != stage:
                return x
            width = choices["stages"][spec.arch_index]["width"]
            return self.fusion(x, prev_heatmaps, stage=stage, op=choices["fusion_op"], channels=width,
                               selected_stage=selected)

        x = self.spatial._backbone(images, choices, training, stage_hook=hook)
        return self.spatial._head(x, choices["head_width"], choices["head_groups"], training)

    # ---- architecture API -------------------------------------------------------------
    def encode(self, frame_arch):
        return self.temporal_space.encode(frame_arch)

    def decode(self, vector):
        return self.temporal_space.decode(vector)

    def sample(self, rng, n=None):
        return self.temporal_space.sample(rng, n)

    def set_active(self, frame_arch):
        self.active_arch.assign(self.temporal_space.encode(frame_arch))

    def get_active(self):
        return self.temporal_space.decode(np.asarray(self.active_arch))

    def frame_cost(self, frame_arch, input_size=None):
        return frame_cost(frame_arch, input_size or self.input_size)

    def extract(self, frame_arch, input_size=None, name=None) -> keras.Model:
        """A plain functional Keras model of `frame_arch` with the sliced weights:
        inputs "image" [N, H, W, 3] and "prev_heatmaps" [N, H/4, W/4, K], output
        "heatmaps" [N, H/4, W/4, K]."""
        self.temporal_space.validate(frame_arch)
        model = build_static_frame(frame_arch, input_size or self.input_size,
                                   name=name or f"tvipnet_{self.space_name}", fusion_name=self.fusion.name)
        for layer in model.layers:
            if not layer.weights:
                continue
            base, part = split_static_name(layer.name)
            if base == self.fusion.name:
                layer.set_weights(self.fusion.export_weights(layer, part))
                continue
            source = self.spatial._elastic_by_name.get(base)
            if source is None or not hasattr(source, "export_weights"):
                raise RuntimeError(f"extract: static layer {layer.name!r} has no elastic source {base!r}")
            layer.set_weights(source.export_weights(layer, part))
        return model

    # ---- BN helpers ---------------------------------------------------------------------
    def batch_norm_layers(self):
        return self.spatial.batch_norm_layers()

    def set_bn_momentum(self, value):
        self.spatial.set_bn_momentum(value)

    def reset_bn_statistics(self):
        self.spatial.reset_bn_statistics()

    def get_config(self):
        config = super().get_config()
        config.update({
            "space": self.space_name,
            "input_size": list(self.input_size),
            "max_arch": self.max_arch.to_string() if self.max_arch is not None else None,
            "padding": self.padding,
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("trainable", None)
        config.pop("dtype", None)
        return cls(**config)


def build_static_frame(frame_arch, input_size=(256, 192), name=None, fusion_name="fusion"):
    """The plain functional Keras model of a T-ViPNet (fresh weights): the static
    spatial model of `frame_arch.spatial` with `static_fusion` after its fusion stage.

    Inputs "image" [N, H, W, 3] and "prev_heatmaps" [N, H/4, W/4, K]; output
    "heatmaps" [N, H/4, W/4, K]. Its conv layers are `frame_cost`'s layer list.
    """
    space = get_space(frame_arch.space)
    TemporalSpace(space, padding=frame_arch.spatial.padding).validate(frame_arch)
    h, w = cost_lib.check_input_size(input_size)
    prev = keras.Input((h // 4, w // 4, space.num_keypoints), name="prev_heatmaps")

    def hook(stage, x):
        if stage != frame_arch.fusion_stage:
            return x
        return static_fusion(x, prev, stage, frame_arch.fusion_op, name=fusion_name)

    return build_static(frame_arch.spatial, (h, w), name=name or f"tvipnet_{frame_arch.space}",
                        stage_hook=hook, extra_inputs=(prev,))

