"""Shared pytest fixtures. Tests run Keras 3 on the TensorFlow backend, on the CPU."""
import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

import pytest  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
# ../shared/data beside the checkout; VIPNAS_SHARED_DATA names it for a checkout elsewhere.
SHARED_DATA = pathlib.Path(os.environ.get("VIPNAS_SHARED_DATA") or REPO_ROOT.parent / "shared" / "data")


@pytest.fixture(scope="session")
def shared_data():
    """Path to ../shared/data (real COCO / PoseTrack samples); skips if absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared sample data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def repo_root():
    return REPO_ROOT
