"""IncrementalTPESampler proposes exactly what Optuna's TPESampler proposes, converting each
finished trial once instead of once per ask."""

from __future__ import annotations

import math
import random

import optuna
import pytest

from hashtune.search.optuna_searchers import TPESearcher
from hashtune.search.optuna_tpe import IncrementalTPESampler
from hashtune.spaces.mlp import mlp_space

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _suggest(trial: optuna.Trial) -> list[float]:
    """A conditional space: floats (one log), an int, a categorical, and a branch-only float."""
    x = trial.suggest_float("x", -2.0, 2.0)
    lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
    width = trial.suggest_int("width", 1, 64)
    kind = trial.suggest_categorical("kind", ["a", "b", "c"])
    extra = trial.suggest_float("extra", 0.0, 1.0) if kind == "b" else 0.0
    return [
        (x - 0.3) ** 2 + math.log10(lr) ** 2 / 10 + abs(width - 17) / 64 + extra,
        abs(x) + (kind != "c"),
    ]


def _run(sampler: optuna.samplers.BaseSampler, objectives: int, n: int, seed: int) -> list:
    """Ask/tell with up to three trials in flight (constant liar sees RUNNING trials); some
    trials fail or are pruned, so every state TPE reads occurs."""
    study = optuna.create_study(sampler=sampler, directions=["minimize"] * objectives)
    rng, pending, params = random.Random(seed), [], []
    while len(params) < n:
        trial = study.ask()
        values = _suggest(trial)[:objectives]
        params.append(dict(trial.params))
        pending.append((trial, values))
        if len(pending) >= rng.randint(1, 3):
            done, vals = pending.pop(rng.randrange(len(pending)))
            u = rng.random()
            if u < 0.05:
                study.tell(done, state=optuna.trial.TrialState.FAIL)
            elif u < 0.1:
                study.tell(done, state=optuna.trial.TrialState.PRUNED)
            else:
                study.tell(done, vals)
    return params


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
@pytest.mark.parametrize(
    ("objectives", "kwargs"),
    [
        (1, {"multivariate": True, "constant_liar": True, "group": True}),
        (1, {"multivariate": True, "constant_liar": True}),
        (1, {}),
        (2, {"multivariate": True, "constant_liar": True, "group": True}),
    ],
)
def test_proposals_equal_tpe_samplers(objectives: int, kwargs: dict) -> None:
    stock = _run(optuna.samplers.TPESampler(seed=7, **kwargs), objectives, 100, seed=1)
    incremental = _run(IncrementalTPESampler(seed=7, **kwargs), objectives, 100, seed=1)
    assert incremental == stock


def test_each_finished_trial_is_converted_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    original = IncrementalTPESampler._row

    def counting(self, trial, space, study):  # type: ignore[no-untyped-def]
        calls.append(trial.number)
        return original(self, trial, space, study)

    monkeypatch.setattr(IncrementalTPESampler, "_row", counting)
    sampler = IncrementalTPESampler(seed=0, multivariate=True, constant_liar=True)
    n = 120
    _run(sampler, 1, n, seed=3)
    # Re-converting every trial on every ask costs about n²/2 conversions (7,200 here); once
    # per finished trial plus the few running ones per ask stays linear.
    assert len(calls) < 8 * n
    assert sum(len(rows) for rows in sampler._rows.values()) > n // 2


def test_tpe_searcher_drives_the_incremental_sampler() -> None:
    searcher = TPESearcher(mlp_space(), seed=0)
    assert isinstance(searcher.study.sampler, IncrementalTPESampler)
