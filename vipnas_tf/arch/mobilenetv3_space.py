"""The MobileNetV3 search space (paper Table A1) and its layer list for the cost model.

Structure (mmpose `ViPNAS_MobileNetV3`): a 3x3/2 stem conv (hard-swish), six stages of
inverted-residual blocks (1x1 expand -> k x k grouped conv -> optional SE -> 1x1
project), residual when stride 1 and in == out, then the deconv head.

Choices per Table A1. The group number of the middle conv is searched as
mid / c with c (channels per group) in {1, 2, 4, 8}: this reproduces every range of
Table A1 exactly (stage 2: mid in [72, 144] -> groups [9, 144]; stage 6: mid in
[480, 960] -> [60, 960]) and always divides the channels.

One deviation: Table A1 fixes the head width at 256, but the published
S-ViPNAS-MobileNetV3 uses a 160-wide depthwise head (mmpose `vipnas_mbv3.py`:
three transposed convs 160 -> 160, groups 160). The head width choices
are {160, 256} so that the published model is a point of the space; head groups are
the values of {32, 64, 128, 160, 256} (Table A1's range [32, 256]) that divide both the
deconv's input and output channels.
"""
from vipnas_tf.arch import cost as cost_lib
from vipnas_tf.arch.space import HeadSpace, SearchSpace, StageSpace, register_space

CHANNELS_PER_GROUP = (1, 2, 4, 8)
HEAD_GROUPS = (32, 64, 128, 160, 256)
SE_RATIO = 4


def se_channels(mid):
    """Squeeze channels of the SE block: int(mid / 4) as in mmpose's SELayer."""
    return int(mid / SE_RATIO)


