"""Session-scoped tiny models for the export tests (conversions are slow)."""
import pytest

from tiny_models import build_tiny_pose_model


@pytest.fixture(scope="session")
def tiny_model():
    return build_tiny_pose_model()


@pytest.fixture(scope="session")
def tiny_temporal_model():
    return build_tiny_pose_model(with_prev_heatmaps=True, seed=1)
