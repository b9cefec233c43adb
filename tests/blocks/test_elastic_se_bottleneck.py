import numpy as np
import tensorflow as tf

from vipnas_tf.arch.arch import StageArch
from vipnas_tf.blocks.elastic_se_bottleneck import ElasticSEBottleneck
from tests.testcase import run_serialization_test
from vipnas_tf.models.static_hrnet import bottleneck


def test_config_round_trip():
    block = ElasticSEBottleneck(64, 256, 64, 3, 64, has_downsample=True, name="b")
    config = block.get_config()
    assert config["has_se"] and "has_gc" not in config
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 48)).astype("float32")
    clone = run_serialization_test(block, x, dict(width=128, mid=32, kernel=3, groups=8, attention=1))
    assert clone.gc is None and clone.se is not None and clone.has_downsample


def test_matches_static_twin(twin, randomized, diff):
    block = randomized(ElasticSEBottleneck(64, 256, 64, 3, 64, has_downsample=True, name="stage1_block1"))
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 48)).astype("float32")  # stem width 48
    run = tf.function(lambda x, w, g, a: block(x, width=w, mid=w // 4, kernel=3, groups=g, attention=a))
    for width, groups, attention in ((128, 8, True), (256, 1, False)):
        arch = StageArch(1, width, 4, 3, groups, attention)
        static = twin(block, lambda t: bottleneck(t, arch, "stage1_block1", downsample=True), [(8, 8, 48)])
        assert diff(run(x, tf.constant(width), tf.constant(groups), tf.constant(int(attention))), static(x)) <= 1e-4
