"""Find the trials of runs that died (SIGKILL, power loss, a lost host) and fail them.

Liveness is a heartbeat, not a PID: a worker is a random run id plus its host (PIDs repeat across
containers and PID namespaces sharing one hostname). An unfinished trial is dead when its
heartbeat is older than `stale_beats` of its holder's heartbeat interval (recorded in the
workers table; the caller's own interval when the holder is unknown). Dead trials are finished
INTERRUPTED (with a human-readable error naming the dead holder) and their cache claims are
released, atomically, so exactly one reclaimer wins and a proposal of the same function may
evaluate it at once.
"""

from __future__ import annotations

import socket
import uuid
from datetime import UTC, datetime

from hashtune.store import Store, TrialRecord
from hashtune.vocabulary import TrialState

#: The error text of a trial whose owner died (a message for people; the state says INTERRUPTED).
OWNER_DIED = "interrupted: the run that owned this trial died before it finished"
STALE_AFTER_S = 60.0


def new_worker_id() -> str:
    """A worker id: this host plus a random run id (never repeats, never a PID)."""
    return f"{socket.gethostname()}:{uuid.uuid4().hex[:12]}"


def silence_s(trial: TrialRecord, now: datetime | None = None) -> float:
    """Seconds since the trial's last heartbeat (or start); infinite when it has neither."""
    beat = trial.heartbeat_at or trial.started_at
    if beat is None:
        return float("inf")
    if beat.tzinfo is None:
        beat = beat.replace(tzinfo=UTC)
    return ((now or datetime.now(UTC)) - beat).total_seconds()


def is_dead(trial: TrialRecord, me: str, stale_after_s: float = STALE_AFTER_S) -> bool:
    """Whether this unfinished trial's holder stopped beating (never true for our own)."""
    return trial.worker != me and silence_s(trial) > stale_after_s


def recover_dead_trials(
    store: Store,
    study_id: int,
    me: str,
    stale_after_s: float = STALE_AFTER_S,
    stale_beats: float | None = None,
) -> list[TrialRecord]:
    """Finish the unfinished trials of dead workers as INTERRUPTED and release their cache
    claims; the trials reclaimed.

    With `stale_beats`, a holder found in the workers table is judged by its own interval
    (`stale_beats` × its heartbeat); `stale_after_s` applies to the others.
    """
    intervals: dict[str, float] = {}
    if stale_beats is not None:
        intervals = {w.run_id: stale_beats * w.heartbeat_s for w in store.workers.list(study_id)}
    failed = []
    for trial in store.trials.list(study_id, states=(TrialState.RUNNING, TrialState.PENDING)):
        limit = intervals.get(trial.worker or "", stale_after_s)
        if not is_dead(trial, me, limit):
            continue
        if store.workers.reclaim(trial.id, limit, f"{OWNER_DIED} ({trial.worker})"):
            failed.append(trial)
    return failed


def was_interrupted(trial: TrialRecord) -> bool:
    """True for trials cut short by a dead owner or an interrupted optimize call."""
    return trial.state == TrialState.INTERRUPTED
