"""Studies on real Ray workers: results, a timeout and a crashing candidate fail only their trials."""

from __future__ import annotations

import time

import pyglove as pg
import pytest
from pruning_case import assert_pruned_as_the_driver_decided, run_pruned_study

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
        executor_args={"max_retries": 0},  # a crash is retried like a lost node otherwise
        storage=sqlite_url,
    )
    crash.optimize(n_trials=2)
    assert [t.state for t in crash.trials()] == ["FAILED", "FAILED"]
    assert all("worker process died" in t.error for t in crash.trials())


def test_median_pruner_stops_bad_trials_on_ray_workers(ray_local, sqlite_url) -> None:
    assert_pruned_as_the_driver_decided(run_pruned_study("ray-prune", "ray", sqlite_url))


def test_ray_keeps_the_live_curve_of_a_timed_out_task_and_cancels_on_shutdown(ray_local) -> None:
    from hashtune.evaluators.executors.ray import RayExecutor

    ex = RayExecutor(max_workers=2)
    never = lambda step, value, own: False  # noqa: E731
    warm = ex.submit(QuadraticEvaluator(), 1.0, 0, None, never).result(60)  # worker, actor up
    assert warm.state == "COMPLETE"
    out = ex.submit(SleepEvaluator(None, report_every=0.05), None, 0, 2.0, never).result(60)
    assert out.state == "FAILED" and out.error == "timed out after 2s"
    assert len(out.intermediate) >= 3  # received live; the killed worker took its own copy
    hanging = ex.submit(SleepEvaluator(None), None, 1)
    time.sleep(1.0)
    t0 = time.monotonic()
    ex.shutdown(wait=False)
    cancelled = hanging.result(timeout=30)
    assert cancelled.state == "FAILED" and time.monotonic() - t0 < 15


def test_ray_options_validate_and_pass_per_trial_resources(ray_local) -> None:
    from hashtune.evaluators.executors.ray import RayExecutor

    ex = RayExecutor(num_cpus_per_trial=0.5, num_gpus_per_trial=0.25, resources_per_trial={"x": 1})
    assert ex.task_options == {
        "num_cpus": 0.5, "num_gpus": 0.25, "max_retries": 3, "retry_exceptions": False,
        "resources": {"x": 1},
    }  # fmt: skip
    for bad in ({"GPU": 1}, {"x": -1}):
        with pytest.raises(ValueError, match="resources_per_trial"):
            RayExecutor(resources_per_trial=bad)
    with pytest.raises(ValueError, match="max_retries"):
        RayExecutor(max_retries=-1)
