"""Optuna's `GPSampler` with the history it fits capped: an exact GP costs O(n³) per fit, so at
thousands of trials one ask takes minutes (a resumed 10k-trial study never reached its first
trial). `CappedGPSampler(max_trials=N)` fits the GP on at most N finished trials: the best half
(by their best rank over the objectives) and the most recent rest, a common practice with exact
GPs (BoTorch users subsample or window their history the same way).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial


def keep_mask(values: np.ndarray, limit: int) -> np.ndarray:
    """Which rows of `values` (n, objectives; smaller is better) a capped GP keeps: the
    `limit // 2` best by their best rank over the objectives, then the most recent others."""
    ranks = np.argsort(np.argsort(values, axis=0, kind="stable"), axis=0, kind="stable")
    best = np.argsort(ranks.min(axis=1), kind="stable")[: limit // 2]
    keep = np.zeros(len(values), dtype=bool)
    keep[best] = True
    rest = np.flatnonzero(~keep)[-(limit - len(best)) :]
    keep[rest] = True
    return keep


def history_subset(
    trials: list[FrozenTrial], directions: list[StudyDirection], limit: int | None
) -> list[FrozenTrial]:
    """At most `limit` of the finished `trials`, in their order (`keep_mask`)."""
    if limit is None or len(trials) <= limit:
        return trials
    signs = np.array([1.0 if d == StudyDirection.MINIMIZE else -1.0 for d in directions])
    keep = keep_mask(signs * np.array([t.values for t in trials], dtype=float), limit)
    return [t for t, k in zip(trials, keep, strict=True) if k]


class CappedGPSampler(optuna.samplers.GPSampler):
    """`GPSampler` fitting on at most `max_trials` finished trials (None: all of them)."""

    def __init__(self, *, max_trials: int | None = 300, **kwargs: Any):
        if max_trials is not None and (not isinstance(max_trials, int) or max_trials < 2):
            raise ValueError(f"`max_trials` must be an int >= 2 or None, got {max_trials!r}")
        super().__init__(**kwargs)
        self.max_trials = max_trials

    def restore_mask(
        self, values: list[list[float]], directions: list[StudyDirection]
    ) -> np.ndarray | None:
        """Which of a resumed study's finished trials (their `values`, in order) the private
        study needs, None: all. Single-objective only: there, the trials a later fit keeps are
        always among those `keep_mask` keeps now plus the new ones, so restoring the rest would
        change no fit; with several objectives the ranks can reorder, so all are restored."""
        if self.max_trials is None or len(directions) != 1 or len(values) <= self.max_trials:
            return None
        sign = 1.0 if directions[0] == StudyDirection.MINIMIZE else -1.0
        return keep_mask(sign * np.array(values, dtype=float), self.max_trials)

    # Optuna's hook between collecting the trials and fitting the GP (private there; pinned by
    # tests/test_search_optuna.py, which checks that the fit sees the capped history).
    def _sample_relative_impl(  # type: ignore[override]
        self,
        study: optuna.Study,
        completed_trials: list[FrozenTrial],
        running_trials: list[FrozenTrial],
        search_space: dict[str, Any],
    ) -> dict[str, Any]:
        capped = history_subset(completed_trials, study.directions, self.max_trials)
        return super()._sample_relative_impl(study, capped, running_trials, search_space)
