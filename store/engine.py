"""Engine construction: URL checks, SQLite pragmas (WAL, busy_timeout), JSON, migrations."""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from hashtune.store.errors import StoreError
from hashtune.store.models import SCHEMA_HEAD, VERSION_TABLE, Base

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 60_000
#: WAL pages before SQLite copies them back into the file (its default: 1,000). A trial rewrites
#: the same few dozen index and table pages in every commit; a checkpoint copies each page
#: once however often it changed, so a longer WAL means far fewer copies and fsyncs per trial.
#: Commits are as durable as before (WAL, synchronous=NORMAL); the WAL is cut back to
#: SQLITE_WAL_LIMIT_BYTES once checkpointed.
SQLITE_WAL_AUTOCHECKPOINT = 10_000
SQLITE_WAL_LIMIT_BYTES = 64 << 20
#: Alembic's version table of stores from before the `ht_` prefix.
LEGACY_VERSION_TABLE = "alembic_version"
_PG_MIGRATION_LOCK = 0x6861_7368_74  # arbitrary advisory-lock key ("hasht")

try:  # POSIX file locks serialize first opens of a new SQLite file across processes
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def _finite(obj: Any) -> Any:
    """Replace non-finite floats (invalid JSON for PostgreSQL) by 'NaN'/'Infinity' strings."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return "NaN" if math.isnan(obj) else ("Infinity" if obj > 0 else "-Infinity")
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def json_dumps(obj: Any) -> str:
    """JSON encoder for JSON columns: strict JSON on every backend (non-finite floats as
    strings, the walk that replaces them only when the plain encoding finds one)."""
    try:
        return json.dumps(obj, allow_nan=False, default=_default)
    except ValueError:
        return json.dumps(_finite(obj), allow_nan=False, default=_default)


def _default(obj: Any) -> Any:
    """Encode numpy scalars/arrays and other number-likes that `json` does not know."""
    if hasattr(obj, "tolist"):
        return _finite(obj.tolist())
    if hasattr(obj, "__float__"):
        return _finite(float(obj))
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serializable: {obj!r}")


def safe_url(url: str | URL) -> str:
    """The URL with any password hidden, for error messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return str(url)


def parse_url(url: str) -> URL:
    """Parse a storage URL, raising StoreError that names it when malformed."""
    if not isinstance(url, str) or not url.strip():
        raise StoreError(f"storage URL must be a non-empty string, got {url!r}")
    try:
        return make_url(url)
    except ArgumentError as e:
        raise StoreError(f"malformed storage URL {url!r}: {e}") from e


def _is_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """Per-connection SQLite setup: we issue BEGIN ourselves; WAL; wait instead of 'locked'."""
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA journal_mode = WAL")
    cur.execute("PRAGMA synchronous = NORMAL")
    cur.execute(f"PRAGMA wal_autocheckpoint = {SQLITE_WAL_AUTOCHECKPOINT}")
    cur.execute(f"PRAGMA journal_size_limit = {SQLITE_WAL_LIMIT_BYTES}")
    cur.execute("PRAGMA foreign_keys = ON")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    """Writers take the write lock up front (BEGIN IMMEDIATE) so read-then-write never deadlocks.
    Sent to the driver itself (twice per trial: SQLAlchemy's execution costs 4x SQLite's BEGIN);
    its errors raised as SQLAlchemy's, as `exec_driver_sql` raised them."""
    write = conn.get_execution_options().get("hashtune_write", False)
    sql = "BEGIN IMMEDIATE" if write else "BEGIN"
    raw = conn.connection.dbapi_connection
    try:
        raw.execute(sql)
    except conn.dialect.loaded_dbapi.Error as e:
        lost = conn.dialect.is_disconnect(e, raw, None)
        if lost:
            conn.invalidate(e)
        raise DBAPIError.instance(
            sql, (), e, conn.dialect.loaded_dbapi.Error, connection_invalidated=lost,
            dialect=conn.dialect,
        ) from e  # fmt: skip


def make_engine(url: str) -> Engine:
    """Create the engine for `url` (SQLite or PostgreSQL), wrapping driver errors in StoreError."""
    parsed = parse_url(url)
    backend = parsed.get_backend_name()
    kwargs: dict[str, Any] = {"json_serializer": json_dumps, "future": True}
    if backend == "sqlite":
        if _is_memory(parsed):
            kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
        else:
            kwargs["connect_args"] = {"check_same_thread": False}
    elif backend == "postgresql":
        if "connect_timeout" not in parsed.query:
            kwargs["connect_args"] = {"connect_timeout": 10}
        # No ping per checkout (a round trip per transaction, two per trial): a connection the
        # server dropped fails its first statement as a disconnect, which invalidates it, and
        # the store call runs again on a fresh one (store/retry.py resumes what had committed).
    try:
        engine = create_engine(parsed, **kwargs)
    except (NoSuchModuleError, ArgumentError, ImportError) as e:
        raise StoreError(f"cannot use storage URL {safe_url(url)!r}: {e}") from e
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


