"""The search rungs' strict fitness: a floored task is not bought back; validation/meta keep the mean."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hashtune.evaluators.optimizer_suite import (
    CEIL,
    FIDELITIES,
    FLOOR,
    META_FIDELITY,
    QUICK_FIDELITIES,
    SCALED_FIDELITIES,
    SEARCH_SLACK,
    STRICT,
    VALIDATION_FIDELITY,
    Fidelity,
    SuiteScorer,
    search_fitness,
)
from hashtune.evaluators.proxy_tasks import TaskSpec
from hashtune.spaces.optimizers.references import reference_programs


def test_defaults_are_the_plain_mean():
    rel = np.random.default_rng(0).uniform(FLOOR, CEIL, size=(5, 4))
    np.testing.assert_allclose(search_fitness(rel), rel.mean(axis=1))


def test_a_floored_task_is_not_bought_back_by_ceilings_elsewhere():
    exploit = [FLOOR, CEIL, CEIL, CEIL]  # e.g. clip-momentum: linreg floored, parity at the ceiling
    behind = [-0.3, -0.3, -0.3, -0.3]  # a little behind Adam everywhere
    adam = [0.0, 0.0, 0.0, 0.0]
    mean = search_fitness(np.array([exploit, behind, adam]))
    assert mean[0] == pytest.approx(mean[2]) and mean[0] > mean[1]  # the mean: exploit = Adam
    strict = search_fitness(np.array([exploit, behind, adam]), **STRICT)
    assert strict[0] < strict[1] < strict[2] == 0.0
    assert strict[0] < -1.0  # far below Adam: measurement noise (~0.1) cannot bridge it


def test_a_small_deficit_within_the_slack_costs_only_its_mean_share():
    nobc = np.array([[1.0, 0.62, 0.06, -SEARCH_SLACK + 0.1]])  # adam_nobc-like, at scaled rung 1
    strict = search_fitness(nobc, **STRICT)
    capped = np.minimum(nobc, STRICT["ceil"]).mean()
    assert strict[0] == pytest.approx(capped) and strict[0] > 0.0  # still ranks above Adam


def test_search_rungs_are_strict_and_validation_and_meta_keep_their_config():
    for fid in [*FIDELITIES.values(), *SCALED_FIDELITIES.values(), *QUICK_FIDELITIES.values()]:
        assert (fid.ceil, fid.min_weight, fid.slack) == tuple(STRICT.values()), fid.name
        assert fid.config()["aggregate"] == STRICT
    for fid in (VALIDATION_FIDELITY, META_FIDELITY):  # mean, and the config (cache key) unchanged
        assert (fid.ceil, fid.min_weight, fid.slack) == (CEIL, 0.0, 0.0)
        assert "aggregate" not in fid.config()


class _FixedLosses:
    """Stands in for the trainer: the given losses (N, seeds, lrs, T), whatever the programs."""

    def __init__(self, losses: np.ndarray):
        self.losses_ = losses

    def losses(self, programs: list) -> np.ndarray:
        return self.losses_[: len(programs)]


def test_suite_scorer_scores_with_its_fidelitys_aggregation():
    tasks = (
        TaskSpec("lin", "linreg", dim=4, cond=10.0, samples=8, batch=8),
        TaskSpec("par", "parity", hidden=(4,), activation="relu", dim=3, batch=8),
    )
    plain = Fidelity("t", tasks, steps=2, seeds=1, lrs=(1e-3, 1e-1))
    losses = np.ones((3, 1, 2, 2))
    losses[1, :, :, 0] = np.inf  # program 1: diverges on task 0 at every lr
    losses[1, :, 1, 1] = 1e-9  # ... and is far better than Adam on task 1
    losses[2, :, 0, :] = 0.5  # program 2: a little better everywhere
    refs = list(reference_programs().values())[:3]
    out = {}
    for name, fid in (("plain", plain), ("strict", dataclasses.replace(plain, **STRICT))):
        sc = SuiteScorer(fid)
        sc.trainer, sc._ref = _FixedLosses(losses), np.zeros(2)
        out[name] = sc.score(refs)
    for x, y in zip(out["plain"], out["strict"], strict=True):
        assert x["task_scores"] == y["task_scores"]
        rel = np.array([list(x["task_scores"].values())])
        assert x["score"] == pytest.approx(rel.mean())
        assert y["score"] == pytest.approx(search_fitness(rel, **STRICT)[0])
    assert out["plain"][1]["score"] == pytest.approx(-1.0)  # (-3 + 1) / 2
    assert out["strict"][1]["score"] < out["strict"][0]["score"] - 2.0
    assert out["strict"][2]["score"] > 0.0


def test_one_task_at_minus_one_is_not_bought_back_by_two_ceilings():
    # The islands run's FEC best at scaled rung 1 (CPU): noisy linreg -0.99, mlp64 and parity7 at
    # the ceiling. Under weight 0.5 / slack 0.5 it scored +0.02 (level with Adam); now far below.
    found = np.array([[-0.99, 0.07, 1.0, 1.0]])
    assert search_fitness(found, **STRICT)[0] < -0.5
    nobc = np.array([[1.0, 0.85, 0.39, -0.37]])  # adam_nobc there: a small deficit on parity7
    assert search_fitness(nobc, **STRICT)[0] > 0.0
