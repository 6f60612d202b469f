"""The Study loop end to end: space → searcher → evaluator → store, failures, resume, comparison."""

from __future__ import annotations

import statistics

import pyglove as pg
import pytest

import hashtune as ht
from hashtune.evaluators.testing import NaNEvaluator, QuadraticEvaluator, SleepEvaluator
from hashtune.search.regularized_evolution import RegularizedEvolution
from hashtune.store import Store, StudyExistsError


def grid_space() -> ht.Space:
    """A small discrete space (9 x 3 points) with one best point."""
    return ht.Space(pg.Dict(x=pg.oneof(list(range(-4, 5))), k=pg.oneof(["a", "b", "c"])), "grid")


def grid_score(c) -> float:
    return -((c["x"] - 2) ** 2) + {"a": 0.0, "b": 0.5, "c": 0.25}[c["k"]]


def test_study_runs_end_to_end_and_records_every_trial(storage_url: str) -> None:
    study = ht.Study.create(
        "e2e",
        space=grid_space(),
        evaluator=ht.FunctionEvaluator(grid_score),
        searcher="regularized_evolution",
        searcher_args={"population_size": 4, "tournament_size": 2},
        storage=storage_url,
        seed=3,
        cache={"enabled": False},
    )
    study.optimize(n_trials=15)
    trials = study.trials()
    assert [t.number for t in trials] == list(range(15))
    assert {t.state for t in trials} == {"COMPLETE"}
    for t in trials:  # values, params and the candidate all describe the same point
        cand = pg.from_json_str(t.candidate)
        assert t.values == (pytest.approx(grid_score(cand)),)
        assert t.params["x"] == cand["x"] and t.params["k"] == cand["k"]
    children = [t for t in trials if t.parents]
    assert children, "evolution should have produced mutated children after the first 4"
    assert all(t.mutation for t in children) and all(
        p < t.number for t in children for p in t.parents
    )
    best = max(t.values[0] for t in trials)
    assert study.best_trial.values[0] == best
    df = study.trials_dataframe()
    assert len(df) == 15 and {"number", "state", "score", "params_x", "params_k"} <= set(df.columns)
    assert ht.StudyView.open("e2e", storage_url).best_trial.number == study.best_trial.number


def test_candidates_that_raise_or_return_nan_fail_their_trial_and_the_study_goes_on(
    sqlite_url: str,
) -> None:
    def score(c):
        if c["x"] == 0:
            raise RuntimeError("candidate exploded at x=0")
        if c["x"] == 1:
            return float("nan")
        return grid_score(c)

    study = ht.Study.create(
        "fail",
        space=grid_space(),
        evaluator=ht.FunctionEvaluator(score),
        searcher="random",
        storage=sqlite_url,
        seed=0,
        cache={"enabled": False},
    )
    for x in (0, 1, 2):
        study.enqueue({"x": x, "k": "a"})
    study.optimize(n_trials=10)
    trials = study.trials()
    assert len(trials) == 10
    assert trials[0].state == "FAILED" and "candidate exploded at x=0" in trials[0].error
    assert trials[1].state == "FAILED" and "non-finite" in trials[1].error
    assert trials[2].state == "COMPLETE" and trials[2].values == (0.0,)
    assert study.stats().failed >= 2 and study.stats().complete >= 1


def test_a_candidate_past_the_trial_timeout_fails_and_the_study_goes_on(sqlite_url: str) -> None:
    study = ht.Study.create(
        "timeout",
        space=grid_space(),
        evaluator=SleepEvaluator(seconds=5.0),
        searcher="random",
        storage=sqlite_url,
        cache={"enabled": False},
    )
    study.optimize(n_trials=2, trial_timeout=0.2)
    trials = study.trials()
    assert [t.state for t in trials] == ["FAILED", "FAILED"]
    assert all("timed out after 0.2s" in t.error for t in trials)


def test_nan_evaluator_fails_every_trial_without_stopping(sqlite_url: str) -> None:
    study = ht.Study.create(
        "nan", space=grid_space(), evaluator=NaNEvaluator(), searcher="random", storage=sqlite_url
    )
    study.optimize(n_trials=4)
    assert [t.state for t in study.trials()] == ["FAILED"] * 4
    assert study.best_trials == []
    with pytest.raises(ValueError, match="no scored trials"):
        _ = study.best_trial


@pytest.mark.slow
def test_a_candidate_that_kills_its_worker_process_fails_only_its_trial(sqlite_url: str) -> None:
    from hashtune.evaluators.testing import ExitEvaluator

    study = ht.Study.create(
        "crash",
        space="nas_bench_201",
        evaluator=ExitEvaluator(code=7),
        searcher="random",
        executor="process",
        executor_args={"max_workers": 1},
        storage=sqlite_url,
    )
    study.optimize(n_trials=2, trial_timeout=60)
    trials = study.trials()
    assert [t.state for t in trials] == ["FAILED", "FAILED"]
    assert all("worker process died: exit code 7" in t.error for t in trials)


