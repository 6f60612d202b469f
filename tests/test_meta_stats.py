"""Replicated meta-test scores and the noise-aware verdict against Adam."""

from __future__ import annotations

import numpy as np
import pytest

from hashtune.evaluators.meta_stats import (
    ReplicateScorer,
    compare,
    noise_band,
    paired_ci,
    verdict,
)
from hashtune.evaluators.optimizer_suite import QUICK_META_FIDELITY
from hashtune.spaces.optimizers.program import Program
from hashtune.spaces.optimizers.seeds import ADAM, SGD


def test_paired_ci_holds_the_mean_and_shrinks_with_less_noise():
    rng = np.random.default_rng(0)
    noisy = 0.2 + rng.normal(0.0, 0.5, size=(8, 4))
    quiet = 0.2 + rng.normal(0.0, 0.05, size=(8, 4))
    m, lo, hi = paired_ci(noisy)
    assert lo < m < hi and m == pytest.approx(noisy.mean())
    qm, qlo, qhi = paired_ci(quiet)
    assert qhi - qlo < (hi - lo) / 4 and qlo > 0  # a clear +0.2 is resolved
    assert paired_ci(np.full((6, 3), -0.4)) == pytest.approx((-0.4, -0.4, -0.4))
    with pytest.raises(ValueError):
        paired_ci(np.zeros((1, 4)))


def test_verdict_reads_the_interval_against_the_band():
    assert verdict(0.3, 0.1, 0.5, band=0.05) == "beats"
    assert verdict(-0.1, -0.3, 0.1, band=0.05) == "matches"  # holds 0
    assert verdict(-0.04, -0.06, -0.02, band=0.05) == "matches"  # below 0, within the band
    assert verdict(-0.2, -0.3, -0.1, band=0.05) == "below"


def test_compare_pairs_with_adams_row_and_adam_matches_itself():
    rng = np.random.default_rng(1)
    adam = rng.normal(0.0, 0.03, size=(8, 4))  # Adam in the batch vs Adam alone: noise
    better = adam + 0.3 + rng.normal(0.0, 0.05, size=(8, 4))
    worse = adam - 1.0
    band, rows = compare(np.stack([adam, better, worse]), adam_row=0)
    assert band == pytest.approx(noise_band(adam)) and 0 < band < 0.1
    assert [r["verdict"] for r in rows] == ["matches", "beats", "below"]
    assert rows[0]["diff"] == 0.0 and rows[2]["diff"] == pytest.approx(-1.0)


def test_replicate_scorer_scores_each_seed_group_against_adam_alone():
    sc = ReplicateScorer(QUICK_META_FIDELITY, replicates=3)
    adam, sgd = Program.from_source(ADAM), Program.from_source(SGD)
    s = sc.task_scores([adam, sgd])
    assert s.shape == (2, 3, len(QUICK_META_FIDELITY.tasks))
    np.testing.assert_allclose(s[0], 0.0, atol=1e-6)  # the same batch as its reference: 0
    assert sc.reference.shape == (3, len(QUICK_META_FIDELITY.tasks))
    assert len({tuple(r) for r in np.round(sc.reference, 6)}) == 3  # three seed groups differ
    assert np.all(s[1] <= 1.0) and np.all(s[1] >= -3.0)
    with pytest.raises(ValueError):
        ReplicateScorer(QUICK_META_FIDELITY, replicates=1)
