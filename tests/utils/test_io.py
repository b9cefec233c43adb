import json
import os
import stat

import pytest

from vipnas_tf.utils import io


def test_write_json_is_atomic_and_readable(tmp_path):
    p = tmp_path / "a" / "b.json"
    io.write_json(p, {"x": 1})
    assert io.read_json(p) == {"x": 1}
    assert [f.name for f in p.parent.iterdir()] == ["b.json"]  # no temp file left


def test_failed_write_keeps_old_file(tmp_path):
    p = tmp_path / "r.json"
    io.write_json(p, {"old": True})
    with pytest.raises(TypeError):
        io.write_json(p, {"bad": object()})
    assert io.read_json(p) == {"old": True}


def test_malformed_json_names_file_and_position(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text('{"a": 1,\n "b": }')
    with pytest.raises(ValueError, match=r"bad\.json.*line 2, column"):
        io.read_json(p)


def test_jsonl_skips_torn_last_line(tmp_path):
    p = tmp_path / "m.jsonl"
    io.append_jsonl(p, {"step": 1})
    io.append_jsonl(p, {"step": 2})
    with open(p, "a") as f:
        f.write('{"step": 3, "lo')
    assert [r["step"] for r in io.read_jsonl(p)] == [1, 2]
    assert json.loads(p.read_text().splitlines()[0]) == {"step": 1}


def test_written_files_get_the_umask_permissions_not_a_temp_files(tmp_path):
    """An exported .tflite is copied to a phone or served by another user: it must not
    be owner-only (0600) as the temporary file it was written through."""
    old = os.umask(0o022)
    try:
        path = tmp_path / "m.tflite"
        io.write_bytes(path, b"x")
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
        os.chmod(path, 0o600)  # a file the user restricted stays restricted when rewritten
        io.write_bytes(path, b"y")
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    finally:
        os.umask(old)
