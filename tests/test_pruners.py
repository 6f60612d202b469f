"""Pruners: median and ASHA stop clearly bad trials and keep good ones."""

from __future__ import annotations

import math
import random

import pytest

from hashtune.search.pruners import (
    MedianPruner,
    NopPruner,
    SuccessiveHalvingPruner,
    make_pruner,
    pruner_names,
    value_at,
)


def curves(n: int, seed: int = 0, level: float = 0.8, steps: int = 10):
    """`n` noisy learning curves rising towards `level` (accuracy-like: higher is better)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        out.append(
            [(s, level * (1 - math.exp(-0.5 * s)) + rng.uniform(-0.02, 0.02)) for s in range(steps)]
        )
    return out


def test_value_at_takes_exact_step():
    assert value_at([(0, 1.0), (2, 3.0), (2, 4.0)], 2) == 4.0
    assert value_at([(0, 1.0)], 1) is None


def test_median_prunes_a_clearly_bad_curve_and_keeps_a_good_one():
    done = curves(8)
    pruner = MedianPruner("maximize", n_startup_trials=5)
    step = 4
    typical = value_at(done[0], step)
    assert pruner.should_prune(step, typical - 0.5, done)
    assert not pruner.should_prune(step, typical + 0.1, done)
    # Minimising the negated metric is the same decision.
    neg = [[(s, -v) for s, v in c] for c in done]
    minimizer = MedianPruner("minimize", n_startup_trials=5)
    assert minimizer.should_prune(step, -(typical - 0.5), neg)
    assert not minimizer.should_prune(step, -(typical + 0.1), neg)


def test_median_waits_for_startup_trials_and_warmup():
    done = curves(8)
    assert not MedianPruner("maximize", n_startup_trials=10).should_prune(4, -5.0, done)
    assert not MedianPruner("maximize", n_warmup_steps=5).should_prune(4, -5.0, done)
    assert MedianPruner("maximize", n_warmup_steps=5).should_prune(5, -5.0, done)
    # A step no finished trial reported: nothing to compare with.
    assert not MedianPruner("maximize").should_prune(99, -5.0, done)
    assert MedianPruner("maximize").should_prune(4, float("nan"), done)


def test_median_over_a_simulated_study_stops_bad_trials_early():
    rng = random.Random(1)
    pruner = MedianPruner("maximize", n_startup_trials=3, n_warmup_steps=1)
    done: list[list[tuple[int, float]]] = []
    stopped = {}
    levels = [0.7, 0.75, 0.8, 0.2, 0.85, 0.25, 0.9, 0.1]  # each good one beats the median
    for t, level in enumerate(levels):
        curve = []
        for s in range(10):
            v = level * (1 - math.exp(-0.5 * s)) + rng.uniform(-0.01, 0.01)
            curve.append((s, v))
            if pruner.should_prune(s, v, done):
                stopped[t] = s
                break
        done.append(curve)
    assert set(stopped) == {3, 5, 7}  # exactly the bad ones, after warm-up
    assert all(s <= 2 for s in stopped.values())


def test_asha_rungs_and_top_fraction():
    pruner = SuccessiveHalvingPruner("maximize", min_resource=1, reduction_factor=3)
    assert [pruner.rung_of(s) for s in (0, 1, 2, 3, 4, 9, 27, 28)] == [
        None, 0, None, 1, None, 2, 3, None,
    ]  # fmt: skip
    done = [[(1, v), (3, v + 0.1)] for v in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)]
    # With 9 values at rung 1 only the top 3 continue: 0.55 ranks 4th (after 0.8, 0.7, 0.6).
    assert pruner.should_prune(1, 0.05, done)
    assert pruner.should_prune(1, 0.55, done)
    assert not pruner.should_prune(1, 0.65, done)
    assert not pruner.should_prune(1, 0.75, done)
    assert not pruner.should_prune(1, 0.95, done)
    # Between rungs nothing is pruned, however bad.
    assert not pruner.should_prune(2, -100.0, done)
    # The first trials only compete with the best so far (ASHA's eta - 1 rule).
    assert not pruner.should_prune(1, 0.5, [])
    assert pruner.should_prune(1, 0.1, [[(1, 0.5)]])


def test_asha_minimize_and_min_resource():
    pruner = SuccessiveHalvingPruner("minimize", min_resource=2, reduction_factor=2)
    assert pruner.rung_of(1) is None and pruner.rung_of(2) == 0 and pruner.rung_of(8) == 2
    done = [[(2, loss)] for loss in (1.0, 2.0, 3.0)]
    assert pruner.should_prune(2, 5.0, done)  # a clearly bad (high) loss
    assert not pruner.should_prune(2, 0.5, done)


def test_make_pruner_and_errors():
    assert set(pruner_names()) == {"none", "median", "asha"}
    assert isinstance(make_pruner("none"), NopPruner)
    p = make_pruner("median", "minimize", n_startup_trials=2)
    assert isinstance(p, MedianPruner) and p.direction == "minimize" and p.n_startup_trials == 2
    assert isinstance(make_pruner("asha", reduction_factor=4), SuccessiveHalvingPruner)
    with pytest.raises(ValueError, match="'hyperband'"):
        make_pruner("hyperband")
    with pytest.raises(ValueError, match="'up'"):
        make_pruner("median", "up")
    with pytest.raises(ValueError, match="bogus"):
        make_pruner("asha", bogus=1)
    with pytest.raises(ValueError, match="reduction_factor"):
        SuccessiveHalvingPruner(reduction_factor=1)
