"""Every benchmark script runs: `--quick --json PATH` in a subprocess, exit 0, real numbers.

Scripts are discovered (every `benchmarks/*.py` with a `__main__` block) minus the GPU/device
ones listed in `DEVICE_ONLY`; each must have a check in `CHECKS`, so a new script without one
fails here. The quick runs are started together, two at a time (the machine has 2 cores), and
each test waits for its own script.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from hashtune.evaluators.optimizer_suite import CEIL, FLOOR, SEARCH_MIN_WEIGHT, SEARCH_SLACK

#: The lowest search-rung score (`search_fitness`): every task at the floor, and the worst task's
#: shortfall charged again.
STRICT_LOW = FLOOR + SEARCH_MIN_WEIGHT * min(0.0, FLOOR + SEARCH_SLACK)

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
#: Scripts that need an accelerator or drive a device machine (not run here).
DEVICE_ONLY = {"gpu", "optimizer_discovery", "device_path"}
#: Longest quick runs first, so two workers finish together.
ORDER = ("collisions", "hash_devices", "peer_learning", "searchers", "optimizer_evolution", "fec")


def scripts() -> list[str]:
    """Names of the benchmark scripts run by this test."""
    found = [
        p.stem
        for p in sorted(BENCHMARKS.glob("*.py"))
        if 'if __name__ == "__main__":' in p.read_text() and p.stem not in DEVICE_ONLY
    ]
    return sorted(found, key=lambda s: (ORDER.index(s) if s in ORDER else len(ORDER), s))


def positive(x: Any) -> bool:
    """A finite number above zero."""
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def check_searchers(r: dict[str, Any]) -> None:
    methods = r["config"]["methods"]
    assert len(methods) == 8 and set(r["quality"]) == {"nb201", "branin"}
    for q in r["quality"].values():
        assert set(q["methods"]) == set(methods)
        for m in q["methods"].values():
            assert len(m["runs"]) == 1 and positive(m["summary"]["ms_per_trial_mean"])
            assert m["summary"]["median_best"] is not None
    assert set(r["overhead"]) == set(methods)
    for row in r["overhead"].values():
        assert positive(row["30"]["ms_mean"])


def check_ab(r: dict[str, Any]) -> None:
    (per_root,) = r["results"].values()  # one system at one trial count, one root (".,.")
    (runs,) = per_root.values()
    assert len(runs) == 2 and all(positive(ms) for ms in runs)


def check_fec(r: dict[str, Any]) -> None:
    space = r["spaces"]["nb201"]
    assert r["complete"] and len(space["runs"]) == 6
    for run in space["runs"]:
        assert run["proposals"] >= 1 and positive(run["wall_seconds"])
        assert 0 < run["paid"] <= 12 and math.isfinite(run["best_truth_at_budget"])
    assert len(space["summary"]) == 6


def check_overhead(r: dict[str, Any]) -> None:
    assert len(r["results"]) == 4
    for per_n in r["results"].values():
        (run,) = per_n["20"]
        assert positive(run["ms"]) and run["done"] == 20
    assert positive(r["profile"]["ht:random:on:sqlite"]["statements"])


def check_scaling(r: dict[str, Any]) -> None:
    (row,) = r["driver"]
    assert row["complete"] == 20 and positive(row["trials_per_s"])


def check_peer_learning(r: dict[str, Any]) -> None:
    (row,) = r["rows"]
    assert row["mode"] == "sync" and positive(row["ms_per_trial"])
    (scale,) = r["scaling"]
    assert scale["trials"] == 50 and positive(scale["sync_1_new"][1])


def check_read_scale(r: dict[str, Any]) -> None:
    assert set(r["resume"]) == {"random", "tpe"}
    assert all(positive(v["total_s"]) and positive(v["optuna_s"]) for v in r["resume"].values())
    assert r["reads"]["best_10"]["rows"] == 10 and r["reads"]["trials_dataframe"]["rows"] == 200
    assert positive(r["reads"]["optuna_best_trials_2"]["median_s"])


def check_exports(r: dict[str, Any]) -> None:
    assert r["trials"] == 50 and len(r["seconds"]) == 6
    assert all(positive(v) for v in r["seconds"].values())


def check_optimizer_evolution(r: dict[str, Any]) -> None:
    assert r["paid_evaluations"] == 2 and r["proposals"] >= 2
    assert math.isfinite(r["best_score"]) and positive(r["seed_scores"]["sgd"])
    assert len(r["history"]) == r["proposals"]


def check_collisions(r: dict[str, Any]) -> None:
    assert r["n"] == 128 and len(r["configs"]) > 4
    assert r["faithful"]["agree"] == r["faithful"]["programs"] == 4
    assert positive(r["timings_s"]["study_programs_per_s"])


def check_hash_speed(r: dict[str, Any]) -> None:
    assert r["quick"] and r["programs"]["programs"] == 20 and r["evaluation"] == {}
    assert r["nb201"]["cells"] >= 100 and positive(r["nb201"]["batched_cells_per_s"])
    assert r["nb201"]["hash_classes"] >= 1 and positive(r["programs"]["programs_per_s"])


def check_dead_state(r: dict[str, Any]) -> None:
    assert set(r["generators"]) == {"init", "random", "children"}
    for g in r["generators"].values():  # the fix only merges hashes, and both paths agree
        assert g["n"] == 60 and g["slot_equals_program"] and g["any_dead"] >= g["dead_computed"]
        assert 1 <= g["distinct_after"] <= g["distinct_before"] <= g["n"]
        assert g["hash_changed"] <= g["dead_computed"]


def check_hash_devices(r: dict[str, Any]) -> None:
    assert len(r["hashes"]["nb201"]) == 200 and len(r["hashes"]["programs"]) == 10
    assert len(r["hashes"]["mlp"]) == 3 and len(r["hashes"]["callables"]) == 9
    assert all(positive(v) for v in r["rates_per_s"].values())


def check_nb201_partition(r: dict[str, Any]) -> None:
    assert r["cells"] == 500 and positive(r["hash_all_cells_s"])
    assert r["isomorphism"]["classes"] >= r["functional_hash"]["classes"] >= 1


def check_make_nb201_fixture(r: dict[str, Any]) -> None:
    assert r["cells"] == 200 and len(r["sha256"]) == 64
    lines = Path(r["path"]).read_text().splitlines()
    assert len(lines) == 202 and lines[1] == "arch,val_accuracy,params,flops"


def check_dashboard_vs_optuna(r: dict[str, Any]) -> None:
    assert r["trials"] == 2000 and set(r["servers"]) == {"optuna-dashboard", "hashtune"}
    hashtune_api = [row["hashtune"] for row in r["api"] if row["hashtune"]]
    assert len(hashtune_api) >= 5 and all(positive(a["median_s"]) for a in hashtune_api)
    pages = [row["hashtune"] for row in r["pages"] if row.get("hashtune")]
    assert pages and all(positive(p["cold_s"]) and not p["errors"] for p in pages)


def check_dashboard(r: dict[str, Any]) -> None:
    rows = r["backends"]["SQLite"]["rows"]
    assert r["trials"] == 300 and len(rows) == 13
    assert all(positive(v["median_s"]) and positive(v["bytes"]) for v in rows.values())


def check_discovery_suites(r: dict[str, Any]) -> None:
    assert set(r) == {"plain0", "scaled0"}
    for col in r.values():  # scores are relative to Adam: Adam is 0 on plain and scaled tasks
        assert col["adam"]["score"] == 0.0 and "fec_best" in " ".join(col)
        assert all(STRICT_LOW <= x["score"] <= CEIL for x in col.values())


def check_rung_agreement(r: dict[str, Any]) -> None:
    assert set(r["columns"]) == {"plain0", "val", "meta"}
    for col in r["columns"].values():  # scores relative to Adam: Adam is 0 on every suite
        assert abs(col["mean"]["adam"]) < 1e-6 and len(col["tasks"]) == len(r["programs"])
    assert all(-1.0 <= c <= 1.0 for cs in r["corr"].values() for c in cs.values())


def check_reachability(r: dict[str, Any]) -> None:
    assert r["n"] == 300 and {"rmsprop", "rms999", "nobc_g", "nobc_b09"} <= set(r["rows"])
    for row in r["rows"].values():
        for op in ("old", "new"):
            assert row[op]["valid"] and 0.0 <= row[op]["degenerate"] <= 1.0
            assert 0.0 < row[op]["new_fn"] <= 1.0 and row[op]["same"] + row[op]["new_fn"] <= 1.0
    assert r["rows"]["rmsprop"]["parent_is"] == ["rmsprop"]


def check_resume_fresh(r: dict[str, Any]) -> None:
    assert (
        r["trials"] == 50 and set(r["rows"]) == {"random", "tpe"} and positive(r["torch_import_s"])
    )
    for row in r["rows"].values():
        h, o = row["hashtune"], row["optuna"]
        assert all(positive(h[k]) for k in ("import_s", "load_s", "first_s", "rss_mb"))
        assert positive(o["import_s"]) and positive(o["total_s"]) and positive(o["rss_mb"])
    assert r["gp_libs_import_s"] >= r["torch_import_s"] * 0.5  # torch is one of GP's imports


def check_meta_rescore(r: dict[str, Any]) -> None:
    rows = r["table"]
    assert r["replicates"] == 2 and {"adam", "sgd"} <= set(rows) and len(rows) == 3
    assert rows["adam"]["vs_adam"] == 0.0 and rows["adam"]["verdict"] == "matches"
    assert rows["sgd"]["verdict"] == "below"  # SGD is far behind Adam on every quick task
    for row in rows.values():
        lo, hi = row["vs_adam_ci"]
        assert lo <= row["vs_adam"] <= hi and len(row["meta_replicates"]) == 2
        assert row["verdict"] in ("beats", "matches", "below")


CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "searchers": check_searchers,
    "fec": check_fec,
    "ab": check_ab,
    "overhead": check_overhead,
    "scaling": check_scaling,
    "peer_learning": check_peer_learning,
    "read_scale": check_read_scale,
    "exports": check_exports,
    "optimizer_evolution": check_optimizer_evolution,
    "collisions": check_collisions,
    "hash_speed": check_hash_speed,
    "hash_devices": check_hash_devices,
    "dead_state": check_dead_state,
    "nb201_partition": check_nb201_partition,
    "make_nb201_fixture": check_make_nb201_fixture,
    "dashboard": check_dashboard,
    "dashboard_vs_optuna": check_dashboard_vs_optuna,
    "discovery_suites": check_discovery_suites,
    "rung_agreement": check_rung_agreement,
    "reachability": check_reachability,
    "resume_fresh": check_resume_fresh,
    "meta_rescore": check_meta_rescore,
}


def run_quick(name: str, out: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    """`benchmarks/<name>.py --quick --json <out>/<name>.json` on the CPU."""
    path = out / f"{name}.json"
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / f"{name}.py"), "--quick", "--json", str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    return proc, path


@pytest.fixture(scope="module")
def quick_runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Future[tuple[subprocess.CompletedProcess[str], Path]]]]:
    """Every script's quick run, started at once on two workers."""
    out = tmp_path_factory.mktemp("benchmarks")
    pool = ThreadPoolExecutor(max_workers=2)
    futures = {name: pool.submit(run_quick, name, out) for name in scripts()}
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)


