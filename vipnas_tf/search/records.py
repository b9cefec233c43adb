"""What the spatial and temporal searches share: their evaluated candidates, kept in
proposal order and appended to `OUT/candidates.jsonl` as they come, so that a restarted
search replays its seeded proposals and evaluates only the ones not yet done.

Several processes may append to one `candidates.jsonl` (a search sharded over
machines with a shared filesystem, `--shard=i/n`): every line is written whole under
an exclusive `fcntl` lock on `candidates.jsonl.lock` (POSIX; elsewhere the lines are
single appends without a lock), and readers take the lock shared."""
import contextlib
import hashlib
import json
import os
import time
from typing import Callable, Dict, List, Optional

from vipnas_tf.utils import io as io_utils

try:  # POSIX file locks; not on Windows
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None


@contextlib.contextmanager
def file_lock(path, exclusive=True):
    """An advisory lock on `path` (created if missing) for the `with` block."""
    if fcntl is None:
        yield
        return
    with open(path, "a+") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def fingerprint(settings: Dict) -> str:
    """A short stable hash of JSON-able `settings` (what an evaluation depended on)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def parse_shard(text) -> tuple:
    """"i/n" -> (i, n) with 0 <= i < n; ValueError naming the value otherwise."""
    try:
        i, n = (int(v) for v in str(text).split("/"))
    except ValueError:
        raise ValueError(f"shard must be 'i/n' (this process's index i of n processes), got {text!r}") from None
    if n < 1 or not 0 <= i < n:
        raise ValueError(f"shard {text!r}: the index must be in [0, n) and n >= 1")
    return i, n


class ResumableCandidates:
    """Mixin: `_open_candidates(out_dir, key_of)` once, then `_record(...)` per proposal."""

    def _open_candidates(self, out_dir: str, key_of: Callable[[Dict], str],
                         accept: Optional[Callable[[Dict], bool]] = None):
        """Reads OUT/candidates.jsonl. Rows for which `accept(row)` is False (written by
        a search that recorded less, or evaluated another checkpoint or with other
        settings) are not reused: their candidates are evaluated again, and the new
        row, appended later, is the one read next time. `self.stale` counts those not
        re-evaluated yet."""
        os.makedirs(out_dir, exist_ok=True)
        self.jsonl = os.path.join(out_dir, "candidates.jsonl")
        self._key_of, self._accept = key_of, accept
        self.done: Dict[str, Dict] = {}  # key -> row of an earlier evaluation
        stale = self._read_done(self.done)
        self.stale = len(stale - set(self.done))
        self.rows: List[Dict] = []  # this run's candidates, in proposal order
        self.new_evaluations = 0

    def _read_done(self, done):
        """Adds the accepted rows of the JSONL file to `done`; the stale keys."""
        stale = set()
        if not os.path.exists(self.jsonl):
            return stale
        with file_lock(self.jsonl + ".lock", exclusive=False):
            rows = io_utils.read_jsonl(self.jsonl)
        for row in rows:
            key = self._key_of(row)
            if self._accept is not None and not self._accept(row):
                done.pop(key, None)
                stale.add(key)
                continue
            done[key] = row
        return stale

    def _append(self, row):
        with file_lock(self.jsonl + ".lock"):
            io_utils.append_jsonl(self.jsonl, row)

    def _record(self, key: str, evaluate: Callable[[], Dict], source: str, bar=None, metric: str = "ap",
                fmt: str = ".3f", owned: bool = True) -> Dict:
        """The row of candidate `key`: an earlier one, or `evaluate()` + seconds + source
        (appended to the JSONL file at once). A candidate this process does not own
        (another shard's) and not done yet gets a row marked `pending`."""
        if key in self.done:
            row = dict(self.done[key])
        elif not owned:
            row = {"key": key, "pending": True, "source": source}
        else:
            t0 = time.time()
            row = evaluate()
            row["seconds"] = round(time.time() - t0, 2)
            row["source"] = source
            self._append(row)
            self.done[key] = row
            self.new_evaluations += 1
        row["index"] = len(self.rows)
        self.rows.append(row)
        if bar is not None:
            bar.update(1)
            scored = [r[metric] for r in self.rows if not r.get("pending")]
            if scored:
                bar.set_postfix({f"best_{metric}": format(max(scored), fmt)})
        return row

    def _fill_pending(self):
        """Re-reads the JSONL file (the other shards' rows); the number still pending."""
        self._read_done(self.done)
        missing = 0
        for i, row in enumerate(self.rows):
            if row.get("pending"):
                if row["key"] in self.done:
                    self.rows[i] = dict(self.done[row["key"]], index=row["index"])
                else:
                    missing += 1
        return missing