class MobileNetV3Space(SearchSpace):
    """Table A1's space; `channels_per_group` (default {1, 2, 4, 8}) sets the group choices
    of the middle convs as mid / c, `head_groups` those of the head's deconvs.

    `allow_dense` (off by default, an extension beyond the paper) adds the dense choice
    groups = 1 (channels per group = the full middle width) to every stage's middle
    conv: CPUs with fast dense int8 convs (AVX-512 VNNI, AMX) run a dense conv faster
    than a grouped one of a few channels per group, so a latency-constrained search
    there can pick it.
    """

    family = "mobilenetv3"

    def __init__(self, *args, channels_per_group=CHANNELS_PER_GROUP, head_groups=HEAD_GROUPS, allow_dense=False,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.channels_per_group = tuple(channels_per_group)
        self.head_groups = tuple(head_groups)
        self.allow_dense = bool(allow_dense)

    def mid_channels(self, stage_index, stage, in_channels):
        return stage.width * stage.expansion

    def group_choices(self, stage_index, stage, in_channels):
        mid = self.mid_channels(stage_index, stage, in_channels)
        choices = {mid // c for c in self.channels_per_group if mid % c == 0}
        if self.allow_dense:
            choices.add(1)
        return tuple(sorted(choices))

    def head_group_choices(self, width, in_channels):
        return tuple(g for g in self.head_groups if width % g == 0 and in_channels % g == 0)

    def conv_costs(self, arch, input_size):
        return mobilenetv3_conv_costs(arch, input_size, self.stage_strides(), self.num_keypoints)

    def stage_strides(self):
        return tuple(s.stride for s in self.stages)


def mobilenetv3_conv_costs(arch, input_size, strides, num_keypoints=17):
    """Layer list of a MobileNetV3-family network (space points and static presets)."""
    h, w = cost_lib.check_input_size(input_size)
    h, w = cost_lib.conv_out(h, 2), cost_lib.conv_out(w, 2)
    layers = [cost_lib.ConvCost("stem_conv", 3, arch.stem.width, arch.stem.kernel, 1, (h, w), norm_params=2 * arch.stem.width)]
    in_ch = arch.stem.width
    for i, (s, stride0) in enumerate(zip(arch.stages, strides)):
        for j in range(s.depth):
            name = f"stage{i + 1}_block{j + 1}"
            mid = s.mid_channels[j] if s.mid_channels else s.width * s.expansion
            groups = mid if s.groups == 0 else s.groups
            if mid != in_ch:
                layers.append(cost_lib.ConvCost(f"{name}_expand_conv", in_ch, mid, 1, 1, (h, w), norm_params=2 * mid))
            stride = stride0 if j == 0 else 1
            h, w = cost_lib.conv_out(h, stride), cost_lib.conv_out(w, stride)
            layers.append(cost_lib.ConvCost(f"{name}_mid_conv", mid, mid, s.kernel, groups, (h, w), norm_params=2 * mid))
            if s.attention:
                sq = se_channels(mid)
                layers.append(cost_lib.ConvCost(f"{name}_se_reduce", mid, sq, 1, 1, (1, 1), bias=True))
                layers.append(cost_lib.ConvCost(f"{name}_se_expand", sq, mid, 1, 1, (1, 1), bias=True))
            layers.append(cost_lib.ConvCost(f"{name}_project_conv", mid, s.width, 1, 1, (h, w), norm_params=2 * s.width))
            in_ch = s.width
    layers += head_conv_costs(arch.head, in_ch, (h, w), num_keypoints)
    return layers


def head_conv_costs(head, in_ch, hw, num_keypoints):
    """Layer list of the SimpleBaseline-style deconv head + final 1x1 conv."""
    h, w = hw
    layers = []
    for n in range(head.num_layers):
        h, w = 2 * h, 2 * w
        groups = head.width if head.groups == 0 else head.groups
        layers.append(
            cost_lib.ConvCost(
                f"head_deconv{n + 1}", in_ch, head.width, head.kernel, groups, (h, w),
                transposed=True, norm_params=2 * head.width,
            )
        )
        in_ch = head.width
    layers.append(cost_lib.ConvCost("head_final_conv", in_ch, num_keypoints, 1, 1, (h, w), bias=True))
    return layers


def _stage(depth, width, expansion, stride, activation, label, kernel=(3, 5, 7)):
    return StageSpace(
        depth=depth, width=(width,), expansion=expansion, kernel=kernel,
        attention=(False, True), stride=stride, activation=activation, label=label,
    )


MOBILENETV3_SPACE = register_space(
    MobileNetV3Space(
        name="mobilenetv3",
        stem_width=(16,),
        stem_kernel=(3,),
        stages=(
            StageSpace(depth=(1,), width=(16,), expansion=(1,), kernel=(3,), stride=1, activation="relu", label="stage 1"),
            _stage((2, 3, 4), 24, (3, 4, 5, 6), 2, "relu", "stage 2"),
            _stage((2, 3, 4), 40, (3, 4, 5, 6), 2, "relu", "stage 3"),
            _stage((2, 3, 4), 80, (3, 4, 5, 6), 2, "hswish", "stage 4"),
            _stage((2, 3, 4), 112, (3, 4, 5, 6), 1, "hswish", "stage 5"),
            _stage((2, 3, 4), 160, (3, 4, 5, 6), 2, "hswish", "stage 6"),
        ),
        head=HeadSpace(width=(160, 256), kernel=4, num_layers=3),
    )
)


# Table A1's space plus dense (groups = 1) middle convs in every stage: beyond the paper.
MOBILENETV3_DENSE_SPACE = register_space(
    MobileNetV3Space(
        name="mobilenetv3_dense",
        stem_width=MOBILENETV3_SPACE.stem_width,
        stem_kernel=MOBILENETV3_SPACE.stem_kernel,
        stages=MOBILENETV3_SPACE.stages,
        head=MOBILENETV3_SPACE.head,
        allow_dense=True,
    )
)


# The quickstart's space: a sub-space of Table A1 that a few minutes of sandwich training
# on 2 CPU cores can cover. Every choice is one of Table A1's; fewer of them:
#   depth {2, 3, 4} as in Table A1, expansion {3, 4, 6} (3-6), kernel {3, 5} (3, 5, 7),
#   depthwise middle convs (1 channel per group; Table A1: 1, 2, 4, 8), a depthwise head
#   160 wide (the published S-ViPNAS-MobileNetV3's head). Grouped convs of 2 channels per
#   group ran about 4x slower per GFLOP than depthwise ones in TFLite on an AMD EPYC
#   (1 thread, 256x192: 28.5 ms for a 0.42 GFLOPs S-ViPNet, against 6.7 ms on average for
#   the 0.20 GFLOPs depthwise frame networks of its schedule), which made the quickstart's
#   S-ViPNet slower than the SimpleBaseline-MobileNetV3 baseline.
# Its biggest is about a third of Table A1's, so the random members of a short sandwich
# share most of their weights with the two trained ends.
MOBILENETV3_QUICK_SPACE = register_space(
    MobileNetV3Space(
        name="mobilenetv3_quick",
        stem_width=(16,),
        stem_kernel=(3,),
        stages=(
            StageSpace(depth=(1,), width=(16,), expansion=(1,), kernel=(3,), stride=1, activation="relu", label="stage 1"),
            _stage((2, 3, 4), 24, (3, 4, 6), 2, "relu", "stage 2", kernel=(3, 5)),
            _stage((2, 3, 4), 40, (3, 4, 6), 2, "relu", "stage 3", kernel=(3, 5)),
            _stage((2, 3, 4), 80, (3, 4, 6), 2, "hswish", "stage 4", kernel=(3, 5)),
            _stage((2, 3, 4), 112, (3, 4, 6), 1, "hswish", "stage 5", kernel=(3, 5)),
            _stage((2, 3, 4), 160, (3, 4, 6), 2, "hswish", "stage 6", kernel=(3, 5)),
        ),
        head=HeadSpace(width=(160,), kernel=4, num_layers=3),
        channels_per_group=(1,),
        head_groups=(160,),
    )
)
