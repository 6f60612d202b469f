"""Optuna searchers: DNA ↔ Optuna mapping, learning, pending proposals, resume, TPE groups."""

from __future__ import annotations

import math
import random
import statistics

import optuna
import pyglove as pg
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState as OptunaState
from warm_start_case import push

from hashtune.search import optuna_space
from hashtune.search.base import Feedback, Proposal
from hashtune.search.book import dna_key
from hashtune.search.optuna_searchers import (
    DISCARDED_ATTR,
    CMAESSearcher,
    GPSearcher,
    OptunaSearcher,
    QMCSearcher,
    TPESearcher,
)
from hashtune.search.optuna_space import (
    dna_from_optuna_params,
    encode_dna,
    optuna_params_from_dna,
    suggest_dna,
)
from hashtune.search.registry import make_searcher, searcher_names
from hashtune.spaces.base import Space
from hashtune.warm_start import WarmStartQueue, next_proposal


def nested_space() -> Space:
    """Every kind of decision point, nested and conditional."""
    return Space(
        pg.Dict(
            a=pg.oneof(
                [pg.Dict(x=pg.oneof([1, 2, 3])), pg.Dict(y=pg.floatv(0.1, 1.0, scale="log")), 5]
            ),
            b=pg.manyof(2, ["p", "q", "r"], sorted=True),  # distinct + sorted → joint categorical
            c=pg.manyof(2, [1, 2, pg.Dict(z=pg.oneof([3, 4]))], distinct=False, sorted=True),
            d=pg.manyof(3, list(range(8))),  # distinct, 336 selections → Lehmer slots
            e=pg.manyof(3, [pg.Dict(w=pg.floatv(-1, 1)), "u", "v"], distinct=False),
            f=pg.oneof([pg.oneof([None, True, "x"]), pg.manyof(2, [pg.floatv(0, 1), 3, 4])]),
            g=pg.manyof(4, list(range(10)), sorted=True),  # distinct + sorted, 210 → slots
            h=pg.Dict(lr=pg.floatv(-3.0, 3.0), depth=pg.oneof([2, 4, 6, 8])),
        )
    )


def check_constraints(space: Space, dna: pg.DNA) -> None:
    c = space.materialize(dna)
    assert len(set(c.b)) == 2 and list(c.b) == sorted(c.b, key="pqr".index)
    assert len(set(c.d)) == 3
    assert list(c.g) == sorted(c.g) and len(set(c.g)) == 4


@pytest.mark.parametrize(
    "n", [pytest.param(40, id="fast"), pytest.param(200, id="200dna", marks=pytest.mark.slow)]
)
def test_mapping_round_trip_on_nested_conditional_space(n):
    space = nested_space()
    rng = random.Random(0)
    names: set[str] = set()
    for i in range(n):
        dna = space.random_dna(rng)
        enc = encode_dna(space, dna)
        assert dna_from_optuna_params(space, enc.params) == dna
        if i < 25:  # The ask side walks the same way: a FixedTrial with these params gives it too.
            assert suggest_dna(space, optuna.trial.FixedTrial(enc.params)) == dna
        for name, value in enc.params.items():
            assert enc.distributions[name]._contains(
                enc.distributions[name].to_internal_repr(value)
            )
        names |= set(enc.params)
    dists = encode_dna(space, space.random_dna(random.Random(1))).distributions
    assert dists["h.lr"] == FloatDistribution(-3.0, 3.0)
    assert dists["h.depth"] == IntDistribution(2, 8, step=2)
    assert dists["b"] == CategoricalDistribution(["0,1", "0,2", "1,2"])
    assert dists["d[1]"] == CategoricalDistribution(list(range(7)))  # index among the unpicked
    # Conditional params are named by their full path through the parent choice.
    assert {"a[=0/3].x", "a[=1/3].y", "c[1][=2/3].z", "f[=0/2]", "f[=1/2]"} <= names


def test_log_scale_and_inactive_params():
    space = Space(pg.Dict(c=pg.oneof([pg.Dict(lr=pg.floatv(1e-4, 1.0, scale="log")), 7])))
    on = pg.DNA([(0, 0.01)])
    on.use_spec(space.dna_spec)
    enc = encode_dna(space, on)
    assert enc.params == {"c": 0, "c[=0/2].lr": 0.01}
    assert enc.distributions["c[=0/2].lr"] == FloatDistribution(1e-4, 1.0, log=True)
    off = pg.DNA(1)
    off.use_spec(space.dna_spec)
    assert optuna_params_from_dna(space, off) == {"c": 1}
    assert dna_from_optuna_params(space, {"c": 1, "c[=0/2].lr": 0.5}) == off  # inactive ignored
    with pytest.raises(ValueError, match="c\\[=0/2\\].lr"):
        dna_from_optuna_params(space, {"c": 0})
    with pytest.raises(ValueError, match="'c'"):
        dna_from_optuna_params(space, {"c": 5})


