"""Proxy tasks and suite scores: tasks build, scores are relative to Adam, the suite ranks
real optimizers above SGD and an lr-ignoring program, the funnel promotes and caches per rung."""

from __future__ import annotations

import numpy as np
import pytest

from hashtune.evaluators.funnel import Funnel
from hashtune.evaluators.optimizer_suite import (
    CEIL,
    DECADES,
    FLOOR,
    Fidelity,
    OptimizerSuiteEvaluator,
    SuiteScorer,
    relative_scores,
)
from hashtune.evaluators.proxy_tasks import (
    META_TEST,
    SEARCH_SUITES,
    VALIDATION,
    TaskSpec,
    build_task,
)
from hashtune.spaces.optimizers.references import reference_programs

SMALL = Fidelity(
    "test",
    (
        TaskSpec("lin", "linreg", dim=8, cond=1e3, samples=32, batch=32),
        TaskSpec("par", "parity", hidden=(8,), activation="relu", dim=4, batch=16),
    ),
    steps=60,
    seeds=1,
)


def test_every_suite_task_builds_with_finite_loss_and_seeded_data():
    import jax

    specs = {s.name: s for suite in SEARCH_SUITES.values() for s in suite}
    specs.update({s.name: s for s in META_TEST})
    assert set(s.name for s in META_TEST).isdisjoint(s.name for s in SEARCH_SUITES[0])
    for spec in specs.values():
        task = build_task(spec)
        p = task.init(jax.random.PRNGKey(0))
        loss = float(task.loss(p, task.x_train[: task.batch], task.y_train[: task.batch]))
        assert np.isfinite(loss) and loss > 0, spec.name
        again = build_task(spec)
        np.testing.assert_array_equal(task.x_train, again.x_train)


def test_bad_task_spec_is_refused():
    with pytest.raises(ValueError, match="kind"):
        TaskSpec("x", "imagenet")
    with pytest.raises(ValueError, match="fidelity"):
        OptimizerSuiteEvaluator(fidelity=7)


def test_relative_scores_best_lr_floor_and_ceiling():
    ref = np.array([0.0, -1.0])  # Adam's best log10 loss per task
    losses = np.full((3, 2, 3, 2), 1.0)  # (programs, seeds, lrs, tasks)
    losses[0, :, 1, :] = [0.1, 0.01]  # program 0: best at lr 1, 10x better on task 0
    losses[1, 0, :, 0] = np.inf  # program 1: task 0 diverges on one seed at every lr
    losses[2, :, 2, 1] = 1e-12  # program 2: far better on task 1 (clipped)
    rel, best = relative_scores(losses, ref)
    assert rel[0, 0] == pytest.approx(1.0) and rel[0, 1] == pytest.approx(1.0)
    assert best[0, 0] == 1
    assert rel[1, 0] == FLOOR and rel[1, 1] == pytest.approx(-1.0)
    assert rel[2, 1] == CEIL


@pytest.fixture(scope="module")
def small_scores():
    refs = reference_programs()
    scored = SuiteScorer(SMALL).score(list(refs.values()))
    return {n: r["score"] for n, r in zip(refs, scored, strict=True)}


@pytest.mark.slow
def test_suite_ranks_adam_and_lion_above_sgd_and_punishes_ignoring_lr(small_scores):
    s = small_scores
    assert s["adam"] == pytest.approx(0.0, abs=1e-6)  # relative to itself
    assert s["adam"] > s["momentum"] > s["sgd"]
    assert s["lion"] > s["sgd"] + 0.2
    assert s["ignores_lr"] < s["adam"] - 1.0


@pytest.mark.slow
def test_funnel_promotes_the_top_and_caches_per_rung():
    refs = reference_programs()
    rung1 = Fidelity("test1", SMALL.tasks, steps=30, seeds=1, lrs=(1e-3, 1e-1))
    funnel = Funnel([SuiteScorer(SMALL), SuiteScorer(rung1)], promote_fraction=0.3, min_promote=1)
    items = [(name, p) for name, p in refs.items()]
    fits = funnel.run(items + [("adam", refs["adam"])])  # a duplicate key: a cache hit
    assert funnel.stats.paid == {0: len(refs), 1: 2} and funnel.stats.hits[0] == 1
    promoted = {k for (k, rung) in funnel.results if rung == 1}
    assert "adam" in promoted and "sgd" not in promoted and "ignores_lr" not in promoted
    assert dict(zip(refs, (r for _, r in fits[:-1]), strict=True))["adam"] == 1
    funnel.run([("adam", refs["adam"])])  # known at both rungs: nothing trains
    assert funnel.stats.paid == {0: len(refs), 1: 2}


