"""The Database: one engine (created and migrated from a URL) and the sessions every concept of
the store reads and writes through. Writes take SQLite's write lock up front; reads never do."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hashtune.store.engine import make_engine, migrate, safe_url
from hashtune.store.errors import StoreError
from hashtune.store.faults import fault_hint


class Database:
    """Owns the engine of one storage URL and hands out transactional sessions and connections.

    `Database(url)` connects and creates the schema or upgrades it to the latest migration.
    Every `write()`/`write_conn()` is one transaction: committed on success, rolled back on any
    exception. Safe to use from several threads at once.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        #: The URL with any password hidden, for messages.
        self.safe_url = safe_url(url)
        self.engine: Engine = make_engine(url)
        db = self.engine.url
        #: An in-memory SQLite store is private to this process: no peers, no liveness needed.
        self.private = db.get_backend_name() == "sqlite" and db.database in (None, "", ":memory:")
        try:
            migrate(self.engine)
        except StoreError:
            self.engine.dispose()
            raise
        except SQLAlchemyError as e:
            self.engine.dispose()
            reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
            hint = fault_hint(reason, self.engine.url)
            raise StoreError(f"cannot open storage URL {self.safe_url!r}: {reason}{hint}") from e
        self._write_engine = self.engine.execution_options(hashtune_write=True)
        self._write_maker = sessionmaker(bind=self._write_engine, expire_on_commit=False)
        self._read_maker = sessionmaker(bind=self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """The backend's dialect name ('sqlite', 'postgresql')."""
        return self.engine.dialect.name

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """An ORM session in one write transaction (committed on success, else rolled back)."""
        with self._write_maker.begin() as session:
            yield session

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session (one consistent snapshot; never takes the SQLite write lock)."""
        with self._read_maker() as session, session.begin():
            yield session

    @contextlib.contextmanager
    def write_conn(self) -> Iterator[Connection]:
        """A Core connection in one write transaction (the hot path: no ORM session)."""
        with self._write_engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def read_conn(self) -> Iterator[Connection]:
        """A Core connection in one read transaction."""
        with self.engine.begin() as conn:
            yield conn

    def rows(self, stmt: Any) -> list[tuple]:
        """Every row of a read-only statement, as tuples (one read transaction)."""
        with self.read() as s:
            return [tuple(r) for r in s.execute(stmt).all()]

    def scalar(self, stmt: Any) -> Any:
        """The first column of the first row of a read-only statement (or None)."""
        with self.read() as s:
            return s.scalar(stmt)

    def dispose(self) -> None:
        """Close every pooled connection (the engine reconnects if used again)."""
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({self.safe_url!r})"


class Bound:
    """A concept of the store: it reaches the database only through `self.db`'s public API."""

    def __init__(self, db: Database) -> None:
        self.db = db
