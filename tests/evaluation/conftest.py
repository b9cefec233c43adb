"""A small synthetic COCO + PoseTrack set, generated once per test session."""
import pytest


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory):
    from vipnas_tf.data.synthetic import generate

    root = tmp_path_factory.mktemp("synthetic")
    generate(root, images=16, clips=4, frames=5, seed=3, workers=1, progress=False)
    return root
