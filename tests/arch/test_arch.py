import json

import numpy as np
import pytest

from vipnas_tf.arch import Arch, get_space, list_spaces, parse_arch, resolve_arch
from vipnas_tf.arch.arch import load_arch, save_arch
from vipnas_tf.arch.presets import PRESETS, list_presets

SPACES = ["mobilenetv3", "resnet50"]


@pytest.mark.parametrize("name", list_presets())
def test_preset_round_trips_through_string_and_dict(name):
    arch = PRESETS[name].arch
    assert parse_arch(arch.to_string()) == arch
    assert Arch.from_dict(json.loads(arch.to_json())) == arch


@pytest.mark.parametrize("space_name", SPACES)
def test_samples_are_valid_and_encode_round_trip(space_name):
    space = get_space(space_name)
    rng = np.random.default_rng(0)
    for arch in [space.max(), space.min(), *space.sample(rng, 30)]:
        space.validate(arch)
        assert space.decode(space.encode(arch)) == arch
        assert parse_arch(arch.to_string()) == arch


@pytest.mark.parametrize("space_name", SPACES)
def test_sampling_is_deterministic_and_varied(space_name):
    space = get_space(space_name)
    a = space.sample(np.random.default_rng(7), 10)
    b = space.sample(np.random.default_rng(7), 10)
    assert a == b
    assert len({x.to_string() for x in a}) > 5


@pytest.mark.parametrize("space_name", SPACES)
def test_mutation_and_crossover_stay_in_space(space_name):
    space = get_space(space_name)
    rng = np.random.default_rng(1)
    parents = space.sample(rng, 2)
    for _ in range(30):
        space.validate(space.mutate(parents[0], rng, prob=0.5))
        space.validate(space.crossover(*parents, rng))


def test_max_is_biggest_min_is_smallest():
    space = get_space("resnet50")
    mx, mn = space.max(), space.min()
    assert [s.depth for s in mx.stages] == [4, 6, 8, 4]
    assert [s.width for s in mn.stages] == [64, 128, 256, 512]
    assert all(s.attention for s in mx.stages) and not any(s.attention for s in mn.stages)
    assert all(s.groups == 16 for s in mx.stages)  # fewest groups = most compute


def test_mobilenetv3_group_ranges_match_table_a1():
    space = get_space("mobilenetv3")
    # Table A1 group ranges: stage 1 [2,16], 2 [9,144], 3 [15,240], 4 [30,480], 5 [42,672], 6 [60,960]
    expected = [(2, 16), (9, 144), (15, 240), (30, 480), (42, 672), (60, 960)]
    for i, (lo, hi) in enumerate(expected):
        sp = space.stages[i]
        allowed = set()
        for e in sp.expansion:
            s = space.max().stages[i].__class__(1, sp.width[0], e, 3, 1, False)
            allowed |= set(space.group_choices(i, s, 16))
        assert (min(allowed), max(allowed)) == (lo, hi)


def test_out_of_space_value_names_field_stage_value_and_range():
    space = get_space("resnet50")
    bad = space.max().replace_stage(2, kernel=7)
    with pytest.raises(ValueError, match=r"resnet50 stage 3: kernel=7 .*allowed: \{3, 5\}"):
        space.validate(bad)
    bad = space.max().replace_stage(0, width=96)
    with pytest.raises(ValueError, match=r"stage 1: width=96 .*allowed: \{64, 80\}"):
        space.validate(bad)
    bad = space.max().replace_stage(3, groups=24)
    with pytest.raises(ValueError, match=r"stage 4: groups=24 .*allowed"):
        space.validate(bad)


def test_wrong_number_of_stages():
    space = get_space("mobilenetv3")
    arch = space.max()
    short = Arch(arch.space, arch.stem, arch.stages[:4], arch.head)
    with pytest.raises(ValueError, match="wrong number of stages: got 4, the space has 6"):
        space.validate(short)


def test_unknown_preset_lists_presets():
    with pytest.raises(ValueError, match="s_vipnas_mbv3.*sbl_res50"):
        resolve_arch("no_such_net")
    with pytest.raises(ValueError, match="unknown search space 'nope'.*mobilenetv3"):
        get_space("nope")


def test_malformed_json_names_file_and_position(tmp_path):
    p = tmp_path / "arch.json"
    p.write_text('{"space": "resnet50",\n "stem": {"width": 48 "kernel": 7}}')
    with pytest.raises(ValueError, match=r"arch\.json.*line 2, column"):
        resolve_arch(str(p))


def test_json_missing_key_is_named(tmp_path):
    p = tmp_path / "a.json"
    d = PRESETS["s_vipnas_res50"].arch.to_dict()
    del d["head"]
    p.write_text(json.dumps(d))
    with pytest.raises(ValueError, match="missing key 'head'"):
        load_arch(p)


def test_save_and_load(tmp_path):
    arch = PRESETS["s_vipnas_mbv3"].arch
    save_arch(arch, tmp_path / "best_arch.json", extra={"ap": 0.5})
    assert resolve_arch(str(tmp_path / "best_arch.json")) == arch


def test_bad_string_token_is_named():
    with pytest.raises(ValueError, match="bad token for stage 2"):
        parse_arch("resnet50/stem_c48_k7/d4_c80_e1_k3_g16/oops/head_c144_g16")


def test_spaces_registered():
    assert {"mobilenetv3", "resnet50"} <= set(list_spaces())


def test_symmetric_padding_round_trips_and_is_the_super_networks_choice():
    import dataclasses

    from vipnas_tf.arch import arch_cost
    from vipnas_tf.arch.space import check_supernet_padding

    base = PRESETS["s_vipnas_res50"].arch
    arch = dataclasses.replace(base, padding="symmetric")
    text = arch.to_string()
    assert text == base.to_string() + "/pad_symmetric" and "pad_" not in base.to_string()
    assert parse_arch(text) == arch and Arch.from_dict(json.loads(arch.to_json())) == arch
    assert "padding" not in base.to_dict()
    assert arch_cost(arch).macs == arch_cost(base).macs  # padding changes no size
    space = get_space("resnet50")
    assert space.encode(arch).tolist() == space.encode(base).tolist()  # the padding is the network's
    assert space.decode(space.encode(arch), padding="symmetric") == arch
    check_supernet_padding(arch, "symmetric")
    with pytest.raises(ValueError, match="padding='symmetric', but this super-network was built with "
                                         "padding='same'"):
        check_supernet_padding(arch)
    with pytest.raises(ValueError, match="bad padding token 'pad_reflect'"):
        parse_arch(base.to_string() + "/pad_reflect")
    with pytest.raises(ValueError, match="padding"):
        Arch.from_dict(dict(base.to_dict(), padding="valid"))


def test_quickstart_space_is_a_sub_space_of_table_a1():
    """Every network of mobilenetv3_quick is a network of Table A1's space, and the quick
    space's ends are a real range (its biggest more than 3x its smallest at 64x64)."""
    import dataclasses

    from vipnas_tf.arch import arch_cost

    quick, full = get_space("mobilenetv3_quick"), get_space("mobilenetv3")
    rng = np.random.default_rng(0)
    for arch in [quick.max(), quick.min(), *quick.sample(rng, 30)]:
        quick.validate(arch)
        full.validate(dataclasses.replace(arch, space="mobilenetv3"))
    lo, hi = (float(arch_cost(a, (64, 64)).paper_gflops) for a in (quick.min(), quick.max()))
    assert hi > 3 * lo and quick.min() == dataclasses.replace(full.min(), space="mobilenetv3_quick")
