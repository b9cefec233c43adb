"""The dense-conv extension of the MobileNetV3 and ResNet-50 spaces (beyond the paper,
off by default): groups = 1 is a choice of every stage's searched conv in
`mobilenetv3_dense` / `resnet50_dense` and of none in the paper's spaces; a dense
choice costs k*k*C*C MACs per output pixel (paper GFLOPs: MACs / 2^30), sizes the
super-network's kernels to the full width, builds, and converts to TFLite with the
export lowering (output parity with the Keras model)."""
import dataclasses

import numpy as np
import pytest

from vipnas_tf.arch import arch_cost, get_space
from vipnas_tf.export.lowering import deployed
from vipnas_tf.models.static_builders import build_static
from vipnas_tf.models.supernet import max_in_per_group
from vipnas_tf.testing.weights import randomize_weights

from tests.testcase import run_tflite_parity_test

SIZE = (64, 64)
PAIRS = [("mobilenetv3", "mobilenetv3_dense", "mid_conv"), ("resnet50", "resnet50_dense", "conv2")]


def _dense_stage(space_name, stage_index=1):
    """The space's smallest network with stage `stage_index` dense."""
    space = get_space(space_name)
    arch = space.min()
    stages = list(arch.stages)
    stages[stage_index] = dataclasses.replace(stages[stage_index], groups=1)
    arch = dataclasses.replace(arch, stages=tuple(stages))
    space.validate(arch)
    return arch


@pytest.mark.parametrize("paper,dense,_", PAIRS)
def test_dense_choice_only_in_the_extended_space(paper, dense, _):
    paper_space, dense_space = get_space(paper), get_space(dense)
    assert not paper_space.allow_dense and dense_space.allow_dense
    arch = _dense_stage(dense)
    with pytest.raises(ValueError, match="groups=1 is outside the search space"):
        paper_space.validate(dataclasses.replace(arch, space=paper))
    for i, sp in enumerate(dense_space.stages):
        probe = dataclasses.replace(dense_space.max().stages[i], width=sp.width[0])
        in_ch = dense_space.stem_width[0]
        assert dense_space.group_choices(i, probe, in_ch) == (1,) + paper_space.group_choices(i, probe, in_ch)
    assert dense_space.max().stages[2].groups == 1  # the biggest network is dense everywhere


@pytest.mark.parametrize("paper,dense,conv", PAIRS)
def test_dense_choice_costs_a_full_conv(paper, dense, conv):
    arch = _dense_stage(dense)
    grouped = dataclasses.replace(arch, space=paper, stages=get_space(paper).min().stages)
    model = build_static(arch, SIZE)
    layer = model.get_layer(f"stage2_block1_{conv}")
    k, _, in_per_group, out = layer.kernel.shape
    mid = int(layer.input.shape[-1])
    assert (in_per_group, out) == (mid, mid)  # dense: every input channel feeds every output
    h, w = layer.output.shape[1:3]
    extra = h * w * k * k * mid * mid - h * w * k * k * (mid // get_space(paper).min().stages[1].groups) * mid
    ca, cg = arch_cost(arch, SIZE), arch_cost(grouped, SIZE)
    assert ca.macs - cg.macs == extra * arch.stages[1].depth and extra > 0
    assert ca.paper_gflops == pytest.approx(cg.paper_gflops + extra * arch.stages[1].depth / 2**30)
    space = get_space(dense)
    in_widths = space.stem_width if space.family == "resnet" else (space.stem_width[0],)
    widest = max(space.mid_channels(1, dataclasses.replace(arch.stages[1], width=w, expansion=e), 0)
                 for w in space.stages[1].width for e in space.stages[1].expansion)
    assert max_in_per_group(space, 1, lambda w, e: space.mid_channels(1, dataclasses.replace(
        arch.stages[1], width=w, expansion=e), 0), in_widths) == widest  # super-network kernels: full width


@pytest.mark.slow
def test_dense_choice_converts_with_the_export_lowering():
    """MobileNetV3's middle conv goes through the grouped-conv lowering; a dense one must
    come out right too. (The ResNet dense conv is a plain conv; its latency unit is
    converted in tests/search/test_latency.py.)"""
    arch = _dense_stage("mobilenetv3_dense")
    model = randomize_weights(build_static(arch, SIZE), seed=3)
    x = np.random.default_rng(0).standard_normal((1,) + SIZE + (3,)).astype(np.float32)
    run_tflite_parity_test(model, x, flatbuffer=deployed.convert(model, "float32"), relative_atol=1e-4,
                           min_peak=1e-3)
