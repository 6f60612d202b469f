"""The GP searcher's capped history: which finished trials the GP is fitted on."""

import optuna
import pyglove as pg
import pytest
from optuna.distributions import FloatDistribution
from optuna.study import StudyDirection

from hashtune.search.base import Feedback
from hashtune.search.optuna_gp import CappedGPSampler, history_subset
from hashtune.search.optuna_searchers import GPSearcher
from hashtune.spaces.base import Space

pytest.importorskip("torch")


def trials_with(values: list[tuple[float, ...]]) -> list[optuna.trial.FrozenTrial]:
    out = []
    for i, v in enumerate(values):
        t = optuna.trial.create_trial(
            params={"x": 0.5}, distributions={"x": FloatDistribution(0, 1)}, values=list(v)
        )
        t.number = i
        out.append(t)
    return out


def test_history_subset_keeps_the_best_half_and_the_most_recent_rest_in_order():
    trials = trials_with([(v,) for v in [5.0, 0.0, 9.0, 1.0, 8.0, 7.0, 6.0, 4.0, 3.0, 2.0]])
    kept = history_subset(trials, [StudyDirection.MINIMIZE], 6)
    assert [t.number for t in kept] == [1, 3, 6, 7, 8, 9]  # best 0.0, 1.0, 2.0; recent 6, 7, 8
    kept = history_subset(trials, [StudyDirection.MAXIMIZE], 4)
    assert [t.number for t in kept] == [2, 4, 8, 9]  # best 9.0, 8.0; recent 8, 9
    assert history_subset(trials, [StudyDirection.MINIMIZE], None) is trials
    assert history_subset(trials, [StudyDirection.MINIMIZE], 10) is trials


def test_history_subset_keeps_trials_best_in_any_objective():
    trials = trials_with([(5.0, 5.0), (0.0, 9.0), (9.0, 0.0), (6.0, 6.0), (7.0, 7.0), (8.0, 8.0)])
    kept = history_subset(trials, [StudyDirection.MINIMIZE] * 2, 4)
    assert [t.number for t in kept] == [1, 2, 4, 5]  # best in one objective each; recent 4, 5


def test_gp_searcher_fits_the_gp_on_at_most_max_trials(monkeypatch):
    seen: list[int] = []
    original = optuna.samplers.GPSampler._sample_relative_impl

    def spy(self, study, completed, running, search_space):
        seen.append(len(completed))
        return original(self, study, completed, running, search_space)

    monkeypatch.setattr(optuna.samplers.GPSampler, "_sample_relative_impl", spy)
    space = Space(pg.Dict(x=pg.floatv(0.0, 1.0), y=pg.floatv(0.0, 1.0)))
    s = GPSearcher(space, ("minimize",), seed=0, n_startup_trials=4, max_trials=6)
    assert isinstance(s.study.sampler, CappedGPSampler)
    for i in range(12):
        p = s.ask(i)
        s.tell(p, Feedback("COMPLETE", (p.candidate.x + p.candidate.y,)))
    assert seen and max(seen) == 6 and seen[0] == 4, seen


def test_gp_searcher_rejects_a_bad_max_trials():
    space = Space(pg.Dict(x=pg.floatv(0.0, 1.0)))
    with pytest.raises(ValueError, match="max_trials"):
        GPSearcher(space, ("minimize",), seed=0, max_trials=1)
