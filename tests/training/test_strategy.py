"""TF_CONFIG checks of a multi-worker run (no cluster is started here)."""
import json

import pytest

from vipnas_tf.training.strategy import make_strategy, parse_tf_config


def _conf(cluster, task):
    return json.dumps({"cluster": cluster, "task": task})


def test_valid_tf_config_passes():
    conf = parse_tf_config(_conf({"worker": ["a:1", "b:1"]}, {"type": "worker", "index": 1}))
    assert conf["task"]["index"] == 1


@pytest.mark.parametrize("text, message", [
    ("{cluster: ", "TF_CONFIG is not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    (_conf({}, {"type": "worker", "index": 0}), "field 'cluster'"),
    (_conf({"worker": "a:1"}, {"type": "worker", "index": 0}), "field 'cluster.worker' must be a list"),
    (_conf({"ps": ["a:1"]}, {"type": "ps", "index": 0}), "unknown task type 'ps'"),
    (_conf({"worker": ["a:1", "a:1"]}, {"type": "worker", "index": 0}),
     "address 'a:1' is listed twice, as worker[0] and as worker[1]"),
    (_conf({"chief": ["a:1"], "worker": ["a:1"]}, {"type": "worker", "index": 0}),
     "address 'a:1' is listed twice, as chief[0] and as worker[0]"),
    (_conf({"worker": ["a:1"]}, {"type": "worker"}), "field 'task'"),
    (_conf({"worker": ["a:1"]}, {"type": "chief", "index": 0}), "'task.type' is 'chief', but the cluster has only"),
    (_conf({"worker": ["a:1", "b:1"]}, {"type": "worker", "index": 2}),
     "'task.index' is 2, but cluster.worker has 2 address"),
])
def test_bad_tf_config_names_the_field_and_values(text, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        parse_tf_config(text)


def test_multi_worker_strategy_checks_tf_config_first(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="needs the TF_CONFIG environment variable"):
        make_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", _conf({"worker": ["h:2", "h:2"]}, {"type": "worker", "index": 0}))
    with pytest.raises(ValueError, match="listed twice"):
        make_strategy("multi_worker")
