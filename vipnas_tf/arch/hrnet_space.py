"""The HRNet-W32 search space (paper Table A3), its layer list and the `hrnet_w32` preset.

Structure (HRNet, Sun et al. 2019, as in mmpose `HRNet` with the W32 config):

- stem: two 3x3/2 convs of the stem width, BN + ReLU after each (input -> 1/4);
- stage 1: bottlenecks (1x1 -> 3x3 grouped -> 1x1, expansion 4, projection shortcut on
  the first), optional SE, on one branch at 1/4;
- transitions into stages 2, 3, 4: an existing branch whose width changes gets a 3x3
  conv + BN + ReLU (none when the width is unchanged, as in HRNet); the new branch
  comes from the previous stage's lowest-resolution branch by a 3x3/2 conv + BN + ReLU;
- stages 2, 3, 4 with 2, 3, 4 parallel branches at 1/4, 1/8, 1/16, 1/32, made of HR
  modules: per branch a run of BasicBlocks (two 3x3 grouped convs of the branch width,
  BN, optional SE before the residual add), then the multi-resolution fusion: output
  branch i sums every branch j, brought to branch i's width and resolution by
  1x1 conv + BN + nearest upsampling x 2^(j-i) (j > i) or by i-j 3x3/2 convs + BN
  (ReLU between them, the last one changing the width) (j < i), then a ReLU;
  the last module of stage 4 only produces branch 1 (HRNet's `multiscale_output=False`);
- head: a 1x1 conv from branch 1 to the K heatmaps at 1/4 (no deconvs).

Encoding as an `Arch`: `stages` holds one `StageArch` per (stage, branch) pair, in the
order stage 1; stage 2 branch 1, 2; stage 3 branch 1, 2, 3; stage 4 branch 1..4 (10
entries, see `STAGE_BRANCHES`). Errors name them "stage 3 branch 2". The head has no
searchable part: `HeadArch(width=0, groups=1, kernel=1, num_layers=0)` stands for
"no deconv layers, the final 1x1 conv only".

Choices (Table A3; Appendix A.2 gives no steps for this space, so they are chosen as 4
values per range, like the other spaces):

- stem width {16, 32, 48, 64}, kernel 3.
- stage 1: Table A3's width [16, 64] is the bottleneck's *mid* width (HRNet's
  `num_channels=64` for stage 1, whose blocks output 4 x 64 = 256). `StageArch.width`
  is the block output width as in the ResNet space (mid = width // expansion), so
  stage 1 takes width {64, 128, 192, 256} with expansion 4 (mid {16, 32, 48, 64}), and
  groups {1, 2, 4, 8, 16} (Table A3's [1, 16]; all divide every mid).
- branch widths: branch 1 {8, 16, 24, 32}, branch 2 {16, ..., 64} step 16, branch 3
  {32, ..., 128} step 32, branch 4 {64, ..., 256} step 64; groups are the powers of two
  that divide the width (up to depthwise: Table A3's [1, W]); both convs of a
  BasicBlock share width, kernel and groups (paper A.2).
- kernel 3 only, SE on/off everywhere.

Depth -> modules (a design decision; Table A3 only gives per-stage block counts).
HRNet-W32 has modules of 4 BasicBlocks per branch: 1 module in stage 2, 4 in stage 3,
3 in stage 4, i.e. 4, 16 and 12 blocks per branch -- the maxima of Table A3's depth
ranges (stage 2 [4, 4], stage 3 [8, 16], stage 4 [8, 12]). A stage of depth D runs the
first D blocks of each branch's block sequence, cut into modules of 4: ceil(D / 4)
modules, a fusion after every 4th block and after the last one. Why:

- the ranges are multiples of 4 and stage 4's [8, 12] cannot be spread evenly over its
  3 modules (8 / 3), so the table's ranges read as "whole modules of 4 blocks";
- it is once-for-all's elastic-depth rule ("keep the first D blocks") applied to the
  stage's block sequence: every shared weight keeps one place (block j of a branch
  always follows the same number of fusions), so a shallower stage is a prefix of a
  deeper one, which is what weight sharing and in-place distillation rely on;
- D = 16 / 12 gives HRNet-W32's exact module structure, so the biggest network of
  the space (minus SE) *is* HRNet-W32 (`hrnet_w32` preset); D = 8 gives 2 full
  modules. Depth keeps step 1 (as the paper's other spaces): D = 9 ends with a module
  of one block followed by its fusion.

All branches of a stage carry the stage's depth; `validate` enforces it and
`sample` / `mutate` / `crossover` keep it (branch 1's value is the stage's).
"""
import dataclasses
import math

