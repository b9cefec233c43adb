"""SuperNetwork: the weight-sharing network of a search space (once-for-all API).

    net = build_supernet("mobilenetv3", input_size=(256, 192))
    net.set_active(arch)            # or pass arch=space.encode(arch) to call
    heatmaps = net(images)          # [N, H/4, W/4, K]
    static = net.extract(arch)      # plain functional Keras model, sliced weights
    net.load_static(static, arch)   # the reverse: a static model's weights into the network

The architecture reaches the graph as an int32 vector (`space.encode(arch)`), either
through the `active_arch` variable or the `arch` call argument, never as Python
values: a `tf.function` that calls the network is traced once and serves every
architecture. Depth is elastic through `tf.cond` (skipped blocks do not run), the
attention modules likewise; widths, kernels and groups through weight slicing.

Padding is a property of the whole network, fixed when it is built: "same" (TF's SAME,
the default) or "symmetric" (PyTorch's `k // 2` on every side, as mmpose's networks
pad: `build_supernet(space, padding="symmetric")`). Every architecture the network
runs or extracts must have that padding (`Arch.padding`); the extracted static model
pads the same way.
"""
import dataclasses

import keras
import numpy as np
import tensorflow as tf

from vipnas_tf.arch import cost as cost_lib
from vipnas_tf.arch.arch import PADDINGS, Arch, StageArch
from vipnas_tf.arch.space import check_supernet_padding, get_space
from vipnas_tf.layers import ElasticBatchNorm, ElasticConv2D, ElasticConv2DTranspose
from vipnas_tf.layers.common import split_static_name
from vipnas_tf.models.static_builders import SYMMETRIC_PADDING_FAMILIES, build_static

SUPERNETS = {}


def register_supernet(family):
    def wrap(cls):
        SUPERNETS[family] = cls
        return cls

    return wrap


def build_supernet(space, input_size=(256, 192), **kwargs):
    """The super-network of a registered space (by name or object); `padding=` as
    `SuperNetwork`."""
    space = get_space(space) if isinstance(space, str) else space
    if space.family not in SUPERNETS:
        raise ValueError(f"no super-network for family {space.family!r} (known: {sorted(SUPERNETS)})")
    return SUPERNETS[space.family](space=space.name, input_size=input_size, **kwargs)


