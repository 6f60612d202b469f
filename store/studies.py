"""Studies: create, find, list, reconfigure and delete them, and count what their trials did."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from hashtune.store.base import study_record, utcnow
from hashtune.store.database import Bound
from hashtune.store.errors import StudyExistsError, StudyNotFoundError
from hashtune.store.models import (
    DIRECTIONS,
    LIVE_STATES,
    PAID_STATES,
    SCORED_STATES,
    FecAudit,
    FecCache,
    IntermediateValue,
    Lineage,
    Study,
    Trial,
)
from hashtune.store.records import StudyRecord, StudyStats, StudySummary
from hashtune.store.retry import retry_methods
from hashtune.vocabulary import Direction, TrialState


class Studies(Bound):
    """The studies of a store: `create`, `get`, `by_id`, `require`, `list`, `set_config`,
    `delete`, `stats`."""

    def create(self, name: str, directions: list[str], config: dict[str, Any]) -> StudyRecord:
        """Create a study; raises StudyExistsError if the name is taken."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"study `name` must be a non-empty string, got {name!r}")
        dirs = check_directions(directions)
        if not isinstance(config, dict):
            raise ValueError(f"study `config` must be a dict, got {type(config).__name__}")
        try:
            with self.db.write() as s:
                if s.scalar(select(Study.id).where(Study.name == name)) is not None:
                    raise StudyExistsError(name, self.db.safe_url)
                study = Study(
                    name=name, directions=dirs, config=config, created_at=utcnow(), status="RUNNING"
                )
                s.add(study)
                s.flush()
                study_id = study.id
        except IntegrityError as e:  # a concurrent creator won the race
            raise StudyExistsError(name, self.db.safe_url) from e
        return self._where(Study.id == study_id)  # type: ignore[return-value]

    def get(self, name: str) -> StudyRecord | None:
        """The study called `name`, or None."""
        return self._where(Study.name == name)

    def by_id(self, study_id: int) -> StudyRecord | None:
        """The study with this id, or None."""
        return self._where(Study.id == study_id)

    def require(self, name: str) -> StudyRecord:
        """The study called `name`; raises StudyNotFoundError naming it and the URL."""
        study = self.get(name)
        if study is None:
            raise StudyNotFoundError(name, self.db.safe_url)
        return study

    def _where(self, cond: Any) -> StudyRecord | None:
        with self.db.read() as s:
            row = s.execute(select(Study.__table__).where(cond)).mappings().first()
        return None if row is None else study_record(row)

    def set_config(self, study_id: int, config: dict[str, Any]) -> StudyRecord:
        """Replace a study's recorded config (a resume with `--allow-config-change`)."""
        if not isinstance(config, dict):
            raise ValueError(f"study `config` must be a dict, got {type(config).__name__}")
        with self.db.write() as s:
            done = s.execute(update(Study).where(Study.id == study_id).values(config=config))
            if done.rowcount == 0:
                raise StudyNotFoundError(study_id, self.db.safe_url)
        return self._where(Study.id == study_id)  # type: ignore[return-value]

    def delete(self, name: str) -> None:
        """Delete a study with its trials, lineage and intermediate values (the FEC cache stays)."""
        with self.db.write() as s:
            study_id = s.scalar(select(Study.id).where(Study.name == name))
            if study_id is None:
                raise StudyNotFoundError(name, self.db.safe_url)
            ids = select(Trial.id).where(Trial.study_id == study_id).scalar_subquery()
            s.execute(delete(IntermediateValue).where(IntermediateValue.trial_id.in_(ids)))
            s.execute(delete(Lineage).where(Lineage.child_id.in_(ids) | Lineage.parent_id.in_(ids)))
            s.execute(
                update(Trial)
                .where(Trial.cached_from_trial_id.in_(ids), Trial.study_id != study_id)
                .values(cached_from_trial_id=None)
            )
            s.execute(
                update(Trial).where(Trial.study_id == study_id).values(cached_from_trial_id=None)
            )
            s.execute(delete(Trial).where(Trial.study_id == study_id))
            s.execute(delete(Study).where(Study.id == study_id))

    def stats(self, study_id: int) -> StudyStats:
        """Counts per state, distinct functions, and evaluations/seconds the FEC cache saved."""
        source = aliased(Trial)
        cached = Trial.state == TrialState.CACHED
        # Hits re-evaluated for the collision audit were paid for: they saved nothing.
        audited_ids = select(FecAudit.trial_id).where(FecAudit.trial_id.is_not(None))
        with self.db.read() as s:
            counts = dict(
                s.execute(
                    select(Trial.state, func.count())
                    .where(Trial.study_id == study_id)
                    .group_by(Trial.state)
                ).all()
            )
            unique = s.scalar(
                select(func.count(func.distinct(Trial.functional_hash))).where(
                    Trial.study_id == study_id, Trial.functional_hash.is_not(None)
                )
            )
            # One value per trial even when the function has entries under several hash versions.
            entry_seconds = (
                select(func.max(FecCache.eval_seconds))
                .where(
                    FecCache.task == Trial.task,
                    FecCache.functional_hash == Trial.functional_hash,
                )
                .correlate(Trial)
                .scalar_subquery()
            )
            saved = s.scalar(
                select(func.sum(func.coalesce(source.duration_s, entry_seconds, 0.0)))
                .select_from(Trial)
                .outerjoin(source, source.id == Trial.cached_from_trial_id)
                .where(Trial.study_id == study_id, cached, Trial.id.not_in(audited_ids))
            )
            paid = sum(  # two sums, each on an index: evaluations, then audited hits
                s.scalar(select(func.sum(Trial.duration_s)).where(Trial.study_id == study_id, c))
                or 0.0
                for c in (
                    Trial.state.in_(PAID_STATES),
                    Trial.state.not_in(PAID_STATES) & Trial.id.in_(audited_ids),
                )
            )
            audited = s.scalar(
                select(func.count())
                .select_from(Trial)
                .where(Trial.study_id == study_id, cached, Trial.id.in_(audited_ids))
            )
        return StudyStats(
            proposals=sum(counts.values()),
            complete=counts.get(TrialState.COMPLETE, 0),
            # an interrupted trial is a failed evaluation (it runs again on resume)
            failed=counts.get(TrialState.FAILED, 0) + counts.get(TrialState.INTERRUPTED, 0),
            pruned=counts.get(TrialState.PRUNED, 0),
            cached=counts.get(TrialState.CACHED, 0),
            running=sum(counts.get(st, 0) for st in LIVE_STATES),
            unique_functions=int(unique or 0),
            evaluations_saved=counts.get(TrialState.CACHED, 0) - int(audited or 0),
            eval_seconds_saved=float(saved or 0.0),
            eval_seconds_paid=float(paid or 0.0),
        )

    def list(self) -> list[StudySummary]:
        """Every study with its trial counts per state and best first-objective value."""
        with self.db.read() as s:
            studies = s.execute(select(Study.__table__).order_by(Study.id)).mappings().all()
            counts = s.execute(
                select(Trial.study_id, Trial.state, func.count()).group_by(
                    Trial.study_id, Trial.state
                )
            ).all()
            done = Trial.state.in_(SCORED_STATES)
            best = s.execute(
                select(
                    Trial.study_id,
                    func.min(case((done, Trial.value))),
                    func.max(case((done, Trial.value))),
                ).group_by(Trial.study_id)
            ).all()
        per_state: dict[int, dict[str, int]] = {}
        for study_id, state, n in counts:
            per_state.setdefault(study_id, {})[state] = n
        extremes = {sid: (lo, hi) for sid, lo, hi in best}
        out = []
        for row in studies:
            lo, hi = extremes.get(row["id"], (None, None))
            maximize = row["directions"] and row["directions"][0] == Direction.MAXIMIZE
            out.append(
                StudySummary(
                    id=row["id"],
                    name=row["name"],
                    directions=tuple(row["directions"]),
                    created_at=study_record(row).created_at,
                    status=row["status"],
                    n_trials=per_state.get(row["id"], {}),
                    best_value=hi if maximize else lo,
                )
            )
        return out


def check_directions(directions: list[str]) -> list[str]:
    """Lower-cased directions; each must be 'minimize' or 'maximize'."""
    if isinstance(directions, str) or not directions:
        raise ValueError(f"`directions` must be a non-empty list, got {directions!r}")
    out = []
    for d in directions:
        if not isinstance(d, str) or d.lower() not in DIRECTIONS:
            raise ValueError(f"each of `directions` must be one of {DIRECTIONS}, got {d!r}")
        out.append(d.lower())
    return out


# Every store call is one transaction: retry it on transient database errors (store/retry.py).
retry_methods(Studies)
