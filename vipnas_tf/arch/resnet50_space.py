"""The ResNet-50 search space (paper Table A2) and its layer list for the cost model.

Structure (mmpose `ViPNAS_ResNet`, SimpleBaseline): a 7x7/2 stem conv + BN + ReLU +
3x3/2 max-pool, four stages of bottlenecks (1x1 -> k x k grouped -> 1x1, BN after
each, optional GC block after the last BN, residual add, ReLU), then the deconv head.
Stage strides (1, 2, 2, 2). Bottleneck mid channels = width // expansion (expansion 1
in the space, 4 in the standard ResNet-50 of the `sbl_res50` preset).

Search steps of Appendix A.2: depth 1, width 16, kernel 2, group 16. Groups must
divide the channels they split, so a stage's group choices are the values of
{16, 32, 48, 64} that divide its mid channels (16 always does).

Design decision: the first block of every stage has a projection shortcut (1x1 conv +
BN). mmpose omits it when stride is 1 and the channels match, which in this space can
only happen for stage 1 with a 64-wide stem and a 64-wide stage; keeping the
projection makes the block structure independent of the sampled widths.
"""
from vipnas_tf.arch import cost as cost_lib
from vipnas_tf.arch.mobilenetv3_space import head_conv_costs
from vipnas_tf.arch.space import HeadSpace, SearchSpace, StageSpace, register_space

GROUPS = (16, 32, 48, 64)


def gc_channels(channels):
    """Bottleneck channels P of the GC block: max(16, C // 16) (mmpose)."""
    return max(16, channels // 16)


class ResNet50Space(SearchSpace):
    """Table A2's space. `allow_dense` (off by default, an extension beyond the paper)
    adds the dense choice groups = 1 to every stage's k x k conv (the head keeps
    Table A2's groups)."""

    family = "resnet"

    def __init__(self, *args, allow_dense=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.allow_dense = bool(allow_dense)

    def mid_channels(self, stage_index, stage, in_channels):
        return stage.width // stage.expansion

    def group_choices(self, stage_index, stage, in_channels):
        mid = self.mid_channels(stage_index, stage, in_channels)
        dense = (1,) if self.allow_dense else ()
        return dense + tuple(g for g in GROUPS if mid % g == 0)

    def head_group_choices(self, width, in_channels):
        return tuple(g for g in GROUPS if width % g == 0 and in_channels % g == 0)

    def conv_costs(self, arch, input_size):
        return resnet_conv_costs(arch, input_size, self.stage_strides(), self.num_keypoints)

    def stage_strides(self):
        return tuple(s.stride for s in self.stages)


def resnet_conv_costs(arch, input_size, strides, num_keypoints=17):
    """Layer list of a ResNet-family network (space points and static presets)."""
    h, w = cost_lib.check_input_size(input_size)
    h, w = cost_lib.conv_out(h, 2), cost_lib.conv_out(w, 2)
    layers = [cost_lib.ConvCost("stem_conv", 3, arch.stem.width, arch.stem.kernel, 1, (h, w), norm_params=2 * arch.stem.width)]
    h, w = cost_lib.conv_out(h, 2), cost_lib.conv_out(w, 2)  # max-pool
    in_ch = arch.stem.width
    for i, (s, stride0) in enumerate(zip(arch.stages, strides)):
        for j in range(s.depth):
            name = f"stage{i + 1}_block{j + 1}"
            mid = s.width // s.expansion
            groups = mid if s.groups == 0 else s.groups
            stride = stride0 if j == 0 else 1
            layers.append(cost_lib.ConvCost(f"{name}_conv1", in_ch, mid, 1, 1, (h, w), norm_params=2 * mid))
            h2, w2 = cost_lib.conv_out(h, stride), cost_lib.conv_out(w, stride)
            layers.append(cost_lib.ConvCost(f"{name}_conv2", mid, mid, s.kernel, groups, (h2, w2), norm_params=2 * mid))
            layers.append(cost_lib.ConvCost(f"{name}_conv3", mid, s.width, 1, 1, (h2, w2), norm_params=2 * s.width))
            if s.attention:
                p = gc_channels(s.width)
                layers.append(cost_lib.ConvCost(f"{name}_gc_mask", s.width, 1, 1, 1, (h2, w2), bias=True))
                layers.append(cost_lib.ConvCost(f"{name}_gc_add1", s.width, p, 1, 1, (1, 1), bias=True, norm_params=2 * p))
                layers.append(cost_lib.ConvCost(f"{name}_gc_add2", p, s.width, 1, 1, (1, 1), bias=True))
            if j == 0:
                layers.append(cost_lib.ConvCost(f"{name}_downsample", in_ch, s.width, 1, 1, (h2, w2), norm_params=2 * s.width))
            h, w = h2, w2
            in_ch = s.width
    layers += head_conv_costs(arch.head, in_ch, (h, w), num_keypoints)
    return layers


def _stage(depth, width, stride, label):
    return StageSpace(
        depth=tuple(range(depth[0], depth[1] + 1)),
        width=tuple(range(width[0], width[1] + 1, 16)),
        expansion=(1,),
        kernel=(3, 5),
        attention=(False, True),
        stride=stride,
        activation="relu",
        label=label,
    )


RESNET50_SPACE = register_space(
    ResNet50Space(
        name="resnet50",
        stem_width=(32, 48, 64),
        stem_kernel=(7,),
        stages=(
            _stage((3, 4), (64, 80), 1, "stage 1"),
            _stage((4, 6), (128, 160), 2, "stage 2"),
            _stage((6, 8), (256, 320), 2, "stage 3"),
            _stage((3, 4), (512, 640), 2, "stage 4"),
        ),
        head=HeadSpace(width=tuple(range(64, 257, 16)), kernel=4, num_layers=3),
    )
)


# Table A2's space plus dense (groups = 1) stage convs: beyond the paper.
RESNET50_DENSE_SPACE = register_space(
    ResNet50Space(
        name="resnet50_dense",
        stem_width=RESNET50_SPACE.stem_width,
        stem_kernel=RESNET50_SPACE.stem_kernel,
        stages=RESNET50_SPACE.stages,
        head=RESNET50_SPACE.head,
        allow_dense=True,
    )
)