def test_every_script_has_a_check() -> None:
    assert set(scripts()) == set(CHECKS), "add a check for each new benchmark script"


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("name", scripts())
def test_quick_run(name: str, quick_runs: dict[str, Future]) -> None:
    proc, path = quick_runs[name].result()
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    CHECKS[name](json.loads(path.read_text()))


# ---- the harness itself (fast) -----------------------------------------------------------------


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The benchmarks' harness package, importable as the scripts import it."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import harness.cli
    import harness.runners
    import harness.tables

    return harness


def test_harness_cli_paths_and_json(harness: Any, tmp_path: Path) -> None:
    p = harness.cli.parser("doc line\nmore", "thing")
    args = p.parse_args([])
    assert args.json == BENCHMARKS / "results" / "thing.json" and not args.quick and args.seed == 0
    args = p.parse_args(["--quick", "--out", "x.json", "--seed", "3"])
    assert args.quick and args.seed == 3 and args.json == BENCHMARKS / "results" / "x.json"
    assert p.parse_args(["--json", str(tmp_path / "a.json")]).json == tmp_path / "a.json"
    assert "--seed" not in harness.cli.parser(None, "n", seed=None).format_help()
    out = harness.cli.write_json({"a": [1.5], "b": object}, tmp_path / "d" / "r.json")
    record = json.loads(out.read_text())
    assert record["a"] == [1.5] and record["b"].startswith("<class")


