"""Shared helper for layer tests: comparison with a static twin (the config and `.keras`
round trips are `tests.testcase.run_serialization_test`)."""
import numpy as np


def assert_close(a, b, atol=1e-5):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, atol=atol, rtol=0)
