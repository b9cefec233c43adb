"""FrameArch values, the temporal space (bounded by S-ViPNet), encoding and costs."""
import numpy as np
import pytest
import tensorflow as tf

from tests.models.test_presets_smoke import _keras_counts
from vipnas_tf.arch import arch_cost, get_space
from vipnas_tf.temporal.frame_arch import (
    FrameArch,
    TemporalSpace,
    describe_frame,
    frame_cost,
    fusion_conv_costs,
    fusion_stages,
    parse_frame_arch,
)
from vipnas_tf.temporal.supernet import build_static_frame

SPACES = ["mobilenetv3", "resnet50", "hrnet_w32"]


def test_fusion_stages_per_family():
    mb = fusion_stages("mobilenetv3")
    assert [s.stride for s in mb] == [2, 4, 8, 16, 16, 32]
    assert [s.widths for s in mb][1] == (24,)
    rn = fusion_stages("resnet50")
    assert [s.stride for s in rn] == [4, 8, 16, 32] and rn[3].widths[0] == 512
    hr = fusion_stages("hrnet_w32")
    assert len(hr) == 4 and {s.stride for s in hr} == {4} and hr[1].widths == (8, 16, 24, 32)


@pytest.mark.parametrize("name", SPACES)
def test_round_trips_and_encoding(name):
    ts = TemporalSpace(name)
    rng = np.random.default_rng(0)
    for fa in [ts.max(), ts.min(), ts.max(rng), *ts.sample(rng, 10)]:
        ts.validate(fa)
        assert parse_frame_arch(fa.to_string()) == fa
        assert FrameArch.from_dict(fa.to_dict()) == fa
        v = ts.encode(fa)
        assert v.dtype == np.int32 and v.shape == (ts.encoding_size,)
        assert ts.decode(v) == fa
    assert "|fuse_" in ts.max().to_string()


def test_string_form_and_errors():
    fa = FrameArch(get_space("mobilenetv3").min(), "cat", 3)
    assert fa.to_string().endswith("|fuse_cat_s3")
    with pytest.raises(ValueError, match="bad fusion token 'fuse_sub_s3'"):
        parse_frame_arch(fa.spatial.to_string() + "|fuse_sub_s3")
    with pytest.raises(ValueError, match="expected '<arch>|fuse_<op>_s<stage>'"):
        parse_frame_arch(fa.spatial.to_string())
    with pytest.raises(ValueError, match="fusion_stage=7 is outside the space"):
        TemporalSpace("mobilenetv3").validate(FrameArch(fa.spatial, "add", 7))
    with pytest.raises(ValueError, match="key 'fusion_op'"):
        FrameArch.from_dict({"arch": fa.spatial.to_string(), "fusion_op": "max", "fusion_stage": 1})
    with pytest.raises(ValueError, match="missing key 'fusion_stage'"):
        FrameArch.from_dict({"arch": fa.spatial.to_string(), "fusion_op": "add"})


@pytest.mark.parametrize("name", SPACES)
def test_bounded_space_stays_under_the_s_vipnet(name):
    space = get_space(name)
    rng = np.random.default_rng(3)
    bound = space.sample(rng)
    ts = TemporalSpace(space, max_arch=bound)
    assert ts.max().spatial == bound and ts.max(rng).spatial == bound
    bound_macs = arch_cost(bound).macs
    seen_ops, seen_stages = set(), set()
    for _ in range(40):
        fa = ts.sample(rng)
        ts.validate(fa)
        assert arch_cost(fa.spatial).macs <= bound_macs
        ts.validate(ts.mutate(fa, rng, 0.5))
        ts.validate(ts.crossover(fa, ts.sample(rng), rng))
        seen_ops.add(fa.fusion_op)
        seen_stages.add(fa.fusion_stage)
    assert seen_ops == {"add", "mul", "cat"} and len(seen_stages) == len(ts.fusion_stages)
    with pytest.raises(ValueError, match="bigger than the temporal space's bound"):
        ts.validate(TemporalSpace(space).max())


def test_fusion_cost_by_hand():
    arch = get_space("mobilenetv3").max()
    add, cat = FrameArch(arch, "add", 3), FrameArch(arch, "cat", 3)
    conv1, conv2 = fusion_conv_costs(cat, (256, 192))
    # 17 -> 40 at 64x48 (heatmaps), then 80 -> 40 at 32x24 (stage 3, stride 8)
    assert conv1.macs == 64 * 48 * 17 * 40 and conv2.macs == 32 * 24 * 80 * 40
    assert frame_cost(cat, (256, 192)).macs - frame_cost(add, (256, 192)).macs == 32 * 24 * 40 * 40
    assert frame_cost(add).params == arch_cost(arch).params + (17 * 40 + 40) + (40 * 40 + 40)
    d = describe_frame(cat.to_string())
    assert d["fusion_op"] == "cat" and d["fusion_stage"] == 3 and d["paper_gflops"] > arch_cost(arch).paper_gflops


@pytest.mark.parametrize("name", SPACES)
@pytest.mark.slow
def test_cost_matches_the_static_model(name):
    """frame_cost's MACs and params = those counted from the static two-input model."""
    ts = TemporalSpace(name)
    rng = np.random.default_rng(1)
    archs = [ts.sample(rng)] if name == "hrnet_w32" else [ts.max(), ts.min(), ts.sample(rng)]  # HRNet builds slowly
    for fa in archs:
        model = build_static_frame(fa, (64, 64))
        y = model({"image": tf.zeros([1, 64, 64, 3]), "prev_heatmaps": tf.zeros([1, 16, 16, 17])})
        assert y.shape == (1, 16, 16, 17)
        macs, params = _keras_counts(model)
        cost = frame_cost(fa, (64, 64))
        assert (macs, params) == (cost.macs, cost.params), fa.to_string()
