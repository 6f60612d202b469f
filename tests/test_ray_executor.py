"""Studies on real Ray workers: results, a timeout and a crashing candidate fail only their trials."""

from __future__ import annotations

import pyglove as pg
import pytest

import hashtune as ht
from hashtune.evaluators.testing import ExitEvaluator, QuadraticEvaluator, SleepEvaluator

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def space() -> ht.Space:
    return ht.Space(pg.Dict(x=pg.oneof([-2.0, -1.0, 0.0, 1.0, 2.0])), "line")


def test_a_study_on_ray_workers_scores_every_trial(ray_local, sqlite_url) -> None:
    study = ht.Study.create(
        "ray",
        space=space(),
        evaluator=QuadraticEvaluator(target=1.0),
        searcher="random",
        executor="ray",
        executor_args={"max_workers": 2},
        storage=sqlite_url,
    )
    study.optimize(n_trials=5)
    trials = study.trials()
    assert [t.state for t in trials] == ["COMPLETE"] * 5
    assert study.best_trial.values == (0.0,)
    assert all(t.user_attrs["eval_seconds"] > 0 for t in trials)
    assert sorted(t.values[0] for t in trials) == [-9.0, -4.0, -1.0, -1.0, 0.0]


def test_timeouts_and_crashes_on_ray_fail_only_their_trials(ray_local, sqlite_url) -> None:
    slow = ht.Study.create(
        "ray-timeout",
        space=space(),
        evaluator=SleepEvaluator(seconds=30.0),
        searcher="random",
        executor="ray",
        storage=sqlite_url,
    )
    slow.optimize(n_trials=2, trial_timeout=1.0)
    assert [t.state for t in slow.trials()] == ["FAILED", "FAILED"]
    assert all("timed out after 1s" in t.error for t in slow.trials())
    crash = ht.Study.create(
        "ray-crash",
        space=space(),
        evaluator=ExitEvaluator(code=9),
        searcher="random",
        executor="ray",
        storage=sqlite_url,
    )
    crash.optimize(n_trials=2)
    assert [t.state for t in crash.trials()] == ["FAILED", "FAILED"]
    assert all("worker process died" in t.error for t in crash.trials())
