"""Worker slots and liveness of the Store: atomic slot allocation, heartbeats, reclaiming.

A worker joining a study takes the lowest slot that is free (never used, or whose holder stopped
or is silent for more than `stale_beats` of its own heartbeat intervals). Slot numbers are the
workers' stable identities (worker 0 keeps the study's seed); the unique (study, slot) constraint
makes allocation atomic across processes and hosts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from hashtune.store.base import StoreBase, utcnow
from hashtune.store.errors import StoreError
from hashtune.store.models import FecCache, Trial, Worker
from hashtune.store.peer_ops import claim_finish_seqs
from hashtune.store.records import aware

_MAX_SLOT_RETRIES = 100


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    """A worker row: who holds which slot of a study, and how often it beats."""

    study_id: int
    slot: int
    run_id: str
    heartbeat_s: float
    heartbeat_at: datetime
    stopped_at: datetime | None


class WorkerOpsMixin(StoreBase):
    """`join_study`, `leave_study`, `heartbeat_many`, `workers`, `reclaim_trial`."""

    def join_study(
        self, study_id: int, run_id: str, *, heartbeat_s: float, stale_beats: float
    ) -> int:
        """Take the lowest free slot of the study for `run_id` (atomic); the slot number."""
        for _ in range(_MAX_SLOT_RETRIES):
            now = utcnow()
            try:
                with self._write() as s:
                    rows = s.execute(
                        select(Worker.id, Worker.slot, Worker.run_id, Worker.heartbeat_s,
                               Worker.heartbeat_at, Worker.stopped_at)
                        .where(Worker.study_id == study_id)
                        .order_by(Worker.slot)
                    ).all()  # fmt: skip
                    for wid, slot, old_run, beat_s, beat_at, stopped in rows:
                        silent = (now - beat_at).total_seconds() > stale_beats * beat_s
                        if old_run != run_id and stopped is None and not silent:
                            continue
                        taken = s.execute(
                            update(Worker)
                            .where(Worker.id == wid, Worker.run_id == old_run)
                            .values(run_id=run_id, heartbeat_s=float(heartbeat_s),
                                    heartbeat_at=now, started_at=now, stopped_at=None)
                        )  # fmt: skip
                        if taken.rowcount == 1:
                            return slot
                    used = {r[1] for r in rows}
                    slot = next(i for i in range(len(used) + 1) if i not in used)
                    s.add(
                        Worker(study_id=study_id, slot=slot, run_id=run_id,
                               heartbeat_s=float(heartbeat_s), heartbeat_at=now, started_at=now)
                    )  # fmt: skip
                    s.flush()
                return slot
            except IntegrityError:  # a concurrent joiner took that slot: look again
                continue
        raise StoreError(f"could not allocate a worker slot in study {study_id} ({self._safe_url})")

    def leave_study(self, study_id: int, run_id: str) -> None:
        """Free the worker's slot (a later worker may take it)."""
        with self._write() as s:
            s.execute(
                update(Worker)
                .where(Worker.study_id == study_id, Worker.run_id == run_id)
                .values(stopped_at=utcnow())
            )

    def workers(self, study_id: int) -> list[WorkerRecord]:
        """The study's worker slots, lowest first."""
        with self._read() as s:
            rows = s.execute(
                select(Worker).where(Worker.study_id == study_id).order_by(Worker.slot)
            ).scalars()
            return [
                WorkerRecord(w.study_id, w.slot, w.run_id, w.heartbeat_s,
                             aware(w.heartbeat_at), aware(w.stopped_at))  # type: ignore[arg-type]
                for w in rows
            ]  # fmt: skip

    def heartbeat_many(self, trial_ids: list[int], run_id: str | None = None) -> None:
        """Heartbeat the worker `run_id`, its running trials and their cache claims, so a long
        evaluation keeps its claim (a claim silent for long is taken over as a dead worker's)."""
        if not trial_ids and run_id is None:
            return
        now = utcnow()
        with self._write() as s:
            if run_id is not None:
                s.execute(update(Worker).where(Worker.run_id == run_id).values(heartbeat_at=now))
            if trial_ids:
                s.execute(update(Trial).where(Trial.id.in_(trial_ids)).values(heartbeat_at=now))
                s.execute(
                    update(FecCache)
                    .where(
                        FecCache.status == "PENDING", FecCache.claimed_by_trial_id.in_(trial_ids)
                    )
                    .values(claimed_at=now)
                )

    def reclaim_trial(self, trial_id: int, silent_for_s: float, error: str) -> bool:
        """Fail an unfinished trial silent for more than `silent_for_s` and release its cache
        claim, atomically (of several reclaimers exactly one gets True)."""
        now = utcnow()
        cutoff = now - timedelta(seconds=float(silent_for_s))
        with self._write() as s:
            owner = select(Trial.study_id).where(Trial.id == trial_id).scalar_subquery()
            seq = claim_finish_seqs(s, owner)  # peers learn of the failure like any other
            done = s.execute(
                update(Trial)
                .where(
                    Trial.id == trial_id,
                    Trial.state.in_(("RUNNING", "PENDING")),
                    or_(
                        func.coalesce(Trial.heartbeat_at, Trial.started_at) < cutoff,
                        func.coalesce(Trial.heartbeat_at, Trial.started_at).is_(None),
                    ),
                )
                .values(state="INTERRUPTED", error=error, finished_at=now, finish_seq=seq)
            )
            if done.rowcount != 1:
                s.rollback()  # nothing reclaimed: leave the finish counter as it was
                return False
            s.execute(
                FecCache.__table__.delete().where(
                    FecCache.status == "PENDING", FecCache.claimed_by_trial_id == trial_id
                )
            )
        return True
