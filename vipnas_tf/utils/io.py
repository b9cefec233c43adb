"""Atomic file and folder writes, and JSON reading with errors that name the file and position."""
import contextlib
import json
import os
import shutil
import tempfile


@contextlib.contextmanager
def atomic_open(path, mode="w", encoding="utf-8"):
    """Opens a temporary file beside `path` and renames it over `path` on success.

    A crash mid-write leaves the previous file (or none) in place, never a torn one.
    The file gets the permissions a plain `open` would give it (0666 less the umask;
    an existing file keeps its own), not the owner-only ones of a temporary file.

    Args:
      path: destination path.
      mode: "w" or "wb".
      encoding: text encoding for text mode.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": encoding})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, new_file_mode(path))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def new_file_mode(path):
    """The permission bits of `path` if it exists, else those a new file gets (umask)."""
    try:
        return os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_json(path, obj, indent=2):
    """Writes `obj` as JSON to `path` atomically."""
    with atomic_open(path) as f:
        json.dump(obj, f, indent=indent, sort_keys=False)
        f.write("\n")


def write_text(path, text):
    """Writes `text` to `path` atomically."""
    with atomic_open(path) as f:
        f.write(text)


def write_bytes(path, data):
    """Writes `data` (bytes) to `path` atomically."""
    with atomic_open(path, "wb") as f:
        f.write(data)


def write_dir_atomic(final_dir, fill):
    """Calls fill(tmp_dir) and renames tmp_dir to `final_dir` (replacing an old one).

    A crash leaves the previous folder (or none), never a half-written one.
    """
    final_dir = os.path.abspath(os.fspath(final_dir))
    parent = os.path.dirname(final_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = f"{final_dir}.tmp-{os.getpid()}"
    old = f"{final_dir}.old-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        fill(tmp)
        if os.path.exists(final_dir):
            os.rename(final_dir, old)
        os.rename(tmp, final_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if os.path.exists(old) and not os.path.exists(final_dir):
            os.rename(old, final_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)


def read_json(path):
    """Reads a JSON file; a malformed file raises ValueError naming file, line and column."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(
            f"{path}: malformed JSON at line {e.lineno}, column {e.colno} (char {e.pos}): {e.msg}"
        ) from None


def append_jsonl(path, record):
    """Appends one JSON object as a line and flushes it to disk."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_jsonl(path):
    """Reads a JSON-lines file, skipping a torn last line left by a crash."""
    path = os.fspath(path)
    if not os.path.exists(path):
        return []
    records = []
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                break  # a torn final line from an interrupted append
            raise ValueError(f"{path}: malformed JSON on line {i + 1}") from None
    return records
