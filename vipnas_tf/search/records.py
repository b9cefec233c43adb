"""What the spatial and temporal searches share: their evaluated candidates, kept in
proposal order and appended to `OUT/candidates.jsonl` as they come, so that a restarted
search replays its seeded proposals and evaluates only the ones not yet done."""
import os
import time
from typing import Callable, Dict, List, Optional

from vipnas_tf.utils import io as io_utils


class ResumableCandidates:
    """Mixin: `_open_candidates(out_dir, key_of)` once, then `_record(...)` per proposal."""

    def _open_candidates(self, out_dir: str, key_of: Callable[[Dict], str],
                         accept: Optional[Callable[[Dict], bool]] = None):
        """Reads OUT/candidates.jsonl. Rows for which `accept(row)` is False (written by
        a search that recorded less) are not reused: their candidates are evaluated
        again, and the new row, appended later, is the one read next time.
        `self.stale` counts those not re-evaluated yet."""
        os.makedirs(out_dir, exist_ok=True)
        self.jsonl = os.path.join(out_dir, "candidates.jsonl")
        self.done: Dict[str, Dict] = {}  # key -> row of an earlier evaluation
        stale = set()
        if os.path.exists(self.jsonl):
            for row in io_utils.read_jsonl(self.jsonl):
                if accept is not None and not accept(row):
                    self.done.pop(key_of(row), None)
                    stale.add(key_of(row))
                    continue
                self.done[key_of(row)] = row
        self.stale = len(stale - set(self.done))
        self.rows: List[Dict] = []  # this run's candidates, in proposal order
        self.new_evaluations = 0

    def _record(self, key: str, evaluate: Callable[[], Dict], source: str, bar=None, metric: str = "ap",
                fmt: str = ".3f") -> Dict:
        """The row of candidate `key`: an earlier one, or `evaluate()` + seconds + source
        (appended to the JSONL file at once)."""
        if key in self.done:
            row = dict(self.done[key])
        else:
            t0 = time.time()
            row = evaluate()
            row["seconds"] = round(time.time() - t0, 2)
            row["source"] = source
            io_utils.append_jsonl(self.jsonl, row)
            self.done[key] = row
            self.new_evaluations += 1
        row["index"] = len(self.rows)
        self.rows.append(row)
        if bar is not None:
            bar.update(1)
            bar.set_postfix({f"best_{metric}": format(max(r[metric] for r in self.rows), fmt)})
        return row
