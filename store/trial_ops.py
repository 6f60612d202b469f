"""Trial operations of the Store: atomic numbering, whole-or-nothing finish, bulk loading."""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from hashtune.store.base import StoreBase, trial_record, utcnow
from hashtune.store.errors import StoreError, StudyNotFoundError, TrialNotFoundError
from hashtune.store.models import (
    TRIAL_STATES,
    FecAudit,
    FecCache,
    IntermediateValue,
    Lineage,
    Study,
    Trial,
)
from hashtune.store.peer_ops import claim_finish_seqs
from hashtune.store.records import (
    CacheOutcome,
    FinishedTrial,
    LineageRecord,
    StudyStats,
    TrialRecord,
)

_MAX_NUMBER_RETRIES = 100


class TrialOpsMixin(StoreBase):
    """Create, finish, sweep and load trials."""

    def create_trial(
        self,
        study_id: int,
        *,
        dna: Any,
        candidate: str,
        params: dict[str, Any],
        parents: list[int] | tuple[int, ...] = (),
        mutation: str | None = None,
        worker: str | None = None,
        state: str = "RUNNING",
        functional_hash: str | None = None,
        task: str | None = None,
    ) -> TrialRecord:
        """Insert a trial with the study's next number (atomic across workers) and its lineage."""
        if state not in ("PENDING", "RUNNING"):
            raise ValueError(f"new trial `state` must be 'PENDING' or 'RUNNING', got {state!r}")
        if not isinstance(candidate, str):
            raise ValueError(f"`candidate` must be a str, got {type(candidate).__name__}")
        parent_numbers = [int(p) for p in parents]
        for attempt in range(_MAX_NUMBER_RETRIES):
            try:
                with self._write() as s:
                    if s.get(Study, study_id) is None:
                        raise StudyNotFoundError(study_id, self._safe_url)
                    parent_ids = self._parent_ids(s, study_id, parent_numbers)
                    number = s.scalar(
                        select(func.coalesce(func.max(Trial.number) + 1, 0)).where(
                            Trial.study_id == study_id
                        )
                    )
                    now = utcnow()
                    trial = Trial(
                        study_id=study_id,
                        number=number,
                        state=state,
                        candidate=candidate,
                        dna=dna,
                        params=dict(params or {}),
                        user_attrs={},
                        worker=worker,
                        heartbeat_at=now,
                        started_at=now if state == "RUNNING" else None,
                        functional_hash=functional_hash,
                        task=task,
                    )
                    s.add(trial)
                    s.flush()
                    trial_id = trial.id
                    s.add_all(
                        Lineage(child_id=trial_id, parent_id=pid, mutation=mutation)
                        for pid in dict.fromkeys(parent_ids)
                    )
                break
            except IntegrityError:  # another worker took this number: try the next one
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        else:
            raise StoreError(f"could not allocate a trial number in study {study_id} ({self.url})")
        return self.trial(trial_id)

    def _parent_ids(self, s: Session, study_id: int, numbers: list[int]) -> list[int]:
        if not numbers:
            return []
        rows = s.execute(
            select(Trial.number, Trial.id).where(
                Trial.study_id == study_id, Trial.number.in_(numbers)
            )
        ).all()
        by_number = dict(rows)
        missing = [n for n in numbers if n not in by_number]
        if missing:
            raise ValueError(f"`parents` {missing!r} are not trial numbers of study {study_id}")
        return [by_number[n] for n in numbers]

    def start_trial(self, trial_id: int, worker: str | None = None) -> None:
        """Move a PENDING trial to RUNNING (sets started_at and heartbeat)."""
        now = utcnow()
        with self._write() as s:
            values: dict[str, Any] = {"state": "RUNNING", "started_at": now, "heartbeat_at": now}
            if worker is not None:
                values["worker"] = worker
            done = s.execute(
                update(Trial).where(Trial.id == trial_id, Trial.state == "PENDING").values(**values)
            )
            if done.rowcount == 0:
                raise StoreError(f"trial id={trial_id} is not PENDING in {self._safe_url}")

    def finished_as(self, trial_id: int, *, state: str, **_: Any) -> TrialRecord | None:
        """The trial if it is already finished as `state` (a retried `finish_trial` whose first
        attempt committed before its connection dropped returns it)."""
        found = self.trial(trial_id)
        return found if found.state == state else None

    def finished_and_next(
        self,
        trial_id: int,
        *,
        state: str,
        cache: CacheOutcome | None = None,
        news_after: int | None = None,
        news_worker: str | None = None,
        reserve_for: str | None = None,
        count_budget: bool = False,
        **_: Any,
    ) -> FinishedTrial | None:
        """What a retried `finish_and_next` whose first attempt committed returned (read again)."""
        found = self.finished_as(trial_id, state=state)
        if found is None:
            return None
        entry = None
        if cache is not None and cache.values is not None:
            entry = self.cache_lookup(cache.task, cache.functional_hash, version=cache.version)  # type: ignore[attr-defined]
        news = None
        if news_after is not None:
            news = self.peer_news(found.study_id, news_after, news_worker)  # type: ignore[attr-defined]
        nxt = self.open_reservation(found.study_id, reserve_for) if reserve_for else None  # type: ignore[attr-defined]
        budget = None
        if nxt is not None and count_budget:
            budget = self.count_budget_trials(found.study_id, nxt.number)  # type: ignore[attr-defined]
        return FinishedTrial(found, entry, news, nxt, budget)

    def report_intermediate(self, trial_id: int, step: int, value: float) -> None:
        """Record (or replace) the value at `step` and refresh the trial's heartbeat."""
        with self._write() as s:
            done = s.execute(
                update(Trial).where(Trial.id == trial_id).values(heartbeat_at=utcnow())
            )
            if done.rowcount == 0:
                raise TrialNotFoundError(f"id={trial_id}", self._safe_url)
            self._write_intermediate(s, trial_id, [(int(step), float(value))])

    def set_trial_user_attrs(self, trial_id: int, attrs: dict[str, Any]) -> None:
        """Merge `attrs` into the trial's user attributes (any state: attributes are notes)."""
        with self._write() as s:
            trial = s.get(Trial, trial_id, with_for_update=True)
            if trial is None:
                raise TrialNotFoundError(f"id={trial_id}", self._safe_url)
            trial.user_attrs = {**(trial.user_attrs or {}), **attrs}

    def heartbeat(self, trial_id: int) -> None:
        """Tell sweepers the worker running this trial is alive."""
        with self._write() as s:
            s.execute(update(Trial).where(Trial.id == trial_id).values(heartbeat_at=utcnow()))

    def fail_stale_trials(
        self,
        study_id: int,
        *,
        older_than_s: float | None = None,
        error: str = "worker died before finishing",
    ) -> list[int]:
        """Mark RUNNING/PENDING trials FAILED (all, or those silent > `older_than_s`); their ids."""
        now = utcnow()
        cond = [Trial.study_id == study_id, Trial.state.in_(("RUNNING", "PENDING"))]
        if older_than_s is not None:
            cutoff = now - timedelta(seconds=float(older_than_s))
            cond.append(func.coalesce(Trial.heartbeat_at, Trial.started_at) < cutoff)
        with self._write() as s:
            last = claim_finish_seqs(s, study_id, 0)  # lock the counter before reading
            ids = list(s.scalars(select(Trial.id).where(*cond).order_by(Trial.number)))
            if ids and last is not None:
                claim_finish_seqs(s, study_id, len(ids))
                s.execute(
                    update(Trial.__table__)
                    .where(Trial.id == bindparam("tid"))
                    .values(
                        state="FAILED", error=error, finished_at=now, finish_seq=bindparam("seq")
                    ),
                    [{"tid": tid, "seq": last + 1 + i} for i, tid in enumerate(ids)],
                )
        return ids

    # -- loading -------------------------------------------------------------------------------

    def trials(self, study_id: int, states: Iterable[str] | None = None) -> list[TrialRecord]:
        """A study's trials ordered by number, with parents and intermediate values (3 queries)."""
        cond = [Trial.study_id == study_id]
        if states is not None:
            wanted = [states] if isinstance(states, str) else list(states)
            bad = [st for st in wanted if st not in TRIAL_STATES]
            if bad:
                raise ValueError(f"`states` must be among {TRIAL_STATES}, got {bad!r}")
            cond.append(Trial.state.in_(wanted))
        return self._load_trials(cond)

    def trial(self, trial_id: int) -> TrialRecord:
        """One trial by id; raises TrialNotFoundError."""
        found = self._load_trials([Trial.id == trial_id])
        if not found:
            raise TrialNotFoundError(f"id={trial_id}", self._safe_url)
        return found[0]

    def trial_by_number(self, study_id: int, number: int) -> TrialRecord:
        """One trial by its number within a study; raises TrialNotFoundError."""
        found = self._load_trials([Trial.study_id == study_id, Trial.number == number])
        if not found:
            raise TrialNotFoundError(f"number {number} of study {study_id}", self._safe_url)
        return found[0]

    def _load_trials(self, cond: list[Any]) -> list[TrialRecord]:
        parent = aliased(Trial)
        ids = select(Trial.id).where(*cond)
        with self._read() as s:
            rows = s.execute(select(Trial.__table__).where(*cond).order_by(Trial.number))
            rows = rows.mappings().all()
            if not rows:
                return []
            edges = s.execute(
                select(Lineage.child_id, parent.number, Lineage.mutation)
                .join(parent, parent.id == Lineage.parent_id)
                .where(Lineage.child_id.in_(ids))
                .order_by(Lineage.child_id, parent.number)
            ).all()
            inter = s.execute(
                select(IntermediateValue.trial_id, IntermediateValue.step, IntermediateValue.value)
                .where(IntermediateValue.trial_id.in_(ids))
                .order_by(IntermediateValue.trial_id, IntermediateValue.step)
            ).all()
        parents: dict[int, list[int]] = {}
        mutations: dict[int, str | None] = {}
        for child, pnum, mutation in edges:
            parents.setdefault(child, []).append(pnum)
            mutations.setdefault(child, mutation)
        steps: dict[int, list[tuple[int, float]]] = {}
        for tid, step, value in inter:
            steps.setdefault(tid, []).append((step, float("nan") if value is None else value))
        return [
            trial_record(
                r,
                tuple(parents.get(r["id"], ())),
                mutations.get(r["id"]),
                tuple(steps.get(r["id"], ())),
            )
            for r in rows
        ]

    def lineage(self, study_id: int) -> list[LineageRecord]:
        """Every child → parent edge of a study, as trial numbers."""
        child, parent = aliased(Trial), aliased(Trial)
        with self._read() as s:
            rows = s.execute(
                select(child.number, parent.number, Lineage.mutation)
                .join(child, child.id == Lineage.child_id)
                .join(parent, parent.id == Lineage.parent_id)
                .where(child.study_id == study_id)
                .order_by(child.number, parent.number)
            ).all()
        return [LineageRecord(c, p, m) for c, p, m in rows]

    def study_stats(self, study_id: int) -> StudyStats:
        """Counts per state, distinct functions, and evaluations/seconds the FEC cache saved."""
        source = aliased(Trial)
        # Hits re-evaluated for the collision audit were paid for: they saved nothing.
        audited_ids = select(FecAudit.trial_id).where(FecAudit.trial_id.is_not(None))
        with self._read() as s:
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
                .where(
                    Trial.study_id == study_id,
                    Trial.state == "CACHED",
                    Trial.id.not_in(audited_ids),
                )
            )
            paid_states = ("COMPLETE", "FAILED", "PRUNED")
            paid = sum(  # two sums, each on an index: evaluations, then audited hits
                s.scalar(select(func.sum(Trial.duration_s)).where(Trial.study_id == study_id, c))
                or 0.0
                for c in (
                    Trial.state.in_(paid_states),
                    Trial.state.not_in(paid_states) & Trial.id.in_(audited_ids),
                )
            )
            audited = s.scalar(
                select(func.count())
                .select_from(Trial)
                .where(
                    Trial.study_id == study_id, Trial.state == "CACHED", Trial.id.in_(audited_ids)
                )
            )
        return StudyStats(
            proposals=sum(counts.values()),
            complete=counts.get("COMPLETE", 0),
            failed=counts.get("FAILED", 0),
            pruned=counts.get("PRUNED", 0),
            cached=counts.get("CACHED", 0),
            running=counts.get("RUNNING", 0) + counts.get("PENDING", 0),
            unique_functions=int(unique or 0),
            evaluations_saved=counts.get("CACHED", 0) - int(audited or 0),
            eval_seconds_saved=float(saved or 0.0),
            eval_seconds_paid=float(paid or 0.0),
        )