def test_funnel_cache_hits_take_no_promotion_slot_and_finalists_are_distinct_keys():
    """With FEC a batch repeats known elites: their cached scores must not crowd out the new
    functions' promotions (before: the known best took the only slot and nothing new rose)."""
    refs = reference_programs()
    rung1 = Fidelity("test1", SMALL.tasks, steps=30, seeds=1, lrs=(1e-3, 1e-1))
    scorers = [SuiteScorer(SMALL), SuiteScorer(rung1)]
    funnel = Funnel(scorers, promote_fraction=0.0, min_promote=1, promote_above=FLOOR)
    funnel.run([("adam", refs["adam"]), ("sgd", refs["sgd"])])
    assert funnel.stats.paid == {0: 2, 1: 1}  # adam promoted
    batch = [("adam", refs["adam"])] * 5 + [("lion", refs["lion"]), ("sgd2", refs["sgd"])]
    fits = funnel.run(batch)
    assert funnel.stats.paid == {0: 4, 1: 2} and funnel.stats.hits[0] == 5
    up, down = sorted(["lion", "sgd2"], key=lambda k: -funnel.results[(k, 0)]["score"])
    assert (up, 1) in funnel.results and (down, 1) not in funnel.results  # the new one's slot
    assert fits[0][1] == 1 and fits[-1][1] == int(up == "sgd2")
    funnel.run([("sgd", refs["sgd"])] + [("momentum", refs["momentum"])])  # sgd: decided before
    assert ("momentum", 1) in funnel.results and ("sgd", 1) not in funnel.results
    final = funnel.finalists(10)
    assert [k for k, _, _ in final] == sorted(
        ["adam", up, "momentum"], key=lambda k: -funnel.results[(k, 1)]["score"]
    )
    assert all(p is refs[k.rstrip("2")] for k, _, p in final) and len(funnel.finalists(2)) == 2


def test_loss_scale_multiplies_the_loss_and_penalises_an_lr_free_step():
    import dataclasses

    import jax

    from hashtune.evaluators.optimizer_suite import SCALED_FIDELITIES

    for f in SCALED_FIDELITIES.values():  # each rung spans four decades of gradient scale
        scales = [t.loss_scale for t in f.tasks]
        assert len(set(scales)) == len(scales) and max(scales) / min(scales) >= 1e4
    plain = build_task(SMALL.tasks[1])
    scaled = build_task(dataclasses.replace(SMALL.tasks[1], loss_scale=100.0))
    p = plain.init(jax.random.PRNGKey(0))
    xb, yb = plain.x_train[:8], plain.y_train[:8]
    np.testing.assert_allclose(scaled.loss(p, xb, yb), 100.0 * plain.loss(p, xb, yb), rtol=1e-6)
    refs = reference_programs()
    progs = [refs["adam"], refs["ignores_lr"]]
    scales = (100.0, 0.01)
    tasks = tuple(
        dataclasses.replace(t, loss_scale=s) for t, s in zip(SMALL.tasks, scales, strict=True)
    )
    big = dataclasses.replace(SMALL, name="scaled", tasks=tasks)
    before, after = SuiteScorer(SMALL).score(progs), SuiteScorer(big).score(progs)
    # Adam's own losses move by the scale only (its reference is itself: 0 both times) ...
    assert before[0]["score"] == pytest.approx(0.0) and after[0]["score"] == pytest.approx(0.0)
    # ... while the step that ignores lr diverges where gradients are 100x larger
    assert after[1]["task_scores"]["lin"] == FLOOR
    assert after[1]["score"] < before[1]["score"]


def _shape(spec: TaskSpec) -> tuple:
    d = dict(spec.__dict__)
    del d["name"], d["loss_scale"]
    return tuple(sorted(d.items()))


def test_every_search_rung_has_a_noisy_regression_and_none_copies_held_out_tasks():
    held_out = {_shape(s) for s in META_TEST + VALIDATION}
    for r, suite in SEARCH_SUITES.items():
        assert any(s.kind == "linreg" and s.batch < s.samples for s in suite), r
        assert not held_out & {_shape(s) for s in suite}, r


def test_rung0_noisy_regression_ranks_adam_above_sign_and_plain_descent():
    noisy = next(s for s in SEARCH_SUITES[0] if s.kind == "linreg" and s.batch < s.samples)
    fid = Fidelity("noisy0", (noisy,), steps=100, seeds=1, lrs=DECADES)
    refs = reference_programs()
    names = ["adam", "lion", "sgd", "momentum"]
    out = SuiteScorer(fid).score([refs[n] for n in names])
    s = dict(zip(names, (x["score"] for x in out), strict=True))
    assert s["adam"] == pytest.approx(0.0, abs=1e-6)
    assert max(s["lion"], s["sgd"], s["momentum"]) < -0.5