def test_overhead_window_times_only_the_last_trials(harness: Any) -> None:
    import overhead

    ht = overhead.run("ht:tpe:on:sqlite", 30, window=10)  # 20 random, reopen as TPE, 10 timed
    assert (ht["trials"], ht["window"], ht["done"]) == (30, 10, 30) and positive(ht["resume_s"])
    op = overhead.run("optuna:tpe-inc:mem", 30, window=10)
    assert (op["trials"], op["window"], op["done"]) == (30, 10, 30) and positive(op["ms"])


def test_harness_evaluate_and_temporary_study(harness: Any) -> None:
    from hashtune.evaluators.base import FunctionEvaluator

    evaluate = harness.runners.evaluate
    assert evaluate(FunctionEvaluator(lambda c: c * 2.0), 2.0).value == 4.0
    assert evaluate(FunctionEvaluator(lambda c: float("nan")), 1).value is None
    failed = evaluate(FunctionEvaluator(lambda c: 1 / 0), 1)
    assert failed.value is None and failed.cost == failed.seconds >= 0
    with pytest.raises(ZeroDivisionError):
        evaluate(FunctionEvaluator(lambda c: 1 / 0), 1, catch=False)
    assert harness.runners.reported_cost({"simulated_gpu_seconds": 7}, 0.1) == 7.0
    from harness.problems import toy_problem

    problem = toy_problem()
    with harness.runners.temporary_study(
        "t", space=problem.space, evaluator=problem.evaluator, searcher="random",
        directions=[problem.direction],
    ) as study:  # fmt: skip
        study.optimize(n_trials=3, show_progress=False)
        values = harness.runners.scored_values(study.trials())
    assert len(values) == 3 and all(isinstance(v, float) for v in values)
    assert harness.tables.fmt(None) == "-" and harness.tables.fmt(1.23456) == "1.235"
