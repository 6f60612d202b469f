"""The hot path's statements sent to the driver itself: compiled once per dialect, executed on
the transaction's own DBAPI connection (no per-call compile lookup, parameter construction or
result machinery of SQLAlchemy: those cost twice the driver's own execute).

`rows(conn, stmt, params)` runs a prebuilt Core statement (store/statements.py) inside the
caller's transaction and returns its rows as dicts, converted by the columns' own types (JSON,
SQLite's datetimes), exactly as SQLAlchemy would. Driver errors become SQLAlchemy's DBAPIError
(an IntegrityError stays one; a dropped connection is invalidated), so the retries of
store/retry.py see what they would see from `Connection.execute`.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError

Processor = Callable[[Any], Any] | None

#: dialect → id(statement) → (statement, its compiled form); the hot statements are module
#: constants (store/statements.py), so this holds a few entries per engine.
_COMPILED: weakref.WeakKeyDictionary[Dialect, dict[int, tuple[Any, _Compiled]]] = (
    weakref.WeakKeyDictionary()
)


class _Compiled:
    """One statement compiled for one dialect: SQL text, parameter order and converters."""

    def __init__(self, stmt: Any, dialect: Dialect) -> None:
        compiled = stmt.compile(dialect=dialect)
        self.sql: str = compiled.string
        self.defaults: dict[str, Any] = dict(compiled.params)  # literals of the statement
        self.order: list[str] | None = list(compiled.positiontup) if dialect.positional else None
        self.binds: dict[str, Processor] = {}
        for bind, name in compiled.bind_names.items():  # the names the SQL text uses
            proc = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if proc is not None:
                self.binds[name] = proc
        columns = getattr(stmt, "selected_columns", None)
        if columns is None:
            columns = stmt.exported_columns  # DML ... RETURNING
        self.columns = [(c.key, c.type.dialect_impl(dialect)) for c in columns]
        self.returns = bool(self.columns)
        self.results: list[Processor] | None = None  # from the first result's type codes
        self.dialect = dialect

    def args(self, params: Mapping[str, Any]) -> Any:
        """The driver's parameters: the statement's literals and `params`, converted."""
        merged = {**self.defaults, **params}
        for name, proc in self.binds.items():
            merged[name] = proc(merged[name])
        if self.order is None:
            return merged
        return tuple(merged[name] for name in self.order)

    def convert(self, cursor: Any, raw: list[tuple]) -> list[dict[str, Any]]:
        """Rows as dicts, each value converted by its column's type."""
        if self.results is None:
            codes = [d[1] for d in cursor.description]
            self.results = [
                t.result_processor(self.dialect, code)
                for (_, t), code in zip(self.columns, codes, strict=True)
            ]
        names = [name for name, _ in self.columns]
        procs = self.results
        return [
            {
                n: (v if p is None or v is None else p(v))
                for n, p, v in zip(names, procs, row, strict=True)
            }
            for row in raw
        ]


def _compiled(stmt: Any, dialect: Dialect) -> _Compiled:
    per = _COMPILED.get(dialect)
    if per is None:
        per = _COMPILED[dialect] = {}
    found = per.get(id(stmt))
    if found is None or found[0] is not stmt:  # (a freed statement's id may be reused)
        found = per[id(stmt)] = (stmt, _Compiled(stmt, dialect))
    return found[1]


def rows(conn: Connection, stmt: Any, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Execute `stmt` with `params` in `conn`'s transaction on its driver connection; its rows
    (none for a statement without RETURNING)."""
    dialect = conn.dialect
    compiled = _compiled(stmt, dialect)
    args = compiled.args(params)
    raw = conn.connection.dbapi_connection
    cursor = raw.cursor()
    try:
        cursor.execute(compiled.sql, args)
        if not compiled.returns:
            return []
        return compiled.convert(cursor, cursor.fetchall())
    except dialect.loaded_dbapi.Error as e:
        lost = dialect.is_disconnect(e, raw, cursor)
        if lost:
            conn.invalidate(e)
        raise DBAPIError.instance(
            compiled.sql, args, e, dialect.loaded_dbapi.Error,
            connection_invalidated=lost, dialect=dialect,
        ) from e  # fmt: skip
    finally:
        with contextlib.suppress(Exception):  # a lost connection's cursor may not close
            cursor.close()


def first(conn: Connection, stmt: Any, params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The first row of `rows` (or None)."""
    found = rows(conn, stmt, params)
    return found[0] if found else None


def scalar(conn: Connection, stmt: Any, params: Mapping[str, Any]) -> Any:
    """The first column of the first row (or None)."""
    found = rows(conn, stmt, params)
    return next(iter(found[0].values())) if found else None