from vipnas_tf.arch import cost as cost_lib
from vipnas_tf.arch.arch import StageArch
from vipnas_tf.arch.presets import Preset, register_preset
from vipnas_tf.arch.space import HeadSpace, SearchSpace, StageSpace, _choices_text, register_space

BLOCKS_PER_MODULE = 4
BOTTLENECK_EXPANSION = 4
SE_RATIO = 4
POWERS_OF_TWO = tuple(2**i for i in range(9))  # 1 .. 256
STAGE1_GROUPS = (1, 2, 4, 8, 16)

# (stage number, branch number) of each entry of `Arch.stages`.
STAGE_BRANCHES = ((1, 1), (2, 1), (2, 2), (3, 1), (3, 2), (3, 3), (4, 1), (4, 2), (4, 3), (4, 4))


def stage_entries(stage):
    """Indices into `Arch.stages` of the branches of HRNet stage `stage` (1-4)."""
    return tuple(i for i, (s, _) in enumerate(STAGE_BRANCHES) if s == stage)


def num_modules(depth):
    """HR modules of a stage of `depth` blocks per branch (modules of 4 blocks)."""
    return math.ceil(depth / BLOCKS_PER_MODULE)


def module_of_block(j):
    """0-based module of the 0-based block `j` of a branch."""
    return j // BLOCKS_PER_MODULE


def se_channels(channels):
    """Squeeze channels of the SE block: int(C / 4) (`ElasticSE`, ratio 4)."""
    return channels // SE_RATIO


def branch_group_choices(width):
    """Powers of two dividing `width`: 1 (plain conv) up to depthwise when W is one."""
    return tuple(g for g in POWERS_OF_TWO if g <= width and width % g == 0)


class HRNetSpace(SearchSpace):
    """Table A3 as data, with HRNet's stage/branch structure (see the module docstring).

    Example:
      >>> space = get_space("hrnet_w32")
      >>> arch = space.sample(np.random.default_rng(0))
      >>> [arch.stages[i].width for i in stage_entries(3)]  # the 3 branches of stage 3
    """

    family = "hrnet"

    # ---- structure ----------------------------------------------------------
    @staticmethod
    def stage_and_branch(stage_index):
        """(stage, branch) numbers (1-based) of entry `stage_index` of `Arch.stages`."""
        return STAGE_BRANCHES[stage_index]

    def mid_channels(self, stage_index, stage, in_channels):
        return stage.width // stage.expansion

    def group_choices(self, stage_index, stage, in_channels):
        if self.stage_and_branch(stage_index)[0] == 1:
            mid = self.mid_channels(stage_index, stage, in_channels)
            return tuple(g for g in STAGE1_GROUPS if mid % g == 0)
        return branch_group_choices(stage.width)

    def head_group_choices(self, width, in_channels):
        return (1,)

    def stage_in_channels(self, arch, stage_index):
        # Stage 1 reads the stem; a branch's blocks read the branch width (the
        # transition brings every branch to it).
        return arch.stem.width if stage_index == 0 else arch.stages[stage_index].width

    def head_in_channels(self, arch):
        return arch.stages[stage_entries(4)[0]].width

    # ---- depth tying -----------------------------------------------------------
    def validate(self, arch):
        super().validate(arch)
        for stage in (2, 3, 4):
            first, *others = stage_entries(stage)
            d = arch.stages[first].depth
            for i in others:
                if arch.stages[i].depth != d:
                    raise ValueError(
                        f"{self.name} {self.stages[i].label}: depth={arch.stages[i].depth} differs from "
                        f"{self.stages[first].label}'s depth={d} (all branches of stage {stage} share "
                        f"the stage depth; allowed: {_choices_text(self.stages[first].depth)})"
                    )

    def tie_depths(self, arch):
        """Copies each stage's branch-1 depth to its other branches."""
        stages = list(arch.stages)
        for stage in (2, 3, 4):
            first, *others = stage_entries(stage)
            for i in others:
                stages[i] = dataclasses.replace(stages[i], depth=stages[first].depth)
        return dataclasses.replace(arch, stages=tuple(stages))

    def _build(self, pick, pick_group):
        return self.tie_depths(super()._build(pick, pick_group))

    def repair(self, arch, rng):
        # mutate() and crossover() end here: branch depths drawn independently are
        # tied back to branch 1's.
        return super().repair(self.tie_depths(arch), rng)

    def size(self):
        total = float(len(self.stem_width) * len(self.stem_kernel))
        for i, sp in enumerate(self.stages):
            n = sum(
                len(self.group_choices(i, StageArch(1, w, e, 3, 1, False), w)) for w in sp.width for e in sp.expansion
            )
            depth_choices = len(sp.depth) if STAGE_BRANCHES[i][1] == 1 else 1  # one depth per stage
            total *= n * depth_choices * len(sp.kernel) * len(sp.attention)
        return total

    # ---- cost ---------------------------------------------------------------------
    def conv_costs(self, arch, input_size):
        return hrnet_conv_costs(arch, input_size, self.num_keypoints)


