"""The Store: one database and the concepts that read and write it, composed.

`store.studies`, `store.trials`, `store.queries`, `store.cache`, `store.workers`,
`store.artifacts` and `store.dashboard` each take the Database (and the concepts they use) in
their constructor; none reaches into another's private members.
"""

from __future__ import annotations

from typing import Any

from hashtune.store.artifacts import Artifacts
from hashtune.store.cache import Cache
from hashtune.store.dashboard import Dashboard
from hashtune.store.database import Database
from hashtune.store.queries import Queries
from hashtune.store.studies import Studies
from hashtune.store.trials import Trials
from hashtune.store.workers import Workers


class Store:
    """Transactional store of studies, trials, lineage and the shared FEC cache.

    `Store(url)` connects, creates the schema or upgrades it to the latest migration, and returns
    frozen records from every query. Safe to use from several threads and processes at once.
    """

    def __init__(self, url: str) -> None:
        #: The engine, sessions and URL every concept goes through.
        self.db = Database(url)
        self.studies = Studies(self.db)
        self.cache = Cache(self.db)
        self.workers = Workers(self.db)
        self.trials = Trials(self.db, self.cache, self.workers)
        self.queries = Queries(self.db, self.trials)
        self.artifacts = Artifacts(self.db)
        self.dashboard = Dashboard(self.db)

    @property
    def url(self) -> str:
        """The storage URL as given (with its password: workers reopen it)."""
        return self.db.url

    @property
    def safe_url(self) -> str:
        """The storage URL with any password hidden, for messages."""
        return self.db.safe_url

    @property
    def private(self) -> bool:
        """An in-memory SQLite store is private to this process: no peers, no liveness needed."""
        return self.db.private

    def __repr__(self) -> str:
        return f"Store({self.db.safe_url!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as the URL: a worker process reopens its own connections."""
        return (type(self), (self.url,))

    def close(self) -> None:
        """Close every pooled connection (the store reconnects if used again)."""
        self.db.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
