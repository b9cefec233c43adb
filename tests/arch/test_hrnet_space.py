"""The HRNet-W32 search space (Table A3): data, tying of stage depths, costs, errors."""
import dataclasses

import numpy as np
import pytest

from vipnas_tf.arch import describe, get_space, list_spaces, parse_arch, resolve_arch
from vipnas_tf.arch.arch import Arch
from vipnas_tf.arch.describe import arch_cost, conv_costs
from vipnas_tf.arch.hrnet_space import STAGE_BRANCHES, num_modules, stage_entries
from vipnas_tf.arch.presets import get_preset


@pytest.fixture(scope="module")
def space():
    return get_space("hrnet_w32")


def test_registered_with_preset():
    assert "hrnet_w32" in list_spaces()
    assert get_space("hrnet_w32").family == "hrnet"
    assert get_preset("hrnet_w32").in_space


def test_table_a3_ranges(space):
    assert space.stem_width == (16, 32, 48, 64) and space.stem_kernel == (3,)
    labels = [sp.label for sp in space.stages]
    assert labels[0] == "stage 1" and labels[5] == "stage 3 branch 3" and labels[-1] == "stage 4 branch 4"
    # stage 1: Table A3's [16, 64] is the bottleneck mid width = width // 4
    s1 = space.stages[0]
    assert [w // e for w in s1.width for e in s1.expansion] == [16, 32, 48, 64]
    assert s1.depth == (2, 3, 4)
    for i, (stage, branch) in enumerate(STAGE_BRANCHES[1:], start=1):
        sp = space.stages[i]
        lo, hi = 8 * 2 ** (branch - 1), 32 * 2 ** (branch - 1)
        assert (min(sp.width), max(sp.width)) == (lo, hi), sp.label
        assert (min(sp.depth), max(sp.depth)) == {2: (4, 4), 3: (8, 16), 4: (8, 12)}[stage]
        assert sp.kernel == (3,) and sp.attention == (False, True)
        # groups up to depthwise at the biggest width (Table A3's [1, W])
        big = space.max().stages[i]
        assert space.group_choices(i, big, big.width)[-1] == hi
    assert space.group_choices(0, space.max().stages[0], 64) == (1, 2, 4, 8, 16)


def test_hrnet_w32_is_the_biggest_network_without_se(space):
    preset = resolve_arch("hrnet_w32")
    biggest = space.max()
    assert all(s.attention for s in biggest.stages)
    assert preset == dataclasses.replace(
        biggest, stages=tuple(dataclasses.replace(s, attention=False) for s in biggest.stages)
    )
    assert [preset.stages[i].width for i in stage_entries(4)] == [32, 64, 128, 256]
    assert preset.stages[0].width == 256 and preset.stem.width == 64
    assert [preset.stages[stage_entries(s)[0]].depth for s in (2, 3, 4)] == [4, 16, 12]


def test_describe_matches_paper_figures():
    d = describe("hrnet_w32")
    assert d["in_space"] and d["preset"] == "hrnet_w32"
    assert abs(d["paper_gflops"] - 7.10) / 7.10 < 0.03, d
    assert abs(d["params"] - 28.5e6) / 28.5e6 < 0.03, d


def test_layer_list_of_hrnet_w32():
    layers = conv_costs(resolve_arch("hrnet_w32"))
    names = [l.name for l in layers]
    assert len(names) == len(set(names))
    # transitions only where the width changes (2 into stage 2, 1 new branch each later)
    assert sorted(n for n in names if n.startswith("transition")) == [
        "transition2_branch1_conv", "transition2_branch2_conv", "transition3_branch3_conv", "transition4_branch4_conv",
    ]
    # 1 + 4 + 3 modules; the last one of stage 4 fuses into branch 1 only
    fuse_modules = {n.split("_fuse")[0] for n in names if "_fuse" in n}
    assert len(fuse_modules) == 8
    assert sorted(n for n in names if n.startswith("stage4_module3")) == [
        "stage4_module3_fuse_b2_to_b1_conv1", "stage4_module3_fuse_b3_to_b1_conv1", "stage4_module3_fuse_b4_to_b1_conv1",
    ]
    # 3 stride-2 convs from branch 1 to branch 4 (the last one changes width)
    chain = [l for l in layers if l.name.startswith("stage4_module1_fuse_b1_to_b4")]
    assert [(l.in_channels, l.out_channels, l.out_hw) for l in chain] == [(32, 32, (32, 24)), (32, 32, (16, 12)), (32, 256, (8, 6))]
    assert sum(n.endswith("_conv1") and "_branch" in n and n.startswith("stage3") for n in names) == 3 * 16
    assert layers[-1].name == "head_final_conv" and layers[-1].out_hw == (64, 48) and layers[-1].in_channels == 32


def test_depth_maps_to_modules_of_four(space):
    assert [num_modules(d) for d in (4, 8, 9, 12, 13, 16)] == [1, 2, 3, 3, 4, 4]
    arch = space.max()
    for depth, modules in ((9, 3), (8, 2)):
        shallow = arch
        for i in stage_entries(3):
            shallow = shallow.replace_stage(i, depth=depth)
        names = {l.name.split("_fuse")[0] for l in conv_costs(shallow, (64, 64)) if l.name.startswith("stage3_module")}
        assert len(names) == modules


def test_transition_follows_width_change(space):
    arch = space.max()
    names = lambda a: {l.name for l in conv_costs(a, (64, 64))}  # noqa: E731
    assert "transition3_branch1_conv" not in names(arch)
    assert "transition3_branch1_conv" in names(arch.replace_stage(stage_entries(3)[0], width=16))


def test_sampling_ties_stage_depths_and_round_trips(space):
    rng = np.random.default_rng(0)
    archs = space.sample(rng, 40)
    archs += [space.mutate(a, rng, prob=0.5) for a in archs[:20]]
    archs += [space.crossover(a, b, rng) for a, b in zip(archs[:10], archs[10:20])]
    for a in archs:
        space.validate(a)
        for stage in (2, 3, 4):
            assert len({a.stages[i].depth for i in stage_entries(stage)}) == 1
        assert space.decode(space.encode(a)) == a
        assert parse_arch(a.to_string()) == a
        assert Arch.from_dict(a.to_dict()) == a
    assert len({a.stages[stage_entries(3)[0]].depth for a in archs}) > 4  # depth really varies
    cost = lambda a: arch_cost(a).paper_gflops  # noqa: E731
    assert cost(space.min()) < min(cost(a) for a in archs) <= max(cost(a) for a in archs) < cost(space.max())


@pytest.mark.parametrize(
    "index, change, expected",
    [
        (4, dict(width=40), ["stage 3 branch 2", "width=40", "allowed: {16, 32, 48, 64}"]),
        (8, dict(width=100), ["stage 4 branch 3", "width=100", "allowed: {32, 64, 96, 128}"]),
        (2, dict(groups=3), ["stage 2 branch 2", "groups=3", "allowed: {1, 2, 4, 8, 16, 32, 64}"]),
        (0, dict(groups=32), ["stage 1", "groups=32", "allowed: {1, 2, 4, 8, 16}"]),
        (0, dict(width=64 * 3 + 1), ["stage 1", "width=193", "allowed: {64, 128, 192, 256}"]),
        (1, dict(kernel=5), ["stage 2 branch 1", "kernel=5", "allowed: {3}"]),
    ],
)
def test_bad_choice_names_field_stage_branch_value_and_range(space, index, change, expected):
    with pytest.raises(ValueError) as e:
        space.validate(space.max().replace_stage(index, **change))
    for text in expected:
        assert text in str(e.value)


def test_bad_depths(space):
    arch = space.max()
    too_deep = arch
    for i in stage_entries(4):
        too_deep = too_deep.replace_stage(i, depth=13)
    with pytest.raises(ValueError, match=r"stage 4 branch 1: depth=13 is outside the search space \(allowed: \[8, 12\] step 1\)"):
        space.validate(too_deep)
    with pytest.raises(ValueError, match=r"stage 3 branch 2: depth=9 differs from stage 3 branch 1's depth=16 .*allowed: \[8, 16\] step 1"):
        space.validate(arch.replace_stage(stage_entries(3)[1], depth=9))
    with pytest.raises(ValueError, match="wrong number of stages: got 9, the space has 10"):
        space.validate(dataclasses.replace(arch, stages=arch.stages[:-1]))
    with pytest.raises(ValueError, match="head: num_layers=3"):
        space.validate(dataclasses.replace(arch, head=dataclasses.replace(arch.head, num_layers=3)))
    with pytest.raises(ValueError, match="stem: width=24"):
        space.validate(dataclasses.replace(arch, stem=dataclasses.replace(arch.stem, width=24)))