def hrnet_conv_costs(arch, input_size, num_keypoints=17):
    """Layer list of an HRNet network, named like the static model's layers."""
    h, w = cost_lib.check_input_size(input_size)
    C = cost_lib.ConvCost
    layers = []

    def res(branch):  # spatial size of 1-based branch `branch`
        f = 4 * 2 ** (branch - 1)
        return (h // f, w // f)

    def se(name, c):
        sq = se_channels(c)
        return [C(f"{name}_se__reduce", c, sq, 1, 1, (1, 1), bias=True), C(f"{name}_se__expand", sq, c, 1, 1, (1, 1), bias=True)]

    sw = arch.stem.width
    layers.append(C("stem_conv1", 3, sw, arch.stem.kernel, 1, (h // 2, w // 2), norm_params=2 * sw))
    layers.append(C("stem_conv2", sw, sw, arch.stem.kernel, 1, res(1), norm_params=2 * sw))

    s1 = arch.stages[0]
    in_ch = sw
    for j in range(s1.depth):
        name = f"stage1_block{j + 1}"
        mid = s1.width // s1.expansion
        layers.append(C(f"{name}_conv1", in_ch, mid, 1, 1, res(1), norm_params=2 * mid))
        layers.append(C(f"{name}_conv2", mid, mid, s1.kernel, s1.groups, res(1), norm_params=2 * mid))
        layers.append(C(f"{name}_conv3", mid, s1.width, 1, 1, res(1), norm_params=2 * s1.width))
        if s1.attention:
            layers += se(name, s1.width)
        if j == 0:
            layers.append(C(f"{name}_downsample", in_ch, s1.width, 1, 1, res(1), norm_params=2 * s1.width))
        in_ch = s1.width

    prev = [s1.width]  # widths of the previous stage's branches
    for stage in (2, 3, 4):
        entries = [arch.stages[i] for i in stage_entries(stage)]
        widths = [s.width for s in entries]
        for b, c in enumerate(widths, start=1):
            name = f"transition{stage}_branch{b}_conv"
            if b <= len(prev):
                if prev[b - 1] != c:
                    layers.append(C(name, prev[b - 1], c, 3, 1, res(b), norm_params=2 * c))
            else:
                layers.append(C(name, prev[-1], c, 3, 1, res(b), norm_params=2 * c))
        depth = entries[0].depth
        for b, s in enumerate(entries, start=1):
            for j in range(depth):
                name = f"stage{stage}_branch{b}_block{j + 1}"
                layers.append(C(f"{name}_conv1", s.width, s.width, s.kernel, s.groups, res(b), norm_params=2 * s.width))
                layers.append(C(f"{name}_conv2", s.width, s.width, s.kernel, s.groups, res(b), norm_params=2 * s.width))
                if s.attention:
                    layers += se(name, s.width)
        for m in range(num_modules(depth)):
            last = stage == 4 and m == num_modules(depth) - 1
            layers += fusion_conv_costs(f"stage{stage}_module{m + 1}_fuse", widths, res, outputs=[0] if last else None)
        prev = widths
    layers.append(C("head_final_conv", prev[0], num_keypoints, 1, 1, res(1), bias=True))
    return layers


def fusion_layer_names(i, j, num_convs):
    """Conv/BN name suffixes of the path from 0-based branch j to branch i."""
    base = f"b{j + 1}_to_b{i + 1}"
    return [(f"{base}_conv{k + 1}", f"{base}_bn{k + 1}") for k in range(num_convs)]


def fusion_conv_costs(prefix, widths, res, outputs=None):
    """Convs of one module's multi-resolution fusion (see the module docstring)."""
    layers = []
    n = len(widths)
    for i in outputs if outputs is not None else range(n):
        for j in range(n):
            if j > i:
                (conv, _), = fusion_layer_names(i, j, 1)
                layers.append(cost_lib.ConvCost(f"{prefix}_{conv}", widths[j], widths[i], 1, 1, res(j + 1), norm_params=2 * widths[i]))
            elif j < i:
                names = fusion_layer_names(i, j, i - j)
                for k, (conv, _) in enumerate(names):
                    out = widths[i] if k == len(names) - 1 else widths[j]
                    layers.append(
                        cost_lib.ConvCost(f"{prefix}_{conv}", widths[j], out, 3, 1, res(j + k + 2), norm_params=2 * out)
                    )
    return layers


def _branch(depth, widths, stage, branch):
    return StageSpace(
        depth=tuple(range(depth[0], depth[1] + 1)),
        width=tuple(widths),
        expansion=(1,),
        kernel=(3,),
        attention=(False, True),
        stride=1,
        activation="relu",
        label=f"stage {stage} branch {branch}",
    )


# Width choices per branch (Table A3 ranges, 4 values each).
BRANCH_WIDTHS = (
    (8, 16, 24, 32),
    (16, 32, 48, 64),
    (32, 64, 96, 128),
    (64, 128, 192, 256),
)
STAGE_DEPTHS = {2: (4, 4), 3: (8, 16), 4: (8, 12)}

HRNET_W32_SPACE = register_space(
    HRNetSpace(
        name="hrnet_w32",
        stem_width=(16, 32, 48, 64),
        stem_kernel=(3,),
        stages=(
            StageSpace(
                depth=(2, 3, 4),
                width=tuple(BOTTLENECK_EXPANSION * m for m in (16, 32, 48, 64)),
                expansion=(BOTTLENECK_EXPANSION,),
                kernel=(3,),
                attention=(False, True),
                stride=1,
                activation="relu",
                label="stage 1",
            ),
            *(
                _branch(STAGE_DEPTHS[stage], BRANCH_WIDTHS[branch - 1], stage, branch)
                for stage, branch in STAGE_BRANCHES[1:]
            ),
        ),
        head=HeadSpace(width=(0,), kernel=1, num_layers=0),
    )
)


def _hrnet_w32():
    """HRNet-W32 (Sun et al. 2019; mmpose `hrnet_w32_coco_256x192`): the space's max
    without SE."""
    arch = HRNET_W32_SPACE.max()
    return dataclasses.replace(arch, stages=tuple(dataclasses.replace(s, attention=False) for s in arch.stages))


HRNET_W32 = register_preset(
    Preset(
        "hrnet_w32",
        _hrnet_w32(),
        True,
        "HRNet-W32 (Sun et al. 2019): the biggest network of the hrnet_w32 space without SE",
    )
)
