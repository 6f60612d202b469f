"""Read-only view of a study in the store: trials, best, Pareto front, stats, DataFrame.

The CLI's read commands use it directly (no space, evaluator or searcher is built, nothing is
written); `Study` extends it with the optimize loop.
"""

from __future__ import annotations

from collections.abc import Sequence

from hashtune.accounting import AuditSummary, SimulatedCost, audit_summary, simulated_cost
from hashtune.recovery import was_interrupted
from hashtune.search.selection import pareto_front
from hashtune.store import Store, StudyRecord, StudyStats, TrialRecord

SCORED = ("COMPLETE", "CACHED")


class StudyView:
    """A study row plus the queries people ask of it."""

    store: Store
    record: StudyRecord

    @classmethod
    def open(cls, name: str, storage: str | Store) -> StudyView:
        """A view of the study `name`; StudyNotFoundError when there is none."""
        view = cls.__new__(cls)
        view.store = storage if isinstance(storage, Store) else Store(storage)
        view.record = view.store.require_study(name)
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
        return self.store.trials(self.study_id, states)

    def scored_trials(self) -> list[TrialRecord]:
        """Trials with objective values (COMPLETE or served from the cache)."""
        return [t for t in self.trials(SCORED) if t.values]

    @property
    def best_trials(self) -> list[TrialRecord]:
        """The best trials: ties at the best value (one objective) or the Pareto front."""
        scored = self.scored_trials()
        if not scored:
            return []
        if len(self.directions) > 1:
            return self.pareto_front()
        sign = 1.0 if self.directions[0] == "maximize" else -1.0
        best = max(sign * t.values[0] for t in scored)
        return [t for t in scored if sign * t.values[0] == best]

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
        """The `k` best scored trials by the first objective (one row per function)."""
        sign = -1.0 if self.directions[0] == "maximize" else 1.0
        ranked = sorted(self.scored_trials(), key=lambda t: (sign * t.values[0], t.number))
        out, seen = [], set()
        for t in ranked:
            key = t.functional_hash or f"#{t.number}"
            if key not in seen:
                seen.add(key)
                out.append(t)
        return out[:k]

    def pareto_front(self) -> list[TrialRecord]:
        """Non-dominated scored trials under the study's directions."""
        scored = self.scored_trials()
        idx = pareto_front([t.values for t in scored], self.directions)
        return [scored[i] for i in idx]

    def stats(self) -> StudyStats:
        """Proposals, states, unique functions and what the cache saved."""
        return self.store.study_stats(self.study_id)

    def simulated_cost(self) -> SimulatedCost | None:
        """Simulated GPU seconds paid and saved (None unless trials report `simulated_gpu_seconds`)."""
        return simulated_cost(self.trials())

    def audit_summary(self) -> AuditSummary | None:
        """How far audited cache hits of this study sat from their fresh evaluations (None: none)."""
        trials = self.trials()
        audits = [
            a
            for task in sorted({t.task for t in trials if t.task})
            for a in self.store.cache_audits(task)
        ]
        return audit_summary(audits, trials)

    def count_toward_budget(self) -> int:
        """Finished trials that count against a total budget (interrupted ones do not)."""
        return sum(
            1
            for t in self.trials()
            if t.state not in ("RUNNING", "PENDING") and not was_interrupted(t)
        )

    def trials_dataframe(self):
        """One row per trial: state, objective values, parameters, hash, cache source, lineage."""
        from hashtune.tables import trials_dataframe

        return trials_dataframe(self)

    def importance(self, objective: int = 0, seed: int = 0) -> dict[str, float]:
        """fANOVA importance of each parameter (decision point) for one objective, largest
        first; conditional parameters included (see `hashtune.importance`)."""
        from hashtune.importance import param_importances

        return param_importances(self, objective=objective, seed=seed)
