"""SQL store of hashtune: studies, trials, lineage and the functional-equivalence cache."""

from hashtune.store.errors import (
    StoreError,
    StudyExistsError,
    StudyNotFoundError,
    TrialNotFoundError,
)
from hashtune.store.records import (
    ArtifactRecord,
    AuditRecord,
    CacheClaim,
    CacheEntry,
    CacheOutcome,
    FinishedTrial,
    LineageRecord,
    PeerNews,
    PeerTrial,
    StartedTrial,
    StudyRecord,
    StudyStats,
    StudySummary,
    TaskCacheSummary,
    TrialRecord,
)
from hashtune.store.store import Store

__all__ = [
    "ArtifactRecord",
    "AuditRecord",
    "CacheClaim",
    "CacheEntry",
    "CacheOutcome",
    "FinishedTrial",
    "LineageRecord",
    "PeerNews",
    "PeerTrial",
    "StartedTrial",
    "Store",
    "StoreError",
    "StudyExistsError",
    "StudyNotFoundError",
    "StudyRecord",
    "StudyStats",
    "StudySummary",
    "TaskCacheSummary",
    "TrialNotFoundError",
    "TrialRecord",
]
