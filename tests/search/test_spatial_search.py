"""Spatial search mechanics on an untrained super-network checkpoint at 64x64: budget
respected (re-checked by describe), outputs, resumption, determinism, bad input."""
import csv
import dataclasses
import json
import os
import shutil
import subprocess
import sys

import pytest

from vipnas_tf.arch import describe, get_space, load_arch
from vipnas_tf.data.synthetic import generate, training_paths
from vipnas_tf.search.spatial import (
    Budget,
    CostOracle,
    SearchError,
    SpatialSearch,
    SpatialSearchConfig,
    check_feasible,
    pareto_front,
    run_spatial_search,
)
from vipnas_tf.training.model_dir import ModelDirError
from vipnas_tf.testing.model_dirs import make_supernet_dir
from vipnas_tf.utils.io import read_jsonl


@pytest.fixture(scope="module")
def supernet_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("search")
    generate(str(root / "data"), images=16, clips=2, frames=4, workers=1, progress=False)
    data = training_paths(str(root / "data"), "coco")
    make_supernet_dir(str(root / "supernet"), "mobilenetv3", (64, 64), data, randomize=True)
    return str(root / "supernet")


def test_pareto_front():
    pts = [(1, 0.1), (2, 0.3), (3, 0.2), (0.5, 0.05), (2.5, 0.35)]
    assert pareto_front(pts) == [3, 0, 1, 4]


def test_infeasible_budget_names_smallest_achievable():
    space = get_space("mobilenetv3")
    oracle = CostOracle((64, 64))
    smallest = oracle(space.min())["paper_gflops"]
    with pytest.raises(SearchError, match=f"smallest achievable is {smallest:g}"):
        check_feasible(space, oracle, Budget("paper_gflops", smallest / 2))
    with pytest.raises(SearchError, match="budget kind"):
        Budget("watts", 1.0)


def test_budget_band_samples_only_inside_it():
    import numpy as np

    from vipnas_tf.search.spatial import sample_within

    space = get_space("mobilenetv3")
    oracle = CostOracle((64, 64))
    lo, hi = oracle(space.min())["paper_gflops"], oracle(space.max())["paper_gflops"]
    budget = Budget("paper_gflops", lo + 0.4 * (hi - lo), floor=0.6)
    assert not budget.admits(lo) and budget.admits(budget.limit) and not budget.admits(budget.limit * 1.01)
    rng = np.random.default_rng(0)
    costs = [oracle(sample_within(space, rng, oracle, budget))["paper_gflops"] for _ in range(20)]
    assert all(budget.lower <= c <= budget.limit for c in costs)
    assert budget.to_dict()["lower"] == pytest.approx(0.6 * budget.limit, rel=1e-5)
    with pytest.raises(SearchError, match="biggest is"):
        check_feasible(space, oracle, Budget("paper_gflops", hi * 3, floor=0.5))
    with pytest.raises(SearchError, match="fraction"):
        Budget("paper_gflops", 1.0, floor=1.0)


@pytest.mark.slow
def test_model_dir_errors(tmp_path, supernet_dir):
    with pytest.raises(SearchError, match="does not exist"):
        SpatialSearch(str(tmp_path / "none"), str(tmp_path / "out"), Budget("paper_gflops", 1.0))
    with pytest.raises(SearchError, match="not 'resnet50'"):
        SpatialSearch(supernet_dir, str(tmp_path / "out"), Budget("paper_gflops", 1.0), expect_space="resnet50")
    other = tmp_path / "standalone"
    other.mkdir()
    (other / "run_config.json").write_text(json.dumps({"mode": "standalone", "space": "mobilenetv3"}))
    with pytest.raises(SearchError, match="not a trained super-network"):
        SpatialSearch(str(other), str(tmp_path / "out"), Budget("paper_gflops", 1.0))


@pytest.mark.slow
def test_search_respects_budget_writes_outputs_and_resumes(tmp_path, supernet_dir):
    space = get_space("mobilenetv3")
    oracle = CostOracle((64, 64))
    lo, hi = oracle(space.min())["paper_gflops"], oracle(space.max())["paper_gflops"]
    budget = Budget("paper_gflops", lo + 0.3 * (hi - lo))
    out = str(tmp_path / "search")
    kw = dict(strategy="evolution", population=2, seed=3, bn_calib_batches=1, calib_batch_size=4,
              progress=False, evaluate_presets=False)
    first = SpatialSearch(supernet_dir, out, budget, num_samples=3, **kw).run()
    assert first["num_candidates"] == 3 and first["new_evaluations"] == 3
    for name in ("best_arch.json", "candidates.csv", "pareto.png", "summary.json"):
        assert os.path.getsize(os.path.join(out, name)) > 0
    with open(os.path.join(out, "candidates.csv")) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and all(float(r["paper_gflops"]) <= budget.limit for r in rows)
    assert all(0.0 <= float(r["ap"]) <= 1.0 for r in rows)
    # evolution's first generation starts from the smallest architecture (seed_smallest)
    assert rows[0]["arch"] == space.min().to_string() and rows[0]["source"] == "evolution:init:smallest"
    assert all(r["arch"] != space.min().to_string() for r in rows[1:])
    # the reported architecture satisfies the budget, re-checked by describe
    best = load_arch(os.path.join(out, "best_arch.json"))
    assert describe(best, (64, 64))["paper_gflops"] <= budget.limit
    assert best.to_string() == first["arch"]
    # resume: the same seed replays the same proposals; only the new ones are evaluated
    second = SpatialSearch(supernet_dir, out, budget, num_samples=4, **dict(kw, evaluate_presets=True)).run()
    assert second["resumed_candidates"] == 3 and second["new_evaluations"] == 1
    # the space's published model is scored and plotted for reference
    assert [p["name"] for p in second["presets"]] == ["s_vipnas_mbv3"]
    with open(os.path.join(out, "candidates.csv")) as f:
        rows2 = list(csv.DictReader(f))
    assert [r["arch"] for r in rows2[:3]] == [r["arch"] for r in rows]


