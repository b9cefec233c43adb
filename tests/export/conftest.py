"""Session-scoped tiny models for the export tests (conversions are slow)."""
import pytest

from tiny_models import build_tiny_pose_model


@pytest.fixture(scope="session")
def tiny_model():
    return build_tiny_pose_model()


@pytest.fixture(scope="session")
def tiny_temporal_model():
    return build_tiny_pose_model(with_prev_heatmaps=True, seed=1)


@pytest.fixture(scope="session")
def synthetic_coco(tmp_path_factory):
    """A small synthetic COCO set: (train_ann, train_images, val_ann, val_images)."""
    from vipnas_tf.data.synthetic import generate

    root = tmp_path_factory.mktemp("synthetic_export")
    generate(root, images=48, clips=2, frames=2, seed=5, val_fraction=0.25, workers=1, progress=False)
    coco = root / "coco"
    return (str(coco / "annotations" / "person_keypoints_train.json"), str(coco / "images" / "train"),
            str(coco / "annotations" / "person_keypoints_val.json"), str(coco / "images" / "val"))
