"""Functional-equivalence cache policy: hash a candidate, serve known scores, evaluate each function once.

The cache table lives in the store, keyed by (task, functional hash, hash version), so it is shared by
every worker and every later study on the same task, and never across tasks or hash versions. This module decides *what* to do;
the store makes each step atomic.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
from dataclasses import dataclass
from typing import Any, Literal

import pyglove as pg

from hashtune.hashing import HASH_VERSION, functional_hash
from hashtune.store import CacheClaim, CacheEntry, CacheOutcome, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CacheConfig:
    """How the study uses the cache.

    `reevaluate`: evaluate a function up to k times (noisy evaluators) and serve the mean afterwards.
    `audit_fraction`: re-evaluate this fraction of hits and record how far fresh is from cached.
    `wait_timeout_s`: how long to wait for another worker already evaluating the same function.
    """

    enabled: bool = True
    reevaluate: int = 1
    audit_fraction: float = 0.0
    wait_timeout_s: float = 3600.0

    def __post_init__(self) -> None:
        if self.reevaluate < 1:
            raise ValueError(f"`cache.reevaluate` must be >= 1, got {self.reevaluate!r}")
        if not 0.0 <= self.audit_fraction <= 1.0:
            raise ValueError(
                f"`cache.audit_fraction` must be in [0, 1], got {self.audit_fraction!r}"
            )
        if not self.wait_timeout_s > 0:
            raise ValueError(f"`cache.wait_timeout_s` must be > 0, got {self.wait_timeout_s!r}")


def candidate_hash(candidate: Any) -> str:
    """Functional hash when the candidate has an executable form, else a canonical symbolic hash.

    Training-only hyper-parameters an executable lists in `meta["training"]` are folded in, since two
    equal networks trained differently are different results.
    """
    if hasattr(candidate, "executable"):
        executable = candidate.executable()
        digest = functional_hash(candidate)
        training = executable.meta.get("training") if executable.meta else None
        if training:
            extra = json.dumps(training, sort_keys=True, default=repr)
            digest = hashlib.sha256(f"{digest}|{extra}".encode()).hexdigest()[:32]
        return digest
    text = pg.to_json_str(candidate) if isinstance(candidate, pg.Symbolic) else repr(candidate)
    return "sym-" + hashlib.sha256(text.encode()).hexdigest()[:28]


Decision = Literal["hit", "evaluate", "wait"]


class EquivalenceCache:
    """Per-study view of the shared cache for one task, under the current hash version."""

    def __init__(
        self,
        store: Store,
        task: str,
        config: CacheConfig,
        seed: int = 0,
        stale_after_s: float = 3600.0,
    ):
        self.store = store
        self.task = task
        self.version = HASH_VERSION
        self.config = config
        #: A claim whose holder has not beaten for this long is a dead worker's: taken over.
        self.stale_after_s = stale_after_s
        self._rng = random.Random(f"audit:{seed}")

    def key(self, candidate: Any) -> str | None:
        """The candidate's hash, or None (no caching for it) when hashing itself fails."""
        try:
            return candidate_hash(candidate)
        except Exception as e:  # a broken candidate must fail its trial, not the study
            log.warning("functional hash failed (%s); evaluating without the cache", e)
            return None

    def decide(
        self, fhash: str, trial_id: int, steal_after_s: float | None = None
    ) -> tuple[Decision, Any]:
        """What to do with a proposal whose hash is `fhash`: serve, evaluate, or wait for a peer.

        A peer's claim silent for longer than `steal_after_s` (default `stale_after_s`) is taken
        over: its worker is presumed dead.
        """
        entry = self.store.cache_lookup(self.task, fhash, version=self.version)
        if entry is not None and entry.status == "READY":
            return self.decision(entry, False)
        stale = self.stale_after_s if steal_after_s is None else steal_after_s
        claimed = self.store.cache_claim(
            self.task, fhash, trial_id, version=self.version, stale_after_s=stale
        )
        return self.decision(None, claimed)

    def claim(self, fhash: str) -> CacheClaim:
        """What the store does with a new trial's hash in the trial's own transaction: look the
        function up and claim it unless READY (then `decision` says what to do)."""
        return CacheClaim(self.task, fhash, self.version, self.stale_after_s)

    def decision(self, entry: CacheEntry | None, claimed: bool) -> tuple[Decision, Any]:
        """Serve a READY entry evaluated often enough; evaluate a noisy one that needs more, or
        a function this trial claimed; else wait for the peer holding the claim."""
        if entry is not None and entry.status == "READY" and entry.count >= self.config.reevaluate:
            return "hit", entry
        if entry is not None and entry.status == "READY":
            return "evaluate", entry  # noisy task: needs more evaluations before serving the mean
        return ("evaluate", None) if claimed else ("wait", None)

    def recorded(self, fhash: str, values: list[float], seconds: float) -> CacheOutcome:
        """`record` as part of the finishing transaction."""
        return CacheOutcome(self.task, fhash, self.version, tuple(values), float(seconds))

    def released(self, fhash: str) -> CacheOutcome:
        """`release` as part of the finishing transaction."""
        return CacheOutcome(self.task, fhash, self.version)

    def should_audit(self) -> bool:
        """Draw whether this hit is re-evaluated for the collision audit."""
        return self.config.audit_fraction > 0 and self._rng.random() < self.config.audit_fraction

    def record(self, fhash: str, values: list[float], trial_id: int, seconds: float) -> None:
        """A paid evaluation finished: add it to the function's running mean."""
        self.store.cache_record(self.task, fhash, values, trial_id, seconds, version=self.version)

    def release(self, fhash: str, trial_id: int) -> None:
        """A paid evaluation failed: let another proposal of the same function try."""
        self.store.cache_release(self.task, fhash, trial_id, version=self.version)

    def wait(self, fhash: str, stop: threading.Event | None = None):
        """Block until a peer's evaluation of `fhash` is ready (None if it failed, its holder
        stopped beating, we timed out, or `stop` was set)."""
        return self.store.cache_wait(
            self.task,
            fhash,
            version=self.version,
            timeout_s=self.config.wait_timeout_s,
            stop=stop,
            stale_after_s=self.stale_after_s,
        )

    def audit(self, fhash: str, trial_id: int, cached: list[float], fresh: list[float]) -> None:
        """Record a collision-audit pair."""
        self.store.cache_audit(self.task, fhash, trial_id, cached, fresh)
