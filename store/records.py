"""Frozen records the store returns, so callers never hold ORM objects or sessions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def aware(ts: datetime | None) -> datetime | None:
    """Stored timestamps are naive UTC; hand them out timezone-aware."""
    return None if ts is None else ts.replace(tzinfo=UTC)


def floats(values: Any) -> tuple[float, ...] | None:
    """JSON list (non-finite floats are stored as strings) → tuple of floats."""
    return None if values is None else tuple(float(v) for v in values)


@dataclass(frozen=True, slots=True)
class StudyRecord:
    """A study row."""

    id: int
    name: str
    directions: tuple[str, ...]
    config: dict[str, Any]
    created_at: datetime
    status: str


@dataclass(frozen=True, slots=True)
class StudySummary:
    """One line of `list_studies`: trial counts per state and the best first-objective value."""

    id: int
    name: str
    directions: tuple[str, ...]
    created_at: datetime
    status: str
    n_trials: dict[str, int]
    best_value: float | None

    @property
    def total_trials(self) -> int:
        """All trials of the study, whatever their state."""
        return sum(self.n_trials.values())


@dataclass(frozen=True, slots=True)
class TrialRecord:
    """A trial with its lineage parents (trial numbers) and intermediate values."""

    id: int
    study_id: int
    number: int
    state: str
    dna: Any
    candidate: str
    params: dict[str, Any]
    value: float | None
    values: tuple[float, ...] | None
    user_attrs: dict[str, Any]
    error: str | None
    worker: str | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    heartbeat_at: datetime | None
    functional_hash: str | None
    task: str | None
    cached_from_trial_id: int | None
    parents: tuple[int, ...] = ()
    mutation: str | None = None
    intermediate: tuple[tuple[int, float], ...] = field(default=())


@dataclass(frozen=True, slots=True)
class LineageRecord:
    """Edge child → parent (trial numbers within one study) and the mutation applied."""

    child_number: int
    parent_number: int
    mutation: str | None


@dataclass(frozen=True, slots=True)
class StudyStats:
    """Proposal/evaluation accounting of a study, including what the FEC cache saved."""

    proposals: int
    complete: int
    failed: int
    pruned: int
    cached: int
    running: int
    unique_functions: int
    evaluations_saved: int
    eval_seconds_saved: float
    eval_seconds_paid: float


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One function's cached scores on one task: running mean and sample variance per objective."""

    task: str
    functional_hash: str
    status: str
    count: int
    mean: tuple[float, ...]
    variance: tuple[float, ...]
    first_trial_id: int | None
    eval_seconds: float | None
    claimed_by_trial_id: int | None
    claimed_at: datetime | None = None
    updated_at: datetime | None = None
    hash_version: str = ""


@dataclass(frozen=True, slots=True)
class TaskCacheSummary:
    """A task's cache entries: how many under the current hash version, how many under others
    (per version, task and store-wide), and every study that ran on the task."""

    task: str
    entries: int
    other_versions: dict[str, int]
    store_other_versions: dict[str, int]
    studies: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """A cache hit re-evaluated: cached vs fresh scores and their largest absolute difference."""

    id: int
    task: str
    functional_hash: str
    trial_id: int | None
    cached: tuple[float, ...]
    fresh: tuple[float, ...]
    abs_diff: float | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PeerTrial:
    """A trial as a peer's searcher needs it: its proposal (DNA) and, once finished, the outcome."""

    number: int
    state: str
    dna: Any
    values: tuple[float, ...] | None
    worker: str | None
    finish_seq: int | None


@dataclass(frozen=True, slots=True)
class PeerNews:
    """What a worker's peers did since its cursor: trials finished (in finish order), trials they
    run now, and the cursor to pass next time."""

    finished: tuple[PeerTrial, ...]
    running: tuple[PeerTrial, ...]
    cursor: int


@dataclass(frozen=True, slots=True)
class ArtifactRecord:
    """A file kept for a trial: its name, where the artifact store holds it, size and sha256.

    `trial_number` is the trial that saved it: a cached trial's artifacts are those of the
    trial that paid for the evaluation.
    """

    trial_number: int
    name: str
    uri: str
    size: int
    sha256: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CacheClaim:
    """What `begin_trial` asks of the cache: look the function up, claim it unless READY."""

    task: str
    functional_hash: str
    version: str
    stale_after_s: float


@dataclass(frozen=True, slots=True)
class CacheOutcome:
    """What `finish_and_next` does to the cache: record a paid evaluation (`values` and
    `seconds`), or, with `values` None, release the claim this trial held."""

    task: str
    functional_hash: str
    version: str
    values: tuple[float, ...] | None = None
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class StartedTrial:
    """A trial moved to RUNNING with its proposal, the cache entry as found (None: none yet),
    whether the trial now holds the entry's claim, and the next reservation if one was asked."""

    trial: TrialRecord
    entry: CacheEntry | None = None
    claimed: bool = False
    reserved: TrialRecord | None = None
    reserved_budget: int | None = None


@dataclass(frozen=True, slots=True)
class FinishedTrial:
    """A finished trial, the cache entry it updated, peer news and the next reservation."""

    trial: TrialRecord
    entry: CacheEntry | None = None
    news: PeerNews | None = None
    reserved: TrialRecord | None = None
    reserved_budget: int | None = None