def test_search_config_needs_one_budget_and_a_model_dir(tmp_path):
    with pytest.raises(SearchError, match="exactly one of --max_gflops, --max_macs, --max_latency_ms"):
        run_spatial_search(SpatialSearchConfig(str(tmp_path), str(tmp_path / "out"), max_gflops=0.1, max_macs=1e8))
    with pytest.raises(ModelDirError, match="does not exist"):
        run_spatial_search(SpatialSearchConfig(str(tmp_path / "none"), str(tmp_path / "out"), max_gflops=0.1))
    assert SpatialSearchConfig("a", "b", max_latency_ms=3.0, budget_floor=0.5).budget() == Budget("latency_ms", 3.0, 0.5)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("VIPNAS_DISTRIBUTED_TESTS"),
                    reason="distributed tier: set VIPNAS_DISTRIBUTED_TESTS=1 (BUILD.md, 'Distributed tier')")
def test_search_sharded_over_two_processes_and_keyed_by_checkpoint(tmp_path, supernet_dir):
    space = get_space("mobilenetv3")
    oracle = CostOracle((64, 64))
    lo, hi = oracle(space.min())["paper_gflops"], oracle(space.max())["paper_gflops"]
    limit = lo + 0.3 * (hi - lo)
    model_dir = str(tmp_path / "supernet")
    shutil.copytree(supernet_dir, model_dir)
    out = str(tmp_path / "sharded")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cmd = [sys.executable, os.path.join(root, "scripts", "search.py"), f"--model_dir={model_dir}", f"--out={out}",
           f"--max_gflops={limit}", "--num_samples=4", "--bn_calib_batches=1", "--seed=3", "--noprogress", "--json"]
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    procs = [subprocess.Popen(cmd + [f"--shard={i}/2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for i in range(2)]
    results = [p.communicate(timeout=900) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [r[1][-2000:] for r in results]
    summaries = [json.loads(r[0][r[0].index("{"):]) for r in results]
    # each shard evaluated its half of the candidates: 0 and 2 (and the preset), 1 and 3
    assert [s["new_evaluations"] for s in summaries] == [2, 2]
    rows = read_jsonl(os.path.join(out, "candidates.jsonl"))
    keys = [r["source"] if r["source"].startswith("preset:") else r["arch"] for r in rows]
    assert len(rows) == 5 and len(set(keys)) == 5  # one file, every line whole, nothing twice
    assert len({r["fingerprint"] for r in rows}) == 1
    # the shard that finished last wrote the outputs; a run without a shard merges without evaluating
    complete = [s for s in summaries if s.get("complete") is not False]
    assert len(complete) >= 1 and os.path.exists(os.path.join(out, "best_arch.json"))
    config = SpatialSearchConfig(model_dir, out, max_gflops=limit, num_samples=4, bn_calib_batches=1, seed=3,
                                 progress=False)
    merged = run_spatial_search(config)
    assert merged["new_evaluations"] == 0 and merged["num_candidates"] == 4
    assert merged["arch"] == complete[0]["arch"] and merged["ap"] == complete[0]["ap"]
    # other evaluation settings: another fingerprint
    budget = Budget("paper_gflops", limit)
    same = SpatialSearch(model_dir, out, budget, bn_calib_batches=1, seed=3, progress=False)
    assert same.fingerprint == rows[0]["fingerprint"] and same.stale == 0
    assert SpatialSearch(model_dir, out, budget, bn_calib_batches=2, seed=3, progress=False).stale == 5
    # a retrained super-network (new weights, same checkpoint name): every AP is evaluated again
    make_supernet_dir(model_dir, "mobilenetv3", (64, 64), {k: v for k, v in same.data.items()}, randomize=True, seed=5)
    again = run_spatial_search(dataclasses.replace(config, num_samples=2))
    assert again["new_evaluations"] == 2 and again["resumed_candidates"] == 0
    rows = read_jsonl(os.path.join(out, "candidates.jsonl"))
    assert len(rows) == 8 and len({r["fingerprint"] for r in rows[5:]}) == 1  # and the preset again
    assert rows[5]["fingerprint"] != rows[0]["fingerprint"]
    with pytest.raises(SearchError, match="needs strategy 'random'"):
        SpatialSearch(model_dir, out, budget, strategy="evolution", shard=(1, 2))
    with pytest.raises(SearchError, match="shard"):
        run_spatial_search(dataclasses.replace(config, shard="2/2"))