def test_suggested_dna_satisfy_distinct_and_sorted():
    space = nested_space()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(30):
        trial = study.ask()
        dna = suggest_dna(space, trial)
        check_constraints(space, dna)
        study.tell(trial, 0.0)


# ---- a seeded problem: minimise a bowl over floats, an int range and a categorical --------------
def bowl_space() -> Space:
    return Space(
        pg.Dict(
            x=pg.floatv(-5.0, 5.0),
            y=pg.floatv(-5.0, 5.0),
            k=pg.oneof(list(range(10))),
            c=pg.oneof(["a", "b", "c", "d"]),
            lr=pg.floatv(1e-4, 1.0, scale="log"),
        )
    )


def bowl(c) -> float:
    return (
        (c.x - 1.5) ** 2
        + (c.y + 2.0) ** 2
        + 0.3 * (c.k - 7) ** 2
        + (0.0 if c.c == "c" else 2.0)
        + (math.log10(c.lr) + 2.0) ** 2
    )


def best_after(searcher, n: int) -> float:
    best = math.inf
    for i in range(n):
        p = searcher.ask(i)
        v = bowl(p.candidate)
        best = min(best, v)
        searcher.tell(p, Feedback("COMPLETE", (v,)))
    return best


def random_baseline(space: Space, n: int, seeds) -> float:
    bests = []
    for seed in seeds:
        rng = random.Random(seed)
        bests.append(min(bowl(space.materialize(space.random_dna(rng))) for _ in range(n)))
    return statistics.median(bests)


@pytest.mark.parametrize("cls", [TPESearcher, CMAESSearcher, QMCSearcher])
def test_searcher_beats_random_on_seeded_problem(cls):
    space = bowl_space()
    seeds = range(5)
    baseline = random_baseline(space, 40, seeds)
    ours = statistics.median(
        best_after(cls(space, directions=("minimize",), seed=s), 40) for s in seeds
    )
    assert ours < baseline, (cls.name, ours, baseline)


@pytest.mark.slow
def test_gp_beats_random_on_seeded_problem():
    """GP on the continuous part of the bowl (GPSampler is slow on big categorical spaces)."""
    space = Space(
        pg.Dict(
            x=pg.floatv(-5.0, 5.0), y=pg.floatv(-5.0, 5.0), lr=pg.floatv(1e-4, 1.0, scale="log")
        )
    )

    def f(c) -> float:
        return (c.x - 1.5) ** 2 + (c.y + 2.0) ** 2 + (math.log10(c.lr) + 2.0) ** 2

    seeds, n = range(3), 20
    rng = random.Random(0)
    baseline = statistics.median(
        min(f(space.materialize(space.random_dna(rng))) for _ in range(n)) for _ in seeds
    )
    bests = []
    for seed in seeds:
        s = GPSearcher(space, ("minimize",), seed=seed, n_startup_trials=6)
        best = math.inf
        for i in range(n):
            p = s.ask(i)
            best = min(best, f(p.candidate))
            s.tell(p, Feedback("COMPLETE", (f(p.candidate),)))
        bests.append(best)
    assert statistics.median(bests) < baseline / 2, (bests, baseline)


def small_discrete_space() -> Space:
    return Space(pg.Dict(a=pg.oneof([1, 2, 3, 4]), b=pg.oneof(["u", "v", "w"])))  # 12 DNA


@pytest.mark.parametrize("name", ["tpe", "cmaes", "qmc", "gp"])
def test_pending_proposals_differ(name):
    space = small_discrete_space()
    searcher = make_searcher(name, space, directions=("maximize",), seed=3)
    first = [searcher.ask(i) for i in range(8)]  # 8 outstanding before any tell
    assert len({dna_key(p.dna) for p in first}) == 8
    running = [t for t in searcher.study.trials if t.state == OptunaState.RUNNING]
    assert len(running) == 8  # one pending Optuna trial per proposal
    for p in first:
        searcher.tell(p, Feedback("COMPLETE", (float(p.candidate.a),)))
    more = [searcher.ask(8 + i) for i in range(4)]  # past the start-up trials for most samplers
    keys = {dna_key(p.dna) for p in first + more}
    assert len(keys) == 12  # the whole space, no repeat
    searcher_exhausted = searcher.ask(12)  # exhausted: a repeat is allowed, not an error
    assert dna_key(searcher_exhausted.dna) in keys


