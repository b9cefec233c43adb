import numpy as np
import tensorflow as tf

from vipnas_tf.arch.arch import StageArch
from vipnas_tf.blocks.elastic_basic_block import ElasticBasicBlock
from tests.testcase import run_serialization_test
from vipnas_tf.models.static_hrnet import basic_block


def test_config_round_trip():
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 16)).astype("float32")
    clone = run_serialization_test(ElasticBasicBlock(32, 3, 16, has_se=False, name="b"), x,
                                   dict(width=16, kernel=3, groups=2, attention=0))
    assert clone.se is None and clone.conv1.max_in_per_group == 16


def test_matches_static_twin_and_traces_once(twin, randomized, diff):
    block = randomized(ElasticBasicBlock(32, name="stage2_branch1_block1"))
    rng = np.random.default_rng(0)
    traces = []

    # Inside the super-network the block's input channels are dynamic (sliced by a
    # tensor), hence None here.
    scalar = tf.TensorSpec((), tf.int32)

    @tf.function(input_signature=[tf.TensorSpec((2, 8, 6, None)), scalar, scalar, scalar])
    def run(x, width, groups, attention):
        traces.append(1)
        return block(x, width=width, kernel=3, groups=groups, attention=attention, training=False)

    for width, groups, attention in ((24, 4, True), (32, 32, False), (8, 1, True)):
        x = rng.normal(size=(2, 8, 6, width)).astype("float32")
        arch = StageArch(1, width, 1, 3, groups, attention)
        static = twin(block, lambda t: basic_block(t, arch, "stage2_branch1_block1"), [(8, 6, width)])
        y = run(x, tf.constant(width), tf.constant(groups), tf.constant(int(attention)))
        assert y.shape == (2, 8, 6, width)
        assert diff(y, static(x)) <= 1e-4
    assert len(traces) == 1


def test_attention_switch(randomized):
    block = randomized(ElasticBasicBlock(16, name="b"))
    x = np.random.default_rng(1).normal(size=(1, 4, 4, 16)).astype("float32")
    with_se, without = (block(x, width=16, attention=a) for a in (1, 0))
    assert np.max(np.abs(np.asarray(with_se) - np.asarray(without))) > 1e-3
