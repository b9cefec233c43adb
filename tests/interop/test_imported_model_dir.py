"""An imported mmpose model directory where commands take a model directory: the deploy
commands read it (a .keras file to fine-tune), training takes it as `--init_from` and
`--key_model_dir` (the runs themselves: tests/training/test_static_init.py) and refuses
another architecture clearly."""
import pytest

from vipnas_tf.export.savedmodel_request import SavedModelRequest, run_savedmodel_export
from vipnas_tf.interop import mmpose as mm
from vipnas_tf.training.config import TrainConfig

torch = pytest.importorskip("torch", reason="the mmpose import tests need PyTorch (pip install -e '.[test]')")
from mmpose_twins import build_twin  # noqa: E402

SIZE = (64, 64)


@pytest.fixture(scope="module")
def imported_dir(tmp_path_factory):
    """A random-weight S-ViPNAS-MobileNetV3 twin saved as an mmpose 1.x checkpoint and imported at 64x64."""
    root = tmp_path_factory.mktemp("imported_small")
    torch.manual_seed(0)
    path = str(root / "s_vipnas_mbv3.pth")
    torch.save({"state_dict": build_twin("s_vipnas_mbv3").state_dict()}, path)
    model_dir = str(root / "model")
    mm.import_checkpoint(path, "s_vipnas_mbv3", model_dir, input_size=SIZE)
    return model_dir


def test_imported_dir_exports_a_keras_file(imported_dir, tmp_path):
    out = tmp_path / "imported.keras"
    summary = run_savedmodel_export(SavedModelRequest(model_dir=imported_dir, keras=str(out)))
    assert not summary["random_init"] and "pad_symmetric" in summary["arch"]
    assert summary["keras"]["path"] == str(out) and summary["keras"]["reload_max_abs_diff"] == 0.0
    assert summary["keras"]["inputs"] == [[None, *SIZE, 3]]
    assert "path" not in summary  # no --output: no SavedModel
    with pytest.raises(ValueError, match="exists.*--overwrite"):
        run_savedmodel_export(SavedModelRequest(model_dir=imported_dir, keras=str(out)))


@pytest.mark.parametrize("mode,flag", [("standalone", "init_from"), ("temporal", "key_model_dir")])
def test_training_flags_take_an_imported_dir(imported_dir, tmp_path, mode, flag):
    ann = tmp_path / "ann.json"
    ann.write_text("{}")
    config = TrainConfig(mode=mode, arch="s_vipnas_mbv3", input_size=SIZE, train_steps=1, eval_every=-1,
                         train_ann=str(ann), train_images=str(tmp_path), **{flag: imported_dir})
    config.validate()
    with pytest.raises(ValueError, match=r"arch 'sbl_mbv3' .* is not the architecture of init_from .*"
                                         r"pass --arch=mobilenetv3/.*/pad_symmetric"):
        TrainConfig.from_dict(dict(config.to_dict(), mode="standalone", arch="sbl_mbv3", init_from=imported_dir,
                                   key_model_dir="")).validate()
