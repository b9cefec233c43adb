"""What the spatial and temporal searches share: their evaluated candidates, kept in
proposal order and appended to `OUT/candidates.jsonl` as they come, so that a restarted
search replays its seeded proposals and evaluates only the ones not yet done."""
import os
import time
from typing import Callable, Dict, List

from vipnas_tf.utils import io as io_utils


class ResumableCandidates:
    """Mixin: `_open_candidates(out_dir, key_of)` once, then `_record(...)` per proposal."""

    def _open_candidates(self, out_dir: str, key_of: Callable[[Dict], str]):
        os.makedirs(out_dir, exist_ok=True)
        self.jsonl = os.path.join(out_dir, "candidates.jsonl")
        self.done: Dict[str, Dict] = {}  # key -> row of an earlier evaluation
        if os.path.exists(self.jsonl):
            for row in io_utils.read_jsonl(self.jsonl):
                self.done[key_of(row)] = row
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
