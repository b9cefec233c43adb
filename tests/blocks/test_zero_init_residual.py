"""Residual branches start at zero (zero-gamma last BN): a fresh block is the identity
(ReLU of the input for the post-activation ResNet/HRNet blocks), the option serialises,
and `zero_init_residual=False` keeps the ordinary gamma-1 start."""
import numpy as np
import pytest

from vipnas_tf.blocks.elastic_basic_block import ElasticBasicBlock
from vipnas_tf.blocks.elastic_bottleneck import ElasticBottleneck
from vipnas_tf.blocks.elastic_inverted_residual import ElasticInvertedResidual
from vipnas_tf.blocks.elastic_se_bottleneck import ElasticSEBottleneck

from tests.testcase import run_serialization_test

BLOCKS = {
    "inverted_residual": (lambda z: ElasticInvertedResidual(16, 16, 48, 5, 48, residual=True, activation="hswish",
                                                            zero_init_residual=z, name="ir"),
                          lambda x: x, dict(width=16, mid=48, kernel=5, groups=48, attention=1)),
    "bottleneck": (lambda z: ElasticBottleneck(16, 16, 8, 3, 8, zero_init_residual=z, name="bt"),
                   lambda x: np.maximum(x, 0), dict(width=16, mid=8, kernel=3, groups=1, attention=1)),
    "se_bottleneck": (lambda z: ElasticSEBottleneck(16, 16, 8, 3, 8, zero_init_residual=z, name="se"),
                      lambda x: np.maximum(x, 0), dict(width=16, mid=8, kernel=3, groups=2, attention=1)),
    "basic_block": (lambda z: ElasticBasicBlock(16, zero_init_residual=z, name="bb"),
                    lambda x: np.maximum(x, 0), dict(width=16, kernel=3, groups=4, attention=1)),
}


@pytest.mark.parametrize("kind", sorted(BLOCKS))
def test_fresh_block_is_identity_and_option_serialises(kind):
    make, identity, choices = BLOCKS[kind]
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 16)).astype("float32")
    block = make(True)
    for training in (False, True):
        y = np.asarray(block(x, training=training, **choices))
        np.testing.assert_allclose(y, identity(x), atol=1e-6)
    assert run_serialization_test(block, x, choices).get_config()["zero_init_residual"] is True
    # the ordinary start: the branch contributes from the first step
    plain = make(False)
    assert not np.allclose(np.asarray(plain(x, training=True, **choices)), identity(x), atol=1e-3)
    assert run_serialization_test(plain, x, choices).get_config()["zero_init_residual"] is False


def test_non_residual_inverted_residual_keeps_gamma_one():
    block = ElasticInvertedResidual(16, 24, 48, 3, 48, strides=2, residual=False, name="ir_down")
    block.build(None)
    np.testing.assert_array_equal(np.asarray(block.project_bn.gamma), np.ones(24, np.float32))
