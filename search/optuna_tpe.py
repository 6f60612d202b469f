"""Optuna's `TPESampler` without re-reading every finished trial on every ask.

Each ask, TPE turns the parameters of every trial it models into Optuna's internal floats, one
Python call per trial and parameter: at 10,000 trials that loop is a large part of an ask. A
finished trial's parameters never change, so `IncrementalTPESampler` keeps each finished trial's
row (per search space) and converts only the new and the running trials. The proposals are the
ones `TPESampler` makes with the same arguments and seed (tests/test_optuna_tpe.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial

_ABSENT = object()


class IncrementalTPESampler(optuna.samplers.TPESampler):
    """`TPESampler` that remembers each finished trial's internal representation."""

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        # (study name, search space) -> trial number -> row of internal values (None: the
        # trial lacks one of the space's parameters, so TPE skips it).
        self._rows: dict[tuple, dict[int, tuple[float, ...] | None]] = {}

    def _row(
        self, trial: FrozenTrial, space: dict[str, BaseDistribution], study: optuna.Study
    ) -> tuple[float, ...] | None:
        params = self._get_params(trial, study)
        if not space.keys() <= params.keys():
            return None
        return tuple(d.to_internal_repr(params[name]) for name, d in space.items())

    # Optuna's per-ask conversion of the modelled trials (private there; pinned by
    # tests/test_optuna_tpe.py, which compares every proposal with TPESampler's).
    def _get_internal_repr(  # type: ignore[override]
        self,
        trials: list[FrozenTrial],
        search_space: dict[str, BaseDistribution],
        study: optuna.Study,
    ) -> dict[str, np.ndarray]:
        memo = self._rows.setdefault((study.study_name, tuple(search_space.items())), {})
        rows = []
        for trial in trials:
            if trial.state.is_finished():
                row = memo.get(trial.number, _ABSENT)
                if row is _ABSENT:
                    row = memo[trial.number] = self._row(trial, search_space, study)
            else:  # a running trial (constant liar): its parameters may still grow
                row = self._row(trial, search_space, study)
            if row is not None:
                rows.append(row)
        if not rows:
            return {name: np.asarray([]) for name in search_space}
        columns = np.asarray(rows, dtype=float).T.copy()
        return {name: columns[j] for j, name in enumerate(search_space)}
