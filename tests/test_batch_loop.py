"""The batch loop: a searcher's batch hashed at once, known functions served, the rest paid."""

from __future__ import annotations

import hashtune as ht
from hashtune.batch_loop import optimize_batched
from hashtune.evaluators.base import FunctionEvaluator


def live_length(program) -> float:
    """A cheap deterministic score of a program: its number of live statements."""
    return float(len(program.live_statements()))


def test_batches_pay_once_per_function_and_serve_the_rest(tmp_path):
    study = ht.Study.create(
        "batch",
        space="optimizer_programs",
        space_args={"max_statements": 3},
        evaluator=FunctionEvaluator(live_length),
        searcher="regularized_evolution",
        searcher_args={"population_size": 8, "tournament_size": 3},
        storage=f"sqlite:///{tmp_path}/b.db",
        seed=1,
    )
    stats = optimize_batched(study, batches=3, batch_size=16)
    trials = study.store.trials.list(study.study_id)
    assert [t.number for t in trials] == list(range(48))
    assert stats.proposals == 48 and stats.paid + stats.cached == 48
    paid = [t for t in trials if t.state == "COMPLETE"]
    cached = [t for t in trials if t.state == "CACHED"]
    assert len(paid) == stats.paid == len({t.functional_hash for t in trials})
    assert cached, "3-slot programs repeat functions (e.g. every noop-only program)"
    by_id = {t.id: t for t in trials}
    for t in cached:
        src = by_id[t.cached_from_trial_id]
        assert src.state == "COMPLETE" and src.functional_hash == t.functional_hash
        assert src.values == t.values
    assert all(t.user_attrs.get("fidelity") == "-" for t in trials)
    # a second call learns the known functions from the store: nothing known is paid again
    more = optimize_batched(study, batches=1, batch_size=16)
    trials = study.store.trials.list(study.study_id)
    assert len({t.functional_hash for t in trials if t.state == "COMPLETE"}) == len(
        [t for t in trials if t.state == "COMPLETE"]
    )
    assert more.paid + more.cached == 16
