"""Computation allocation (paper Sec. 3.4.3, eq. 3) on a small trained temporal model
(the killed-and-resumed T = 2 run of tests/conftest.py): `TemporalSearch.run` ranks the
schedules by the sum of per-frame-position mAPs under the summed-GFLOPs budget, records
it beside the pooled mAP, and resumes, evaluating again the candidates.jsonl lines that
lack the per-position scores; `ScheduleEvaluator.evaluate` leaves the BN state as it
found it and gives the same scores twice."""
import csv
import json
import os
import shutil

import numpy as np
import pytest

from vipnas_tf.search.temporal import TemporalSearch
from vipnas_tf.temporal.frame_arch import FrameArch, TemporalSpace, frame_cost
from vipnas_tf.temporal.schedule import Schedule
from vipnas_tf.training import bn as bn_lib
from vipnas_tf.training.model_dir import read_run_config

pytestmark = pytest.mark.slow  # traces super-networks / runs the real commands

T = 2
SEARCH = dict(frames=T, num_samples=4, bn_calib_batches=1, calib_batch_size=4, progress=False, seed=0)


def _budget(model_dir):
    """Summed GFLOPs that half the frame architectures of the space meet: a binding budget."""
    from vipnas_tf.arch import get_space
    from vipnas_tf.arch.arch import parse_arch

    rc = read_run_config(model_dir)
    tspace = TemporalSpace(get_space(rc["space"]), max_arch=parse_arch(rc["key_arch"]))
    rng = np.random.default_rng(0)
    costs = [float(frame_cost(tspace.sample(rng), (64, 64)).paper_gflops) for _ in range(200)]
    assert max(costs) > min(costs)
    return T * float(np.median(costs))


@pytest.fixture(scope="module")
def searched(temporal_run, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("allocation") / "search")
    limit = _budget(temporal_run["model_dir"])
    search = TemporalSearch(temporal_run["model_dir"], out, max_total_gflops=limit, **SEARCH)
    return search, search.run(), out, limit


def _rows(out):
    with open(os.path.join(out, "candidates.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def test_search_ranks_by_the_eq3_sum_and_records_the_pooled_map(searched):
    search, summary, out, limit = searched
    rows = _rows(out)
    assert len(rows) == SEARCH["num_samples"] == summary["num_candidates"] == summary["new_evaluations"]
    for r in rows:
        assert len(r["frame_map"]) == T and r["sum_ap"] == pytest.approx(sum(r["frame_map"]), abs=1e-3)
        assert 0.0 <= r["map"] <= 100.0 and r["total_gflops"] <= limit + 1e-9
    best = max(range(len(rows)), key=lambda i: (rows[i]["sum_ap"], -i))
    pooled = max(range(len(rows)), key=lambda i: (rows[i]["map"], -i))
    assert summary["best_index"] == best and summary["sum_ap_nonkey"] == rows[best]["sum_ap"]
    assert summary["frame_map_nonkey"] == rows[best]["frame_map"] and summary["map_nonkey"] == rows[best]["map"]
    assert summary["pooled_map_pick"] == {"index": pooled, "map": rows[pooled]["map"],
                                          "sum_ap": rows[pooled]["sum_ap"], "same_schedule": best == pooled}
    schedule = Schedule.load(os.path.join(out, "schedule.json"))
    assert [f.to_dict() for f in schedule.frames] == rows[best]["frames"]
    with open(os.path.join(out, "candidates.csv")) as f:
        table = list(csv.DictReader(f))
    assert [float(r["sum_ap"]) for r in table] == [r["sum_ap"] for r in rows]
    assert [float(r["map_frame2"]) for r in table] == [r["frame_map"][1] for r in rows]


def test_resume_evaluates_again_the_rows_without_per_frame_scores(searched, temporal_run, tmp_path):
    _, summary, out, limit = searched
    again = str(tmp_path / "search")
    shutil.copytree(out, again)
    rows = _rows(out)
    old = dict(rows[0])
    del old["frame_map"], old["sum_ap"]  # a line as a search that kept only the pooled mAP wrote it
    with open(os.path.join(again, "candidates.jsonl"), "w") as f:
        f.write("".join(json.dumps(r) + "\n" for r in [old] + rows[1:]))
    search = TemporalSearch(temporal_run["model_dir"], again, max_total_gflops=limit, **SEARCH)
    assert search.stale == 1
    resumed = search.run()
    assert resumed["new_evaluations"] == 1 and resumed["rescored_stale_candidates"] == 1
    assert resumed["resumed_candidates"] == SEARCH["num_samples"] - 1
    new = _rows(again)[-1]
    assert new["key"] == rows[0]["key"] and new["frame_map"] == rows[0]["frame_map"]  # deterministic
    assert resumed["sum_ap_nonkey"] == summary["sum_ap_nonkey"]
    # the next resume reads the re-scored line and evaluates nothing
    assert TemporalSearch(temporal_run["model_dir"], again, max_total_gflops=limit, **SEARCH).stale == 0


def test_schedule_evaluator_restores_bn_and_is_repeatable(searched):
    search = searched[0]
    ev = search._evaluator  # pylint: disable=protected-access
    frames = [FrameArch.from_dict(f) for f in _rows(searched[2])[0]["frames"]]
    before = bn_lib.bn_state(ev.tnet.spatial)
    first, second = ev.evaluate(frames), ev.evaluate(frames)
    for a, b in zip(before, bn_lib.bn_state(ev.tnet.spatial)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert first["Total"] == second["Total"] and first["frame_map"] == second["frame_map"]
    assert len(first["frame_map"]) == T and all(n > 0 for n in first["frame_num_scored_frames"])
