"""Model directories: the kinds of run and the errors of a directory no kind loads."""
import json

import pytest

from vipnas_tf.training.model_dir import RUN_KINDS, ModelDirError, load_model, register_run_kind


def _write_run(tmp_path, config):
    run = tmp_path / "run"
    run.mkdir()
    (run / "run_config.json").write_text(json.dumps(config))
    return run


def test_every_kind_of_run_is_registered():
    """Importing the model-directory module registers the spatial and temporal kinds."""
    assert {"supernet", "standalone", "static", "temporal"} <= set(RUN_KINDS)
    assert RUN_KINDS["temporal"].build.__module__ == "vipnas_tf.training.temporal"
    assert RUN_KINDS["static"].build.__module__ == "vipnas_tf.training.spatial"
    with pytest.raises(ValueError, match="registered twice"):
        register_run_kind("temporal")(lambda config, path: None)


def test_unknown_or_incomplete_runs_name_the_file_and_field(tmp_path):
    run = _write_run(tmp_path, {"mode": "sketch", "space": "mobilenetv3", "input_size": [64, 64]})
    with pytest.raises(ModelDirError, match=r"run_config\.json: field 'mode': 'sketch'.*'supernet'"):
        load_model(run)
    (run / "run_config.json").write_text(json.dumps({"mode": "static", "input_size": [64, 64]}))
    with pytest.raises(ModelDirError, match=r"run_config\.json: a 'static' model directory needs the field 'arch'"):
        load_model(run)
    (run / "run_config.json").write_text(json.dumps({"mode": "temporal", "space": "mobilenetv3",
                                                     "input_size": [64, 64]}))
    with pytest.raises(ModelDirError, match=r"run_config\.json: a 'temporal' run needs the field 'key_arch'"):
        load_model(run)
    with pytest.raises(ModelDirError, match="holds a 'temporal' run, expected 'supernet'"):
        load_model(run, expect_mode="supernet")
