"""Find the trials of runs that died (SIGKILL, power loss) and fail them, so a resume can go on.

A trial is owned by a worker id ``host:pid:token``. It is dead when its owner is a process on this
host that no longer exists, or when its heartbeat is older than `stale_after_s` (other hosts, or a
recycled pid). Dead trials become FAILED with an "interrupted" error and their cache claims are
released so another proposal of the same function may evaluate it.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, datetime

from hashtune.hashing import HASH_VERSION
from hashtune.store import Store, TrialRecord

INTERRUPTED = "interrupted: the run that owned this trial died before it finished"
STALE_AFTER_S = 60.0


def new_worker_id() -> str:
    """A worker id naming this host and process (plus a token: ids never repeat)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_dead(trial: TrialRecord, me: str, stale_after_s: float = STALE_AFTER_S) -> bool:
    """Whether the process that owns this unfinished trial is gone."""
    if trial.worker == me:
        return False
    host, _, rest = (trial.worker or "").partition(":")
    pid_text = rest.partition(":")[0]
    if host == socket.gethostname() and pid_text.isdigit() and not _pid_alive(int(pid_text)):
        return True
    beat = trial.heartbeat_at or trial.started_at
    if beat is None:
        return True
    if beat.tzinfo is None:
        beat = beat.replace(tzinfo=UTC)
    return (datetime.now(UTC) - beat).total_seconds() > stale_after_s


def recover_dead_trials(
    store: Store, study_id: int, me: str, stale_after_s: float = STALE_AFTER_S
) -> list[int]:
    """Fail the unfinished trials of dead runs and release their cache claims; their numbers."""
    failed = []
    for trial in store.trials(study_id, states=("RUNNING", "PENDING")):
        if not is_dead(trial, me, stale_after_s):
            continue
        store.finish_trial(trial.id, state="FAILED", error=f"{INTERRUPTED} ({trial.worker})")
        if trial.functional_hash and trial.task:
            store.cache_release(trial.task, trial.functional_hash, trial.id, version=HASH_VERSION)
        failed.append(trial.number)
    return failed


def was_interrupted(trial: TrialRecord) -> bool:
    """True for trials failed by recovery or by an interrupted optimize call."""
    return trial.state == "FAILED" and (trial.error or "").startswith("interrupted")
