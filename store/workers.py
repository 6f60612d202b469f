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

from hashtune.store.base import utcnow
from hashtune.store.cache import release_trial_claims
from hashtune.store.database import Bound
from hashtune.store.errors import StoreError, StudyNotFoundError
from hashtune.store.models import LIVE_STATES, Study, Trial, Worker
from hashtune.store.peers import claim_finish_seqs, read_news
from hashtune.store.records import PeerNews, aware
from hashtune.store.retry import retry_methods
from hashtune.vocabulary import TrialState

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


class Workers(Bound):
    """Workers of studies and what they learn of each other: `join`, `leave`, `list`,
    `heartbeat`, `reclaim`, `finish_cursor`, `peer_news`."""

    def join(self, study_id: int, run_id: str, *, heartbeat_s: float, stale_beats: float) -> int:
        """Take the lowest free slot of the study for `run_id` (atomic); the slot number."""
        for _ in range(_MAX_SLOT_RETRIES):
            now = utcnow()
            try:
                with self.db.write() as s:
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
        raise StoreError(
            f"could not allocate a worker slot in study {study_id} ({self.db.safe_url})"
        )

    def leave(self, study_id: int, run_id: str) -> None:
        """Free the worker's slot (a later worker may take it)."""
        with self.db.write() as s:
            s.execute(
                update(Worker)
                .where(Worker.study_id == study_id, Worker.run_id == run_id)
                .values(stopped_at=utcnow())
            )

    def heartbeat(self, trial_ids: list[int], run_id: str | None = None) -> None:
        """Heartbeat the worker `run_id` and its running trials (their cache claims are the
        cache's: `Cache.refresh_claims`)."""
        if not trial_ids and run_id is None:
            return
        now = utcnow()
        with self.db.write() as s:
            if run_id is not None:
                s.execute(update(Worker).where(Worker.run_id == run_id).values(heartbeat_at=now))
            if trial_ids:
                s.execute(update(Trial).where(Trial.id.in_(trial_ids)).values(heartbeat_at=now))

    def reclaim(
        self,
        trial_id: int,
        silent_for_s: float,
        error: str,
        *,
        state: str = TrialState.INTERRUPTED,
    ) -> bool:
        """Finish an unfinished trial silent for more than `silent_for_s` as `state` (it runs
        again on resume) and release its cache claims, atomically (of several reclaimers exactly
        one gets True)."""
        now = utcnow()
        cutoff = now - timedelta(seconds=float(silent_for_s))
        with self.db.write() as s:
            owner = select(Trial.study_id).where(Trial.id == trial_id).scalar_subquery()
            seq = claim_finish_seqs(s, owner)  # peers learn of the failure like any other
            done = s.execute(
                update(Trial)
                .where(
                    Trial.id == trial_id,
                    Trial.state.in_(LIVE_STATES),
                    or_(
                        func.coalesce(Trial.heartbeat_at, Trial.started_at) < cutoff,
                        func.coalesce(Trial.heartbeat_at, Trial.started_at).is_(None),
                    ),
                )
                .values(state=state, error=error, finished_at=now, finish_seq=seq)
            )
            if done.rowcount != 1:
                s.rollback()  # nothing reclaimed: leave the finish counter as it was
                return False
            release_trial_claims(s.connection(), trial_id)
        return True

    def finish_cursor(self, study_id: int) -> int:
        """The study's highest committed finish number (a cursor that has read everything)."""
        with self.db.read() as s:
            seq = s.scalar(select(Study.finish_seq).where(Study.id == study_id))
        if seq is None:
            raise StudyNotFoundError(study_id, self.db.safe_url)
        return int(seq)

    def peer_news(self, study_id: int, after: int, worker: str | None) -> PeerNews:
        """Trials finished after finish number `after`, and RUNNING proposals not of `worker`.

        Finished trials of `worker` itself are filtered out but advance the cursor. The running
        trials are read first: a trial that leaves RUNNING before that read is in the finished
        read, so none falls between the two.
        """
        with self.db.read_conn() as conn:
            return read_news(conn, study_id, after, worker)

    def list(self, study_id: int) -> list[WorkerRecord]:
        """The study's worker slots, lowest first."""
        with self.db.read() as s:
            rows = s.execute(
                select(Worker).where(Worker.study_id == study_id).order_by(Worker.slot)
            ).scalars()
            return [
                WorkerRecord(w.study_id, w.slot, w.run_id, w.heartbeat_s,
                             aware(w.heartbeat_at), aware(w.stopped_at))  # type: ignore[arg-type]
                for w in rows
            ]  # fmt: skip


# Every store call is one transaction: retry it on transient database errors (store/retry.py).
retry_methods(Workers)
