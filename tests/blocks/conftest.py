"""Helpers for the elastic block tests: a static twin filled from an elastic block."""
import keras
import numpy as np
import pytest

from vipnas_tf.layers.common import split_static_name
from vipnas_tf.testing.weights import randomize_weights


def static_twin(elastic, build_fn, input_shapes):
    """Functional model `build_fn(inputs)` whose weights are sliced from `elastic`
    (matched by layer name, as `SuperNetwork.extract` does)."""
    inputs = [keras.Input(s) for s in input_shapes]
    inputs = inputs if len(inputs) > 1 else inputs[0]
    model = keras.Model(inputs, build_fn(inputs))
    by_name = {l.name: l for l in elastic._flatten_layers(include_self=True, recursive=True)}
    for layer in model.layers:
        if layer.weights:
            base, part = split_static_name(layer.name)
            layer.set_weights(by_name[base].export_weights(layer, part))
    return model


@pytest.fixture
def twin():
    return static_twin


@pytest.fixture
def randomized():
    """Builds a layer's weights and randomises them (BN away from identity)."""

    def make(layer, seed=0):
        layer.build(None)
        return randomize_weights(layer, seed)

    return make


def max_abs_diff(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b)))


@pytest.fixture
def diff():
    return max_abs_diff
