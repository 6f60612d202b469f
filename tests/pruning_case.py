"""One pruning scenario for every executor: six enqueued points, a median pruner, known decisions."""

from __future__ import annotations

import pyglove as pg

import hashtune as ht
from hashtune.evaluators.testing import QuadraticEvaluator

XS = [0.0, 0.5, 0.25, 2.0, 0.1, 3.0]


def run_pruned_study(name: str, executor: str, storage: str) -> ht.Study:
    """The six points scored on `executor` (one worker) with a median pruner after 2 trials."""
    study = ht.Study.create(
        name, space=ht.Space(pg.Dict(x=pg.oneof(sorted(XS)))),
        evaluator=QuadraticEvaluator(target=0.0, steps=5), searcher="random",
        executor=executor, executor_args={"max_workers": 1}, storage=storage,
        pruner="median", pruner_args={"n_startup_trials": 2, "n_warmup_steps": 1},
    )  # fmt: skip
    for x in XS:
        assert study.enqueue(pg.Dict(x=x))
    study.optimize(n_trials=len(XS))
    return study


def assert_pruned_as_the_driver_decided(study: ht.Study) -> None:
    """Trials 3 and 5 pruned at step 1; the store holds every curve, pruned ones cut there."""
    trials = study.trials()
    assert [t.state for t in trials] == ["COMPLETE"] * 3 + ["PRUNED", "COMPLETE", "PRUNED"]
    for t in trials:
        steps = [s for s, _ in t.intermediate]
        assert steps == ([0, 1] if t.state == "PRUNED" else [0, 1, 2, 3, 4]), (t.number, steps)