def test_tell_maps_states_and_cached_counts_as_complete():
    space = bowl_space()
    s = TPESearcher(space, directions=("minimize",), seed=0)
    ps = [s.ask(i) for i in range(5)]
    s.tell(ps[0], Feedback("COMPLETE", (1.0,)))
    s.tell(ps[1], Feedback("CACHED", (2.0,)))
    s.tell(ps[2], Feedback("FAILED"))
    s.tell(ps[3], Feedback("PRUNED"))
    s.tell(ps[4], Feedback("COMPLETE", (float("nan"),)))
    kept = [t for t in s.study.trials if DISCARDED_ATTR not in t.user_attrs]  # one per ask
    trials = dict(zip((p.number for p in ps), kept, strict=True))
    got = [(trials[p.number].state, trials[p.number].values) for p in ps]
    assert got == [
        (OptunaState.COMPLETE, [1.0]),
        (OptunaState.COMPLETE, [2.0]),
        (OptunaState.FAIL, None),
        (OptunaState.PRUNED, None),
        (OptunaState.FAIL, None),
    ]
    assert trials[ps[1].number].params == optuna_params_from_dna(space, ps[1].dna)
    with pytest.raises(ValueError, match="already told"):
        s.tell(ps[0], Feedback("COMPLETE", (1.0,)))
    p = s.ask(5)
    with pytest.raises(ValueError, match="feedback.values"):
        s.tell(p, Feedback("COMPLETE", (1.0, 2.0)))


def test_restore_continues_without_reproposing_finished():
    space = Space(
        pg.Dict(
            a=pg.oneof(list(range(6))),
            b=pg.oneof(["p", "q", "r", "s", "t", "u"]),
            c=pg.oneof([pg.Dict(d=pg.oneof([0, 1, 2])), 9]),
        )
    )  # 6 * 6 * 4 = 144 DNA

    def score(c) -> float:
        return -abs(c.a - 4) - "pqrstu".index(c.b) + (c.c.d if isinstance(c.c, dict) else 0)

    first = TPESearcher(space, seed=5, n_startup_trials=5)
    history: list[tuple[Proposal, Feedback | None]] = []
    for i in range(20):
        p = first.ask(i)
        fb = Feedback("FAILED") if i == 3 else Feedback("COMPLETE", (score(p.candidate),))
        first.tell(p, fb)
        history.append((p, fb))
    unfinished = first.ask(20)
    history.append((unfinished, None))

    resumed = TPESearcher(space, seed=5, n_startup_trials=5)
    resumed.restore(history)
    done = [t for t in resumed.study.trials if t.state == OptunaState.COMPLETE]
    assert len(done) == 19
    assert resumed.study.best_value == max(fb.values[0] for _, fb in history if fb and fb.ok)
    known = {dna_key(p.dna) for p, _ in history}
    new = [resumed.ask(21 + i) for i in range(40)]
    new_keys = [dna_key(p.dna) for p in new]
    assert not known & set(new_keys)
    assert len(set(new_keys)) == len(new_keys)
    # The resumed sampler is past start-up: its first proposals exploit what the history taught.
    random_mean = statistics.mean(
        score(space.materialize(space.random_dna(random.Random(i)))) for i in range(100)
    )
    assert statistics.mean(score(p.candidate) for p in new[:10]) > random_mean


def test_tell_of_a_proposal_from_another_instance_is_added():
    space = bowl_space()
    a, b = TPESearcher(space, seed=0), TPESearcher(space, seed=1)
    p = a.ask(0)
    b.tell(p, Feedback("COMPLETE", (3.0,)))
    (t,) = b.study.trials
    assert t.values == [3.0] and t.params == optuna_params_from_dna(space, p.dna)


def test_a_served_warm_start_is_proposed_even_if_known_and_told_to_the_sampler():
    space = small_discrete_space()
    s = QMCSearcher(space, seed=0)
    p0 = s.ask(0)
    s.tell(p0, Feedback("COMPLETE", (1.0,)))
    queue = WarmStartQueue(space)
    push(queue, p0.dna)
    served = next_proposal(queue, s, 1)
    assert served.dna == p0.dna
    (running,) = [t for t in s.study.trials if t.state == OptunaState.RUNNING]
    assert running.params == optuna_params_from_dna(space, p0.dna)  # the sampler sees it pending
    s.tell(served, Feedback("COMPLETE", (2.0,)))
    assert [t.values for t in s.study.trials] == [[1.0], [2.0]]
    with pytest.raises(ValueError, match="not a candidate"):
        push(queue, pg.DNA([7, 0]))


