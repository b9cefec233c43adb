"""Static HRNet: the plain Keras model of an `hrnet` architecture.

Mirrors `HRNetSuperNet` layer for layer and name for name (what `extract` relies on)
and `vipnas_tf.arch.hrnet_space.hrnet_conv_costs` conv for conv; built only from
standard Keras layers (Conv2D / DepthwiseConv2D, BatchNormalization, ReLU, SE made of
pooling + 1x1 convs, UpSampling2D, Add), so export never needs the elastic machinery.
"""
import keras

from vipnas_tf.arch.hrnet_space import BLOCKS_PER_MODULE, num_modules, stage_entries
from vipnas_tf.models import static_ops as ops
from vipnas_tf.models.static_builders import register_static_builder


def bottleneck(x, s, name, downsample):
    """Stage-1 bottleneck: 1x1 -> k x k grouped -> 1x1, BN after each, SE, + shortcut, ReLU."""
    mid = s.width // s.expansion
    groups = mid if s.groups == 0 else s.groups
    h = ops.activation(ops.batch_norm(ops.conv(x, mid, 1, f"{name}_conv1"), f"{name}_bn1"), "relu", f"{name}_act1")
    h = ops.conv(h, mid, s.kernel, f"{name}_conv2", groups=groups)
    h = ops.activation(ops.batch_norm(h, f"{name}_bn2"), "relu", f"{name}_act2")
    h = ops.batch_norm(ops.conv(h, s.width, 1, f"{name}_conv3"), f"{name}_bn3")
    if s.attention:
        h = ops.squeeze_excite(h, f"{name}_se")
    shortcut = x
    if downsample:
        shortcut = ops.batch_norm(ops.conv(x, s.width, 1, f"{name}_downsample"), f"{name}_downsample_bn")
    return ops.activation(keras.layers.Add(name=f"{name}_add")([h, shortcut]), "relu", f"{name}_out")


def basic_block(x, s, name):
    """BasicBlock: two k x k grouped convs of the branch width, BN, SE, + input, ReLU."""
    groups = s.width if s.groups == 0 else s.groups
    h = ops.conv(x, s.width, s.kernel, f"{name}_conv1", groups=groups)
    h = ops.activation(ops.batch_norm(h, f"{name}_bn1"), "relu", f"{name}_act1")
    h = ops.batch_norm(ops.conv(h, s.width, s.kernel, f"{name}_conv2", groups=groups), f"{name}_bn2")
    if s.attention:
        h = ops.squeeze_excite(h, f"{name}_se")
    return ops.activation(keras.layers.Add(name=f"{name}_add")([h, x]), "relu", f"{name}_out")


def fusion(xs, prefix, outputs=None):
    """Multi-resolution fusion of one module (see `ElasticHRFusion`); returns the fused
    branches listed in `outputs` (default all)."""
    widths = [int(x.shape[-1]) for x in xs]
    results = []
    for i in range(len(xs)) if outputs is None else outputs:
        terms = []
        for j, x in enumerate(xs):
            path = f"{prefix}_b{j + 1}_to_b{i + 1}"
            if j == i:
                terms.append(x)
            elif j > i:
                t = ops.batch_norm(ops.conv(x, widths[i], 1, f"{path}_conv1"), f"{path}_bn1")
                terms.append(keras.layers.UpSampling2D(2 ** (j - i), interpolation="nearest", name=f"{path}_up")(t))
            else:
                t = x
                for k in range(i - j):
                    last = k == i - j - 1
                    t = ops.conv(t, widths[i] if last else widths[j], 3, f"{path}_conv{k + 1}", strides=2)
                    t = ops.batch_norm(t, f"{path}_bn{k + 1}")
                    if not last:
                        t = ops.activation(t, "relu", f"{path}_relu{k + 1}")
                terms.append(t)
        y = keras.layers.Add(name=f"{prefix}_b{i + 1}_sum")(terms)
        results.append(ops.activation(y, "relu", f"{prefix}_b{i + 1}_relu"))
    return results


@register_static_builder("hrnet")
def build_hrnet(arch, x, space, stage_hook=None):
    """[N, H, W, 3] -> [N, H/4, W/4, K] heatmaps of the HRNet architecture `arch`."""
    for i in (1, 2):
        x = ops.conv(x, arch.stem.width, arch.stem.kernel, f"stem_conv{i}", strides=2)
        x = ops.activation(ops.batch_norm(x, f"stem_bn{i}"), "relu", f"stem_relu{i}")
    s1 = arch.stages[0]
    for j in range(s1.depth):
        x = bottleneck(x, s1, f"stage1_block{j + 1}", downsample=j == 0)
    if stage_hook is not None:
        x = stage_hook(1, x)

    xs = [x]
    for stage in (2, 3, 4):
        entries = [arch.stages[i] for i in stage_entries(stage)]
        new_xs = []
        for b, s in enumerate(entries):
            name = f"transition{stage}_branch{b + 1}"
            if b < len(xs) and int(xs[b].shape[-1]) == s.width:
                new_xs.append(xs[b])  # unchanged width: no transition (HRNet)
                continue
            new = b >= len(xs)
            t = ops.conv(xs[-1] if new else xs[b], s.width, 3, f"{name}_conv", strides=2 if new else 1)
            new_xs.append(ops.activation(ops.batch_norm(t, f"{name}_bn"), "relu", f"{name}_relu"))
        xs = new_xs
        depth = entries[0].depth
        modules = num_modules(depth)
        for m in range(modules):
            for j in range(BLOCKS_PER_MODULE * m, min(BLOCKS_PER_MODULE * (m + 1), depth)):
                xs = [basic_block(x, s, f"stage{stage}_branch{b + 1}_block{j + 1}") for b, (x, s) in enumerate(zip(xs, entries))]
            last = stage == 4 and m == modules - 1
            xs = fusion(xs, f"stage{stage}_module{m + 1}_fuse", outputs=[0] if last else None)
        if stage_hook is not None:  # on branch 1, as HRNetSuperNet
            xs = [stage_hook(stage, xs[0])] + list(xs[1:])
    return ops.conv(xs[0], space.num_keypoints, 1, "head_final_conv", use_bias=True)
