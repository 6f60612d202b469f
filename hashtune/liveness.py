"""Heartbeats and reclaiming: how workers on one study survive each other's death.

Each worker beats every `heartbeat_s` for itself (its slot in the workers table), for its
unfinished trials and for their cache claims. On the same beat it reclaims the trials of peers
silent for more than `stale_beats` of their own intervals (recovery.py): the trial fails as
interrupted, its claim is released (so waiters on it move on at once), and the loop may retry it.
It runs on its own thread, so it works whatever the executor (in-process, process pool, Ray).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hashtune.recovery import recover_dead_trials
from hashtune.store import Store, TrialRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LivenessConfig:
    """`heartbeat_s`: how often a worker beats; `stale_beats`: missed beats before it is dead."""

    heartbeat_s: float = 5.0
    stale_beats: float = 4.0

    def __post_init__(self) -> None:
        if not self.heartbeat_s > 0:
            raise ValueError(f"`liveness.heartbeat_s` must be > 0, got {self.heartbeat_s!r}")
        if not self.stale_beats >= 2:
            raise ValueError(f"`liveness.stale_beats` must be >= 2, got {self.stale_beats!r}")

    @property
    def stale_after_s(self) -> float:
        """Silence after which a holder (trial, claim, slot) counts as dead."""
        return self.heartbeat_s * self.stale_beats

    @classmethod
    def of(cls, given: LivenessConfig | dict[str, Any] | None) -> LivenessConfig:
        """A config from itself, a dict of fields, or None (defaults)."""
        if isinstance(given, cls):
            return given
        try:
            return cls(**(given or {}))
        except TypeError as e:
            raise ValueError(f"`liveness` {given!r}: {e}") from e


def worker_seed(seed: int, slot: int) -> int:
    """The random seed of worker `slot` of a study seeded `seed`: slot 0 keeps `seed` (a
    single-process study reproduces as before); the others get independent derived streams."""
    if slot == 0:
        return seed
    digest = hashlib.sha256(f"hashtune-worker:{seed}:{slot}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFF_FFFF


class Heartbeat:
    """The beating and reclaiming thread of one optimize call."""

    def __init__(
        self,
        store: Store,
        study_id: int,
        worker: str,
        config: LivenessConfig,
        on_reclaimed: Callable[[TrialRecord], None] | None = None,
    ):
        self.store, self.study_id, self.worker, self.config = store, study_id, worker, config
        self.on_reclaimed = on_reclaimed
        self._live: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hashtune-heartbeat", daemon=True)

    def track(self, trial_id: int) -> None:
        """Beat for this trial (and its cache claim) until `untrack`."""
        with self._lock:
            self._live.add(trial_id)

    def untrack(self, trial_id: int) -> None:
        with self._lock:
            self._live.discard(trial_id)

    def __enter__(self) -> Heartbeat:
        if not getattr(self.store, "private", False):  # one shared connection, no peers
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=max(self.config.heartbeat_s, 1.0) * 2)

    def beat(self) -> None:
        """One beat: refresh ours, reclaim the dead peers' (a database hiccup is only logged)."""
        with self._lock:
            ids = sorted(self._live)
        try:
            self.store.workers.heartbeat(ids, run_id=self.worker)
            self.store.cache.refresh_claims(ids)
            reclaimed = recover_dead_trials(
                self.store, self.study_id, self.worker,
                self.config.stale_after_s, self.config.stale_beats,
            )  # fmt: skip
        except Exception as e:  # noqa: BLE001 - the next beat tries again
            log.warning("heartbeat failed: %s", str(e).splitlines()[0] if str(e) else repr(e))
            return
        for trial in reclaimed:
            log.warning(
                "trial %d of %s: holder %s silent for over %.1f s; marked interrupted",
                trial.number, self.study_id, trial.worker, self.config.stale_after_s,
            )  # fmt: skip
            if self.on_reclaimed is not None:
                self.on_reclaimed(trial)

    def _run(self) -> None:
        while not self._stop.wait(self.config.heartbeat_s):
            self.beat()