class SuperNetwork(keras.Model):
    """Base class: architecture plumbing, the deconv head, extraction, BN helpers.

    Args:
      space: name of the search space.
      input_size: (H, W) the network is built for; any multiple of 32 (the graph itself
        accepts any such size; `input_size` is what `extract` uses by default).
      padding: "same" (default) or "symmetric" (families mobilenetv3 and resnet): how
        every strided conv (and the ResNet max-pool) pads; see the module docstring.

    Call arguments:
      inputs: [N, H, W, 3] float32 normalised image crops.
      arch: optional int32 [L] encoded architecture (default: `active_arch`).
      training: BN mode.
    """

    def __init__(self, space, input_size=(256, 192), padding="same", **kwargs):
        super().__init__(**kwargs)
        self.space = get_space(space)
        self.space_name = self.space.name
        if padding not in PADDINGS:
            raise ValueError(f"{self.space_name} super-network: padding must be one of {PADDINGS}, got {padding!r}")
        if padding != "same" and self.space.family not in SYMMETRIC_PADDING_FAMILIES:
            raise ValueError(f"{self.space_name} super-network: padding={padding!r} is supported for the "
                             f"{', '.join(SYMMETRIC_PADDING_FAMILIES)} families only")
        self.padding = padding
        self.input_size = cost_lib.check_input_size(input_size)
        self.num_keypoints = self.space.num_keypoints
        self.active_arch = self.add_weight(
            name="active_arch",
            shape=(self.space.encoding_size,),
            dtype="int32",
            initializer=keras.initializers.Constant(self.space.encode(self.space.max())),
            trainable=False,
        )
        self._build_layers()
        self._build_head()
        for layer in self._flatten_layers(include_self=False, recursive=True):
            if not layer.built:
                layer.build(None)
        self.built = True
        self._elastic_by_name = {}
        for layer in self._flatten_layers(include_self=False, recursive=True):
            if layer.name in self._elastic_by_name:
                raise RuntimeError(f"duplicate layer name {layer.name!r} in super-network")
            self._elastic_by_name[layer.name] = layer

    # ---- subclass hooks ------------------------------------------------------
    def _build_layers(self):
        raise NotImplementedError

    def _backbone(self, inputs, choices, training, stage_hook=None):
        """Stem and stages -> the head's input. `stage_hook(stage, x) -> x`, when given,
        is applied to the output of each backbone stage (1-based; HRNet: its branch 1),
        e.g. by the temporal fusion module; it must keep the shape."""
        raise NotImplementedError

    def mid_of(self, width, expansion):
        raise NotImplementedError

    # ---- head ----------------------------------------------------------------
    def _build_head(self):
        sp = self.space
        last_widths = sp.stages[-1].width
        in_choices = [tuple(last_widths)] + [tuple(sp.head.width)] * (sp.head.num_layers - 1)
        self.head_deconvs, self.head_bns = [], []
        for n in range(sp.head.num_layers):
            cpg = max(
                i // min(sp.head_group_choices(w, s))
                for w in sp.head.width
                for s in last_widths
                for i in in_choices[n]
                if sp.head_group_choices(w, s)
            )
            self.head_deconvs.append(
                ElasticConv2DTranspose(max(in_choices[n]), max(sp.head.width), max_in_per_group=cpg, name=f"head_deconv{n + 1}")
            )
            self.head_bns.append(ElasticBatchNorm(max(sp.head.width), name=f"head_bn{n + 1}"))
        self.head_final_conv = ElasticConv2D(max(sp.head.width), sp.num_keypoints, 1, use_bias=True, name="head_final_conv")

    def _head(self, x, width, groups, training):
        for deconv, bn in zip(self.head_deconvs, self.head_bns):
            x = tf.nn.relu(bn(deconv(x, out_channels=width, groups=groups), training=training))
        return self.head_final_conv(x)

    # ---- forward ---------------------------------------------------------------
    def decode_choices(self, vector):
        """Splits an encoded architecture into named scalar tensors.

        An `Arch` instead of a vector gives Python ints: the graph is then specialised
        to that one architecture (no `tf.cond`, static shapes), like a static model
        built from the same ops. Training loops should pass vectors.
        """
        if isinstance(vector, Arch):
            check_supernet_padding(vector, self.padding)
            v = [int(x) for x in self.space.encode(vector)]
        else:
            v = tf.cast(tf.convert_to_tensor(vector), tf.int32)
        stages = []
        for i in range(len(self.space.stages)):
            o = self.space.stage_offset(i)
            d, w, e, k, g, a = (v[o + j] for j in range(6))
            stages.append({"depth": d, "width": w, "mid": self.mid_of(w, e), "kernel": k, "groups": g, "attention": a})
        o = self.space.head_offset
        return {"stem_width": v[0], "stem_kernel": v[1], "stages": stages, "head_width": v[o], "head_groups": v[o + 1]}

    def call(self, inputs, arch=None, training=None):
        choices = self.decode_choices(self.active_arch if arch is None else arch)
        x = self._backbone(inputs, choices, training)
        return self._head(x, choices["head_width"], choices["head_groups"], training)

    def run_stage(self, x, blocks, stage_choices, min_depth, training):
        """Runs the first `depth` blocks; blocks beyond the space's minimum depth sit
        behind `tf.cond`, so skipped blocks cost nothing."""
        c = stage_choices
        kw = dict(width=c["width"], mid=c["mid"], kernel=c["kernel"], groups=c["groups"], attention=c["attention"])
        for j, block in enumerate(blocks):
            if isinstance(c["depth"], int):  # a concrete architecture: plain Python
                if j < c["depth"]:
                    x = block(x, training=training, **kw)
            elif j < min_depth:
                x = block(x, training=training, **kw)
            else:
                x = tf.cond(
                    j < c["depth"],
                    lambda x=x, block=block: block(x, training=training, **kw),
                    lambda x=x: tf.identity(x),
                )
        return x

    # ---- architecture API ------------------------------------------------------
    def set_active(self, arch: Arch):
        """Makes `arch` the architecture used when `call` gets no `arch`."""
        check_supernet_padding(arch, self.padding)
        self.active_arch.assign(self.space.encode(arch))

    def get_active(self) -> Arch:
        return self.space.decode(np.asarray(self.active_arch), padding=self.padding)

    def with_padding(self, arch: Arch) -> Arch:
        """`arch` with this network's padding (e.g. a point the space sampled)."""
        return dataclasses.replace(arch, padding=self.padding)

    def sample(self, rng, n=None):
        return self.space.sample(rng, n)

    def encode(self, arch: Arch):
        return self.space.encode(arch)

    def extract(self, arch: Arch, input_size=None, name=None) -> keras.Model:
        """A plain functional Keras model of `arch` carrying the sliced weights."""
        self.space.validate(arch)
        check_supernet_padding(arch, self.padding)
        model = build_static(arch, input_size or self.input_size, name=name)
        for layer in model.layers:
            if not layer.weights:
                continue
            base, part = split_static_name(layer.name)
            source = self._elastic_by_name.get(base)
            if source is None or not hasattr(source, "export_weights"):
                raise RuntimeError(f"extract: static layer {layer.name!r} has no elastic source {base!r}")
            layer.set_weights(source.export_weights(layer, part))
        return model

    def load_static(self, model: keras.Model, arch: Arch):
        """Copies the weights of a static model of `arch` (`build_static`, e.g. an
        imported mmpose network) into the slices `extract(arch)` reads, and makes
        `arch` active: the reverse of `extract`. The network's other weights are kept.

        Each elastic layer's `export_weights` is a pure slicing, so it is inverted
        exactly: run on index-valued variables it names the source element of every
        static weight. Raises ValueError naming the layer when the model is not a
        static model of `arch` (another layer list or shapes).
        """
        self.space.validate(arch)
        check_supernet_padding(arch, self.padding)
        reference = build_static(arch, tuple(int(d) for d in model.inputs[0].shape[1:3]))
        ours = {l.name: [tuple(w.shape) for w in l.weights] for l in reference.layers if l.weights}
        theirs = {l.name: [tuple(w.shape) for w in l.weights] for l in model.layers if l.weights}
        if ours != theirs:
            diff = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
            raise ValueError(f"load_static: {model.name} is not a static model of {arch.to_string()}: "
                             f"layers differing in name or weight shapes: {diff[:6]}")
        targets = {}  # elastic layer -> [(static layer, part)]
        for layer in model.layers:
            if layer.weights:
                base, part = split_static_name(layer.name)
                source = self._elastic_by_name.get(base)
                if source is None or not hasattr(source, "export_weights"):
                    raise ValueError(f"load_static: static layer {layer.name!r} has no elastic source {base!r}")
                targets.setdefault(source, []).append((layer, part))
        for source, parts in targets.items():
            variables = list(source.weights)
            saved = [v.numpy() for v in variables]
            new = [s.copy() for s in saved]
            try:
                for j, var in enumerate(variables):
                    size = int(np.prod(var.shape))
                    if size >= 2 ** 24:
                        raise ValueError(f"load_static: {var.path} has {size} values, too many to index in float32")
                    for k, other in enumerate(variables):  # 1..size in var j, 0 elsewhere
                        other.assign(np.arange(size, dtype=np.float32).reshape(var.shape) + 1 if k == j
                                     else np.zeros(other.shape, np.float32))
                    for layer, part in parts:
                        for index, value in zip(source.export_weights(layer, part), layer.get_weights()):
                            index = np.asarray(index).astype(np.int64)
                            hit = index > 0
                            new[j].reshape(-1)[index[hit] - 1] = np.asarray(value)[hit]
            finally:
                for var, value in zip(variables, saved):
                    var.assign(value)
            for var, value in zip(variables, new):
                var.assign(value)
            for layer, part in parts:  # the copy reads back exactly
                for got, want in zip(source.export_weights(layer, part), layer.get_weights()):
                    if not np.array_equal(np.asarray(got), np.asarray(want)):
                        raise ValueError(f"load_static: {layer.name}: its weights do not fit one slice of "
                                         f"{source.name} (two static weights share an element)")
        self.set_active(arch)

    # ---- BN helpers (re-calibration) ------------------------------------------
    def batch_norm_layers(self):
        return [l for l in self._flatten_layers(include_self=False, recursive=True) if isinstance(l, ElasticBatchNorm)]

    def set_bn_momentum(self, value):
        for bn in self.batch_norm_layers():
            bn.set_momentum(value)

    def reset_bn_statistics(self):
        for bn in self.batch_norm_layers():
            bn.reset_statistics()

    def get_config(self):
        config = super().get_config()
        config.update({"space": self.space_name, "input_size": list(self.input_size), "padding": self.padding})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("trainable", None)
        config.pop("dtype", None)
        return cls(**config)


def max_in_per_group(space, stage_index, mid_of, in_widths):
    """Largest input channels per group of a stage's searched conv over its choices."""
    sp = space.stages[stage_index]
    best = 1
    for w in sp.width:
        for e in sp.expansion:
            s = StageArch(1, w, e, 3, 1, False)
            for in_ch in in_widths:
                choices = space.group_choices(stage_index, s, in_ch)
                if choices:
                    best = max(best, mid_of(w, e) // min(choices))
    return best