def test_study_load_rebuilds_components_from_the_recorded_config(sqlite_url: str) -> None:
    kwargs = dict(
        space="nas_bench_201",
        evaluator="nas_bench_201_tabular",
        evaluator_args={"path": "tests/fixtures/nb201_fixture.csv"},
        searcher="regularized_evolution",
        searcher_args={"population_size": 5, "tournament_size": 2},
        storage=sqlite_url,
        seed=1,
    )
    first = ht.Study.create("nb", **kwargs)
    first.optimize(n_trials=12)
    again = ht.Study.load("nb", storage=sqlite_url)
    assert isinstance(again.searcher, RegularizedEvolution)
    assert again.searcher.population_size == 5
    assert [m.number for m in again.searcher.population] == [
        m.number for m in first.searcher.population
    ]
    again.optimize(n_trials=3)
    assert [t.number for t in again.trials()] == list(range(15))
    with pytest.raises(StudyExistsError):
        ht.Study.create("nb", **kwargs)
    changed = {
        **kwargs,
        "evaluator_args": {"path": kwargs["evaluator_args"]["path"], "metric": "params"},
    }
    with pytest.raises(ValueError, match="different evaluator configuration"):
        ht.Study.create("nb", load_if_exists=True, **changed)


def test_a_study_built_from_python_objects_needs_them_again_to_load(sqlite_url: str) -> None:
    ht.Study.create("objs", space=grid_space(), evaluator=QuadraticEvaluator(), storage=sqlite_url)
    with pytest.raises(ValueError, match="Python space object; pass `space=`"):
        ht.Study.load("objs", storage=sqlite_url)
    study = ht.Study.load(
        "objs", storage=sqlite_url, space=grid_space(), evaluator=QuadraticEvaluator()
    )
    assert study.name == "objs"


def test_interrupting_optimize_fails_in_flight_trials_and_releases_their_claims(
    sqlite_url: str,
) -> None:
    def score(c):
        if c["x"] == 3:
            raise KeyboardInterrupt
        return grid_score(c)

    study = ht.Study.create(
        "ctrl-c",
        space=grid_space(),
        evaluator=ht.FunctionEvaluator(score),
        searcher="random",
        storage=sqlite_url,
    )
    study.enqueue({"x": 2, "k": "a"})
    study.enqueue({"x": 3, "k": "a"})
    with pytest.raises(KeyboardInterrupt):
        study.optimize(n_trials=5)
    first, second = study.trials()
    assert first.state == "COMPLETE"
    assert second.state == "INTERRUPTED" and second.error.startswith("interrupted")
    assert (
        study.store.cache.lookup(study.task, second.functional_hash, version=study.cache.version)
        is None
    )
    assert study.count_toward_budget() == 1


def _mlp_run(searcher: str, args: dict, seed: int) -> list[float]:
    study = ht.Study.create(
        f"{searcher}-{seed}",
        space="mlp_digits",
        space_args={"max_depth": 2, "widths": [16, 32, 64]},
        evaluator="mlp_digits",
        evaluator_args={"epochs": 3},
        searcher=searcher,
        searcher_args=args,
        storage="sqlite:///:memory:",
        seed=seed,
        cache={"enabled": False},
    )
    study.optimize(n_trials=40)
    return [t.values[0] for t in study.trials() if t.values]


@pytest.mark.slow
def test_regularized_evolution_beats_random_search_on_the_mlp_space() -> None:
    """Median over 5 seeds at an equal budget of 40 trials (both start from the same 10 draws)."""
    evo_args = {"population_size": 10, "tournament_size": 3}
    best, top5 = {}, {}
    for name, args in (("regularized_evolution", evo_args), ("random", {})):
        runs = [_mlp_run(name, args, seed) for seed in range(5)]
        best[name] = statistics.median(max(r) for r in runs)
        top5[name] = statistics.median(statistics.mean(sorted(r)[-5:]) for r in runs)
    assert best["regularized_evolution"] >= best["random"], best
    assert top5["regularized_evolution"] > top5["random"], top5


def test_workers_sharing_a_study_stop_at_its_total(storage_url: str) -> None:
    """Two workers (own Store, own searcher) on one study: together they run exactly the total."""
    import threading
    import time

    def slow_score(c) -> float:
        time.sleep(0.02)
        return grid_score(c)

    workers = [
        ht.Study.create(
            "shared",
            space=grid_space(),
            evaluator=ht.FunctionEvaluator(slow_score),
            searcher="random",
            storage=storage_url,
            seed=seed,
            load_if_exists=True,
        )
        for seed in (1, 2)
    ]
    threads = [threading.Thread(target=w.optimize, kwargs={"total_trials": 12}) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    trials = ht.StudyView.open("shared", storage_url).trials()
    assert [t.number for t in trials] == list(range(12))
    assert {t.state for t in trials} <= {"COMPLETE", "CACHED"}
    assert len({t.worker for t in trials}) == 2, "both workers should have taken trials"


def test_a_component_that_cannot_be_built_creates_no_study(sqlite_url: str) -> None:
    from hashtune.study import ComponentError

    with pytest.raises(ComponentError, match=r"`searcher` \('regularized_evolution'.*populaton"):
        ht.Study.create(
            "typo",
            space=grid_space(),
            evaluator=ht.FunctionEvaluator(grid_score),
            searcher="regularized_evolution",
            searcher_args={"populaton_size": 4},
            storage=sqlite_url,
        )
    with pytest.raises(ComponentError, match="`executor` 'spark'"):
        ht.Study.create(
            "typo", space=grid_space(), evaluator=ht.FunctionEvaluator(grid_score),
            executor="spark", storage=sqlite_url,
        )  # fmt: skip
    assert Store(sqlite_url).studies.list() == [], "nothing may be written for a bad component"
