"""Read-only view of a study in the store: trials, best, Pareto front, stats, DataFrame.

The CLI's read commands use it directly (no space, evaluator or searcher is built, nothing is
written); `Study` extends it with the optimize loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from hashtune.accounting import (
    SIMULATED_COST_KEY,
    AuditSummary,
    SimulatedCost,
    audit_summary,
    simulated_cost,
)
from hashtune.dataframe import trials_dataframe
from hashtune.store import Store, StudyRecord, StudyStats, TrialRecord
from hashtune.vocabulary import SCORED_STATES, is_maximize

SCORED = tuple(sorted(SCORED_STATES))


class StudyView:
    """A study row plus the queries people ask of it."""

    store: Store
    record: StudyRecord

    @classmethod
    def open(cls, name: str, storage: str | Store) -> StudyView:
        """A view of the study `name`; StudyNotFoundError when there is none."""
        view = cls.__new__(cls)
        view.store = storage if isinstance(storage, Store) else Store(storage)
        view.record = view.store.studies.require(name)
        return view

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def study_id(self) -> int:
        return self.record.id

    @property
    def directions(self) -> tuple[str, ...]:
        return tuple(self.record.directions)

    @property
    def objectives(self) -> list[str]:
        """Objective names recorded at creation (value_0, value_1, ... when unknown)."""
        names = self.record.config.get("objectives")
        return (
            [str(n) for n in names]
            if names
            else [f"value_{i}" for i in range(len(self.directions))]
        )

    def trials(self, states: Sequence[str] | None = None) -> list[TrialRecord]:
        """All trials (or those in `states`) in number order."""
        return self.store.trials.list(self.study_id, states)

    def scored_trials(self) -> list[TrialRecord]:
        """Trials with objective values (COMPLETE or served from the cache)."""
        return [t for t in self.trials(SCORED) if t.values]

    def latest_trials(self, n: int = 50, states: Sequence[str] | None = None) -> list[TrialRecord]:
        """The last `n` trials (of `states`, when given) in number order: one page, in SQL."""
        return self.store.queries.latest(self.study_id, n, states)

    @property
    def best_trials(self) -> list[TrialRecord]:
        """The best trials: ties at the best finite value (one objective) or the Pareto front."""
        if len(self.directions) > 1:
            return self.pareto_front()
        return self.store.queries.best_value(self.study_id, is_maximize(self.directions))

    @property
    def best_trial(self) -> TrialRecord:
        """The single best trial (first of `best_trials`); ValueError when nothing scored yet."""
        best = self.best_trials
        if not best:
            raise ValueError(f"study {self.name!r} has no scored trials yet")
        return best[0]

    @property
    def best_value(self) -> float:
        """The best trial's value (one objective; Optuna's name)."""
        self._single_objective("best_value")
        return self.best_trial.values[0]

    @property
    def best_params(self) -> dict:
        """The best trial's decisions as a flat {name: value} dict (one objective)."""
        self._single_objective("best_params")
        return dict(self.best_trial.params)

    def _single_objective(self, what: str) -> None:
        if len(self.directions) > 1:
            raise RuntimeError(
                f"study {self.name!r} has {len(self.directions)} objectives: `{what}` needs one; "
                "use `best_trials` (the Pareto front)"
            )

    def top(self, k: int = 10) -> list[TrialRecord]:
        """The `k` best scored trials by the finite first objective (one row per function;
        ties by trial number), read along the value index."""
        return self.store.queries.top(self.study_id, k, is_maximize(self.directions))

    def pareto_front(self) -> list[TrialRecord]:
        """Non-dominated scored trials (all objectives finite) under the study's directions."""
        return self.store.queries.pareto_front(self.study_id, self.directions)

    def stats(self) -> StudyStats:
        """Proposals, states, unique functions and what the cache saved."""
        return self.store.studies.stats(self.study_id)

    def simulated_cost(self) -> SimulatedCost | None:
        """Simulated GPU seconds paid and saved (None unless trials report `simulated_gpu_seconds`)."""
        return study_simulated_cost(self.store, self.study_id)

    def audit_summary(self) -> AuditSummary | None:
        """How far audited cache hits of this study sat from their fresh evaluations (None: none)."""
        tasks, ids = self.store.queries.audited_trials(self.study_id)
        if not ids:
            return None
        audits = [a for task in tasks for a in self.store.cache.audits(task)]
        return audit_summary(audits, [_CostRow(i, "", None, None, {}) for i in ids])  # type: ignore[misc]

    def count_toward_budget(self) -> int:
        """Finished trials that count against a total budget (interrupted ones do not)."""
        return self.store.queries.counted_finished(self.study_id)

    def trials_dataframe(self):
        """One row per trial: state, objective values, parameters, hash, cache source, lineage."""
        return trials_dataframe(self.store, self.study_id, self.objectives)

    def importance(self, objective: int = 0, seed: int = 0) -> dict[str, float]:
        """fANOVA importance of each parameter (decision point) for one objective, largest
        first; conditional parameters included (see `hashtune.importance`)."""
        from hashtune.importance import param_importances

        return param_importances(self, objective=objective, seed=seed)


class _CostRow(NamedTuple):
    """The fields of a trial that `simulated_cost` and `audit_summary` read."""

    id: int
    state: str
    functional_hash: str | None
    cached_from_trial_id: int | None
    user_attrs: dict[str, Any]

    @classmethod
    def of(cls, tid, state, fhash, source, cost, audit) -> _CostRow:
        attrs: dict[str, Any] = {} if cost is None else {SIMULATED_COST_KEY: cost}
        if audit is True:
            attrs["audit"] = True
        return cls(tid, state, fhash, source, attrs)


def study_simulated_cost(store: Store, study_id: int) -> SimulatedCost | None:
    """Simulated GPU seconds a study paid and saved (None unless its trials report
    `simulated_gpu_seconds`), read from the store in one query."""
    rows = store.queries.cost_rows(study_id, SIMULATED_COST_KEY)
    return simulated_cost([_CostRow.of(*r) for r in rows]) if rows else None  # type: ignore[misc]
