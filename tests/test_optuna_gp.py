"""The GP searcher's capped history: which finished trials the GP is fitted on."""

import numpy as np
import optuna
import pyglove as pg
import pytest
from optuna.distributions import FloatDistribution
from optuna.study import StudyDirection

from hashtune.search.base import Feedback
from hashtune.search.optuna_gp import CappedGPSampler, history_subset, keep_mask
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


@pytest.mark.parametrize("seed", range(20))
def test_a_masked_history_keeps_what_the_full_history_would_keep_later(seed):
    """Restoring only `keep_mask`'s trials changes no later fit: for any new trials, the cap
    applied to (kept + new) selects the same trials as applied to (all + new)."""
    rng = np.random.default_rng(seed)
    limit = int(rng.integers(2, 12))
    old = rng.integers(0, 8, size=(int(rng.integers(limit + 1, 40)), 1)).astype(float)  # ties
    new = rng.integers(0, 8, size=(int(rng.integers(1, 30)), 1)).astype(float)
    ids_old = np.arange(len(old))
    kept = keep_mask(old, limit)
    full = np.concatenate([old, new])
    part = np.concatenate([old[kept], new])
    ids_full = np.concatenate([ids_old, 1000 + np.arange(len(new))])
    ids_part = np.concatenate([ids_old[kept], 1000 + np.arange(len(new))])
    assert kept.sum() == limit
    assert list(ids_part[keep_mask(part, limit)]) == list(ids_full[keep_mask(full, limit)])


def test_a_resumed_gp_study_restores_only_what_it_fits_on_and_proposes_the_same():
    space = Space(pg.Dict(x=pg.floatv(0.0, 1.0), y=pg.floatv(0.0, 1.0)))
    first = GPSearcher(space, ("minimize",), seed=3, n_startup_trials=4, max_trials=8)
    history: list = []
    for i in range(30):
        p = first.ask(i)
        fb = (
            Feedback("FAILED") if i == 7 else Feedback("COMPLETE", (p.candidate.x - p.candidate.y,))
        )
        first.tell(p, fb)
        history.append((p, fb))

    def resumed(masked: bool) -> GPSearcher:
        s = GPSearcher(space, ("minimize",), seed=3, n_startup_trials=4, max_trials=8)
        if not masked:
            s.restore_mask = lambda values: None  # the whole history, as before
        s.restore(history)
        return s

    part, full = resumed(True), resumed(False)
    assert len(part.study.trials) == 8 and len(full.study.trials) == 30
    for i in range(30, 34):  # the same proposals and, told the same, the same next ones
        a, b = part.ask(i), full.ask(i)
        assert (a.candidate.x, a.candidate.y) == (b.candidate.x, b.candidate.y)
        for s, p in ((part, a), (full, b)):
            s.tell(p, Feedback("COMPLETE", (p.candidate.x - p.candidate.y,)))
    # a known DNA is still never proposed again, trials left out of the private study included
    told = {(p.candidate.x, p.candidate.y) for p, _ in history}
    assert all((p.candidate.x, p.candidate.y) not in told for p in [part.ask(40)])


def test_a_multi_objective_gp_study_restores_its_whole_history():
    space = Space(pg.Dict(x=pg.floatv(0.0, 1.0)))
    s = GPSearcher(space, ("minimize", "minimize"), seed=0, n_startup_trials=4, max_trials=4)
    history = []
    for i in range(10):
        p = s.ask(i)
        history.append((p, Feedback("COMPLETE", (p.candidate.x, 1 - p.candidate.x))))
    s.restore(history)
    assert len(s.study.trials) == 10


def test_a_gp_study_on_a_conditional_space_restores_its_whole_history():
    space = Space(pg.Dict(x=pg.floatv(0.0, 1.0), c=pg.oneof([pg.Dict(d=pg.floatv(0.0, 1.0)), 2])))
    s = GPSearcher(space, ("minimize",), seed=0, n_startup_trials=4, max_trials=4)
    history = [(p, Feedback("COMPLETE", (p.candidate.x,))) for p in (s.ask(i) for i in range(10))]
    s.restore(history)
    assert len(s.study.trials) == 10
