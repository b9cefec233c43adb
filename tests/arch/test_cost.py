"""The cost model against the paper's figures and against built Keras models."""
import numpy as np
import pytest

from vipnas_tf.arch import arch_cost, get_space, resolve_arch
from vipnas_tf.arch.cost import parse_input_size
from vipnas_tf.arch.describe import describe

# (preset, paper GFLOPs, params in M), from the paper (Tables 1-2) and mmpose's configs.
PAPER = [
    ("s_vipnas_mbv3", 0.69, 5.90),
    ("s_vipnas_res50", 1.44, 7.29),
    ("sbl_res50", 8.99, 34.0),
]


@pytest.mark.parametrize("name,gflops,mparams", PAPER)
def test_presets_match_paper_within_3_percent(name, gflops, mparams):
    c = arch_cost(resolve_arch(name), (256, 192))
    assert abs(c.paper_gflops - gflops) / gflops <= 0.03
    assert abs(c.params / 1e6 - mparams) / mparams <= 0.03


def test_real_macs_match_facts_hand_counts():
    # Hand counts of the published architectures: conv+deconv MACs with deconvs at input resolution (1e9).
    for name, gmacs in [("s_vipnas_mbv3", 0.734), ("s_vipnas_res50", 1.463), ("sbl_res50", 5.43)]:
        assert abs(arch_cost(resolve_arch(name)).macs / 1e9 - gmacs) < 0.01


def test_cost_scales_with_input_area():
    arch = resolve_arch("s_vipnas_res50")
    big, small = arch_cost(arch, (256, 192)), arch_cost(arch, (128, 96))
    assert 3.5 < big.macs / small.macs <= 4.0
    assert big.params == small.params


def test_describe_reports_space_membership():
    assert describe("s_vipnas_mbv3")["in_space"] is True
    d = describe("sbl_res50")
    assert d["in_space"] is False and "stage 1" in d["outside_space"]


def test_bigger_choices_cost_more():
    space = get_space("mobilenetv3")
    assert arch_cost(space.max()).macs > arch_cost(space.min()).macs
    arch = space.max()
    assert arch_cost(arch.replace_stage(3, kernel=3)).macs < arch_cost(arch).macs


@pytest.mark.parametrize("bad", [(250, 192), (256, 0), "x"])
def test_bad_input_size(bad):
    with pytest.raises(ValueError, match="input_size"):
        arch_cost(resolve_arch("s_vipnas_mbv3"), bad)


def test_parse_input_size_forms_and_errors():
    """One parser for every CLI and loader: HxW text, H,W text and (H, W) pairs; a bad
    value is named in the error."""
    assert parse_input_size("256x192") == parse_input_size("256,192") == parse_input_size((256, 192)) == (256, 192)
    assert parse_input_size([64, 64]) == (64, 64)
    with pytest.raises(ValueError, match="'256by192'"):
        parse_input_size("256by192")
    with pytest.raises(ValueError, match="250x192.*multiples of 32"):
        parse_input_size("250x192")
    with pytest.raises(ValueError, match=r"\(64,\)"):
        parse_input_size((64,))