def test_multivariate_tpe_models_conditional_params_jointly(monkeypatch):
    """optuna#3363: without `group`, multivariate TPE samples conditional params independently."""
    space = Space(
        pg.Dict(
            c=pg.oneof(
                [
                    pg.Dict(x=pg.floatv(0.0, 1.0), y=pg.floatv(0.0, 1.0)),
                    pg.Dict(z=pg.floatv(0.0, 1.0), w=pg.oneof([1, 2, 3])),
                ]
            )
        )
    )
    independent: list[tuple[int, str]] = []
    relative: list[tuple[int, str]] = []
    orig_ind = optuna.samplers.TPESampler.sample_independent
    orig_rel = optuna.samplers.TPESampler.sample_relative

    def spy_ind(self, study, trial, name, dist):
        independent.append((trial.number, name))
        return orig_ind(self, study, trial, name, dist)

    def spy_rel(self, study, trial, search_space):
        out = orig_rel(self, study, trial, search_space)
        relative.extend((trial.number, n) for n in out)
        return out

    monkeypatch.setattr(optuna.samplers.TPESampler, "sample_independent", spy_ind)
    monkeypatch.setattr(optuna.samplers.TPESampler, "sample_relative", spy_rel)

    def run(**kw) -> set[str]:
        independent.clear()
        relative.clear()
        s = TPESearcher(space, seed=0, n_startup_trials=5, **kw)
        for i in range(16):
            p = s.ask(i)
            s.tell(p, Feedback("COMPLETE", (p.candidate.c.get("x", 0.5),)))
        return {n for t, n in independent if t >= 5}

    assert run() == set()  # default group=True: all post-start-up params come from the model
    assert {"c[=0/2].x", "c[=1/2].z"} <= {n for t, n in relative if t >= 5}
    # Control: plain multivariate TPE falls back to independent sampling on the same space.
    assert {"c[=0/2].x", "c[=1/2].z"} & run(group=False)


def test_multi_objective_tpe_and_registry():
    assert {"tpe", "gp", "cmaes", "qmc"} <= set(searcher_names())
    space = bowl_space()
    s = make_searcher("tpe", space, directions=("minimize", "maximize"), seed=0, n_startup_trials=4)
    assert isinstance(s, TPESearcher) and isinstance(s, OptunaSearcher)
    for i in range(10):
        p = s.ask(i)
        s.tell(p, Feedback("COMPLETE", (bowl(p.candidate), p.candidate.x)))
    assert len(s.study.best_trials) >= 1
    with pytest.raises(ValueError, match="single-objective"):
        CMAESSearcher(space, directions=("minimize", "maximize"))
    with pytest.raises(ValueError, match="bogus"):
        TPESearcher(space, bogus=1)


def test_custom_decision_point_is_sampled_and_round_trips():
    space = Space(
        pg.Dict(
            prog=pg.evolve(pg.List([1, 2, 3]), lambda k, v, p: v + 1 if isinstance(v, int) else v),
            lr=pg.floatv(0.0, 1.0),
        )
    )
    s = TPESearcher(space, seed=0)
    p = s.ask(0)
    assert list(p.candidate.prog) == [1, 2, 3]
    enc = encode_dna(space, p.dna)
    assert set(enc.params) == {"lr"} and set(enc.custom) == {"prog"}
    assert dna_from_optuna_params(space, enc.params, enc.custom) == p.dna
    s.tell(p, Feedback("COMPLETE", (1.0,)))
    s.restore([(p, Feedback("COMPLETE", (1.0,)))])
    assert optuna_space.custom_values_of_trial(s.study.trials[0]) == enc.custom


def test_tpe_groups_only_conditional_spaces():
    """`group` costs a pass over all trials per ask, so flat spaces do without it."""
    from hashtune.search.optuna_searchers import has_conditional_decisions
    from hashtune.spaces.mlp import mlp_space
    from hashtune.spaces.nas_bench_201 import nas_bench_201_space

    flat, nested = nas_bench_201_space(), mlp_space()
    assert not has_conditional_decisions(flat) and has_conditional_decisions(nested)
    assert TPESearcher(flat, seed=0).study.sampler._group is False
    assert TPESearcher(nested, seed=0).study.sampler._group is True
    assert TPESearcher(flat, seed=0, group=True).study.sampler._group is True
