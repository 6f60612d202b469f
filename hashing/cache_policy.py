"""The functional-equivalence cache policy, whole: hash a candidate, decide, record.

`CachePolicy.key` hashes a candidate (`candidate_hash`); `CachePolicy.decide` returns the complete
action for a trial (serve the cached score, evaluate, re-evaluate a noisy function, audit a hit,
or wait for a peer evaluating the same function); `CachePolicy.update` says what a finished
evaluation does to the cache. The cache table itself lives in the store, keyed by (task, functional
hash, hash version), shared by every worker and later study on the task: this module only needs
the few table operations of `CacheTable`, and the store makes each step atomic.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pyglove as pg

from hashtune.hashing.functional_hash import HASH_VERSION, functional_hash
from hashtune.vocabulary import DEFAULT_CACHE_WAIT_S, DEFAULT_CLAIM_STALE_S, TrialState

log = logging.getLogger(__name__)

#: A cache entry's status once a function has a score (others: PENDING, claimed by a trial).
READY = "READY"


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
    wait_timeout_s: float = DEFAULT_CACHE_WAIT_S

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

    Training-only hyper-parameters an executable lists in `meta["training"]` are folded in, since
    two equal networks trained differently are different results.
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


class CachedScore(Protocol):
    """What the policy reads of a cache entry (the store's `CacheEntry`)."""

    status: str
    count: int
    mean: Sequence[float]
    first_trial_id: int | None


class CacheTable(Protocol):
    """The cache-table operations the policy needs (the store implements them)."""

    def lookup(self, task: str, fhash: str, *, version: str) -> Any: ...

    def claim(
        self, task: str, fhash: str, trial_id: int, *, version: str, stale_after_s: float
    ) -> bool: ...

    def record(
        self, task: str, fhash: str, values: Any, trial_id: int, seconds: float, *, version: str
    ) -> Any: ...

    def release(self, task: str, fhash: str, trial_id: int, *, version: str) -> None: ...

    def wait(self, task: str, fhash: str, **kw: Any) -> Any: ...

    def audit(
        self, task: str, fhash: str, trial_id: int, cached: list[float], fresh: list[float]
    ) -> None: ...


@dataclass(frozen=True)
class ClaimRequest:
    """What a trial's starting transaction does: look the function up, claim it unless READY
    (the store's `begin_trial(claim=...)` reads these fields)."""

    task: str
    functional_hash: str
    version: str
    stale_after_s: float


@dataclass(frozen=True)
class CacheUpdate:
    """What a trial's finishing transaction does to the cache: record a paid evaluation
    (`values`, `seconds`), or, with `values` None, release the claim the trial held."""

    task: str
    functional_hash: str
    version: str
    values: tuple[float, ...] | None = None
    seconds: float = 0.0


class Act(enum.StrEnum):
    """What to do with a trial's proposal."""

    SERVE = "serve"  # finish it CACHED with the function's mean score
    EVALUATE = "evaluate"  # pay for an evaluation (holding the claim when `claimed`)
    REEVALUATE = "reevaluate"  # a noisy function with fewer evaluations than `reevaluate`
    AUDIT = "audit"  # evaluate a hit again, record fresh vs cached, then serve the cached
    WAIT = "wait"  # a peer is evaluating the same function: wait for its score


@dataclass(frozen=True)
class CacheAction:
    """`decide`'s answer: the act, the entry it serves or audits, and whether the trial holds
    the function's claim (released if its evaluation fails)."""

    act: Act
    entry: Any = None
    claimed: bool = False

    @property
    def pays(self) -> bool:
        """Whether the action runs an evaluation."""
        return self.act in (Act.EVALUATE, Act.REEVALUATE, Act.AUDIT)


#: No cache for this proposal (disabled, or its hash failed): evaluate, holding nothing.
UNCACHED = CacheAction(Act.EVALUATE)


class CachePolicy:
    """One study's use of the shared cache for one task, under the current hash version."""

    def __init__(
        self,
        table: CacheTable,
        task: str,
        config: CacheConfig,
        seed: int = 0,
        stale_after_s: float = DEFAULT_CLAIM_STALE_S,
    ):
        self.table = table
        self.task = task
        self.version = HASH_VERSION
        self.config = config
        #: A claim whose holder has not beaten for this long is a dead worker's: taken over.
        self.stale_after_s = stale_after_s
        self._rng = random.Random(f"audit:{seed}")

    # -- hash ----------------------------------------------------------------------------------

    def key(self, candidate: Any) -> str | None:
        """The candidate's hash, or None (no caching for it) when the cache is off or hashing
        itself fails (a broken candidate must fail its trial, not the study)."""
        if not self.config.enabled:
            return None
        try:
            return candidate_hash(candidate)
        except Exception as e:  # noqa: BLE001
            log.warning("functional hash failed (%s); evaluating without the cache", e)
            return None

    def claim(self, fhash: str) -> ClaimRequest:
        """The look-up-and-claim a new trial's starting transaction makes for `fhash`."""
        return ClaimRequest(self.task, fhash, self.version, self.stale_after_s)

    # -- decide --------------------------------------------------------------------------------

    def decide(
        self,
        fhash: str | None,
        trial_id: int,
        *,
        entry: Any = None,
        claimed: bool | None = None,
        waited: bool = False,
        audit: bool = True,
    ) -> CacheAction:
        """The complete action for trial `trial_id`, whose proposal hashes to `fhash`.

        `entry`/`claimed`: what the trial's starting transaction found and took (`claimed` None:
        nothing yet, look up and claim now). `waited`: `entry` is what waiting for a peer gave
        (None: the peer failed, died or outlived our patience; its claim is then taken over after
        `min(wait_timeout_s, stale_after_s)` of silence). A hit is drawn for the audit unless
        `audit` is False or it came from a wait.
        """
        if fhash is None:
            return UNCACHED
        if waited and entry is not None:
            claimed = False
        elif claimed is None or waited:
            steal = self.stale_after_s
            if waited:
                steal = min(self.config.wait_timeout_s, self.stale_after_s)
            entry = self.table.lookup(self.task, fhash, version=self.version)
            claimed = False
            if entry is None or entry.status != READY:
                entry = None
                claimed = self.table.claim(
                    self.task, fhash, trial_id, version=self.version, stale_after_s=steal
                )
        return self._rule(entry, bool(claimed), audit and not waited)

    def _rule(self, entry: Any, claimed: bool, audit: bool) -> CacheAction:
        """Serve a READY entry evaluated often enough (or audit it); re-evaluate one that needs
        more evaluations; evaluate a function this trial claimed; else wait for the holder."""
        if entry is not None and entry.status == READY:
            if entry.count >= self.config.reevaluate:
                return CacheAction(Act.AUDIT if audit and self._draw() else Act.SERVE, entry)
            return CacheAction(Act.REEVALUATE, entry)
        return CacheAction(Act.EVALUATE, claimed=True) if claimed else CacheAction(Act.WAIT)

    def _draw(self) -> bool:
        """Whether this hit is re-evaluated for the collision audit."""
        return self.config.audit_fraction > 0 and self._rng.random() < self.config.audit_fraction

    def wait(self, fhash: str, stop: threading.Event | None = None) -> Any:
        """Block until a peer's evaluation of `fhash` is ready (None if it failed, its holder
        stopped beating, we timed out, or `stop` was set)."""
        return self.table.wait(
            self.task,
            fhash,
            version=self.version,
            timeout_s=self.config.wait_timeout_s,
            stop=stop,
            stale_after_s=self.stale_after_s,
        )

    # -- record --------------------------------------------------------------------------------

    def update(
        self,
        fhash: str | None,
        claimed: bool,
        state: str,
        values: Sequence[float] | None,
        seconds: float,
    ) -> CacheUpdate | None:
        """What a finished evaluation does to the cache: a COMPLETE one adds to the function's
        running mean; a failed one releases the claim it held, so another proposal may try."""
        if fhash is None:
            return None
        if state == TrialState.COMPLETE and values is not None:
            return CacheUpdate(self.task, fhash, self.version, tuple(values), float(seconds))
        if claimed:
            return CacheUpdate(self.task, fhash, self.version)
        return None

    def apply(self, update: CacheUpdate | None, trial_id: int) -> None:
        """Carry out `update` on its own (not in a trial's finishing transaction)."""
        if update is None:
            return
        if update.values is None:
            self.release(update.functional_hash, trial_id)
        else:
            self.table.record(
                self.task, update.functional_hash, list(update.values), trial_id,
                update.seconds, version=self.version,
            )  # fmt: skip

    def release(self, fhash: str, trial_id: int) -> None:
        """A claimed evaluation will not finish: let another proposal of the function try."""
        self.table.release(self.task, fhash, trial_id, version=self.version)

    def audit(self, fhash: str, trial_id: int, cached: list[float], fresh: list[float]) -> None:
        """Record a collision-audit pair (served score vs a fresh evaluation)."""
        self.table.audit(self.task, fhash, trial_id, cached, fresh)