@contextlib.contextmanager
def _sqlite_file_lock(url: URL) -> Iterator[None]:
    """Serialize create+migrate of one SQLite file across processes (no-op for memory DBs)."""
    if fcntl is None or url.get_backend_name() != "sqlite" or _is_memory(url) or not url.database:
        yield
        return
    lock_path = (
        Path(url.database).expanduser().resolve().with_name(Path(url.database).name + ".lock")
    )
    if not lock_path.parent.is_dir():
        raise StoreError(
            f"cannot open storage URL {safe_url(url)!r}: directory {str(lock_path.parent)!r} "
            "does not exist"
        )
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:  # read-only directory: rely on SQLite's own locking and busy_timeout
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def alembic_config(connection: Any | None = None, version_table: str = VERSION_TABLE) -> Config:
    """Programmatic Alembic config pointing at the packaged migrations (no alembic.ini)."""
    from alembic.config import Config  # Alembic only when a migration runs: opens stay fast

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["version_table"] = version_table
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _scripts() -> Any:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def legacy_revisions() -> set[str]:
    """Revisions of stores with unprefixed tables (before the one that renames them)."""
    scripts = _scripts()
    rename = next(s for s in scripts.walk_revisions() if getattr(s.module, "RENAMES_TABLES", False))
    return {s.revision for s in scripts.iterate_revisions(rename.down_revision, "base")}


def _version(conn: Any, table: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    ctx = MigrationContext.configure(conn, opts={"version_table": table})
    return ctx.get_current_revision()


def _is_legacy(conn: Any) -> bool:
    """True for a store from before the prefix: `alembic_version` holding a hashtune revision."""
    from sqlalchemy import inspect

    names = set(inspect(conn).get_table_names())
    if VERSION_TABLE in names or LEGACY_VERSION_TABLE not in names:
        return False
    return _version(conn, LEGACY_VERSION_TABLE) in legacy_revisions()


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to `revision`, safe against concurrent openers of the same database.

    A database already at the head is only read (no write lock), so read-only commands open a
    read-only file. A new store gets the ORM schema and is stamped at head (revisions 0001-0006 would create
    unprefixed tables that clash with Optuna's). A store from before the prefix is upgraded under
    its old version table up to the rename, which then moves to `ht_alembic_version`. Asking for
    a revision before the rename builds such an old store (the migration tests do).
    """
    url = engine.url
    if revision == "head" and _at_head(engine):
        return  # the common open: no Alembic import
    from alembic import command

    with _sqlite_file_lock(url):
        with engine.execution_options(hashtune_write=True).begin() as conn:
            if url.get_backend_name() == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            _refuse_newer_schema(conn, url)
            legacy = legacy_revisions()
            fresh = _version(conn, VERSION_TABLE) is None and not _is_legacy(conn)
            if fresh and revision == "head":
                Base.metadata.create_all(conn)
                command.stamp(alembic_config(conn), "head")
                return
            if fresh or _is_legacy(conn):
                old = alembic_config(conn, LEGACY_VERSION_TABLE)
                if revision in legacy:
                    command.upgrade(old, revision)
                    return
                command.upgrade(old, max(legacy, key=_depth))
                _move_version_table(conn)
            command.upgrade(alembic_config(conn), revision)


def _at_head(engine: Engine) -> bool:
    """Whether the database exists and is at the newest revision this hashtune knows: one plain
    query, so opening a current store needs neither Alembic nor its migration scripts."""
    with engine.connect() as conn:
        try:
            current = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
        except DBAPIError:
            conn.rollback()
            return False
    return current == [SCHEMA_HEAD]


def _depth(revision: str) -> int:
    """Number of ancestors of `revision` (orders the linear chain)."""
    return sum(1 for _ in _scripts().iterate_revisions(revision, "base"))


def _move_version_table(conn: Any) -> None:
    """Copy the revision from `alembic_version` to `ht_alembic_version` and drop the old table."""
    from alembic import command

    current = _version(conn, LEGACY_VERSION_TABLE)
    command.stamp(alembic_config(conn), current)
    conn.execute(text(f"DROP TABLE {LEGACY_VERSION_TABLE}"))


def _refuse_newer_schema(conn: Any, url: URL) -> None:
    """A store migrated by a newer hashtune has a revision this one does not know: say so."""
    current = _version(conn, VERSION_TABLE)
    scripts = _scripts()
    if current is None or current in {s.revision for s in scripts.walk_revisions()}:
        return
    raise StoreError(
        f"store {safe_url(url)!r} has schema revision {current!r}, which this hashtune does not "
        f"know (it knows up to {scripts.get_current_head()!r}): it was written by a newer "
        "hashtune; upgrade hashtune (pip install -U hashtune) to open it"
    )


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None when it was never migrated)."""
    with engine.connect() as conn:
        current = _version(conn, VERSION_TABLE)
        if current is None and _is_legacy(conn):
            current = _version(conn, LEGACY_VERSION_TABLE)
        return current
