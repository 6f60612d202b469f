"""SQL store of hashtune: studies, trials, lineage and the functional-equivalence cache.

`Store(url)` composes one `Database` (engine, sessions, URL) with one object per concept:
`store.studies`, `store.trials`, `store.queries`, `store.cache`, `store.workers`,
`store.artifacts` and `store.dashboard`.
"""

from hashtune.store.database import Database
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
    "Database",
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
