import numpy as np
import pytest
import tensorflow as tf

from vipnas_tf.blocks.elastic_hr_fusion import ElasticHRFusion
from tests.testcase import run_serialization_test
from vipnas_tf.models.static_hrnet import fusion

MAX_WIDTHS = (32, 64, 128)


def _inputs(widths, rng, size=16):
    return [rng.normal(size=(2, size >> b, size >> b, w)).astype("float32") for b, w in enumerate(widths)]


def test_config_round_trip_and_layer_names():
    fuse = ElasticHRFusion(MAX_WIDTHS, outputs=(0,), name="stage3_module4_fuse")
    xs = _inputs((16, 32, 64), np.random.default_rng(0), size=8)
    assert run_serialization_test(fuse, xs, dict(widths=[16, 32, 64])).outputs == (0,)
    names = sorted(l.name for l in fuse._flatten_layers(include_self=False) if "conv" in l.name)
    assert names == ["stage3_module4_fuse_b2_to_b1_conv1", "stage3_module4_fuse_b3_to_b1_conv1"]
    full = ElasticHRFusion(MAX_WIDTHS, name="f")
    assert len([l for l in full._flatten_layers(include_self=False) if "conv" in l.name]) == 3 + 4  # up: 3 paths of one 1x1 conv; down: b1->b2 1, b1->b3 2, b2->b3 1


def test_matches_static_twin_at_active_widths(twin, randomized, diff):
    fuse = randomized(ElasticHRFusion(MAX_WIDTHS, name="stage3_module1_fuse"))
    rng = np.random.default_rng(0)
    traces = []

    spec = [tf.TensorSpec((2, 16 >> b, 16 >> b, None)) for b in range(3)]  # dynamic widths, as in the supernet

    @tf.function(input_signature=[spec, tf.TensorSpec((3,), tf.int32)])
    def run(xs, widths):
        traces.append(1)
        return fuse(xs, widths=list(tf.unstack(widths)), training=False)

    for widths in ((24, 48, 96), (32, 64, 128), (8, 16, 32)):
        xs = _inputs(widths, rng)
        static = twin(fuse, lambda ts: fusion(ts, "stage3_module1_fuse"), [x.shape[1:] for x in xs])
        ys = run(xs, tf.constant(widths))
        for y, y_static, x in zip(ys, static(xs), xs):
            assert y.shape == x.shape  # each output keeps its branch's resolution and width
            assert diff(y, y_static) <= 1e-4
    assert len(traces) == 1


def test_output_subset(randomized, diff):
    fuse = randomized(ElasticHRFusion(MAX_WIDTHS, name="f"))
    xs = _inputs((32, 64, 128), np.random.default_rng(1))
    all_outputs = fuse(xs)
    (second,) = fuse(xs, outputs=[1])
    assert diff(second, all_outputs[1]) == 0
    only_first = ElasticHRFusion(MAX_WIDTHS, outputs=(0,), name="g")
    with pytest.raises(ValueError, match="output 2 was not built"):
        only_first(xs, outputs=[2])
