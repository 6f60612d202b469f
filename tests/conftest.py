"""Shared fixtures: storage URLs for SQLite and a throwaway PostgreSQL database per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_SERVER_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
_PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"
_pg_down: list[str] = []  # remembered so an unreachable server costs one timeout per session


def _pg_unreachable(reason: str) -> None:
    """Skip (locally) or fail (CI=true) a PostgreSQL-backed test when the server is unreachable."""
    msg = (
        f"PostgreSQL at 127.0.0.1:5432 is not reachable: {reason}; start it with "
        "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg)
    pytest.skip(msg)


def _admin(sql: str) -> None:
    """Run one statement on the server's `test` database outside any transaction."""
    import psycopg

    with psycopg.connect(_PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """URL of a fresh, uniquely named PostgreSQL database (dropped afterwards)."""
    if _pg_down:
        _pg_unreachable(_pg_down[0])
    name = f"{os.environ.get('HASHTUNE_TEST_PG_PREFIX', 'ht_')}{uuid.uuid4().hex[:16]}"
    try:
        _admin(f'CREATE DATABASE "{name}"')
    except Exception as e:  # psycopg.OperationalError, or psycopg missing
        _pg_down.append(str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__)
        _pg_unreachable(_pg_down[0])
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a new SQLite file in the test's temporary directory."""
    return f"sqlite:///{tmp_path}/t.db"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def storage_url(request: pytest.FixtureRequest) -> str:
    """A fresh storage URL on each backend: SQLite file, and a throwaway PostgreSQL database."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")
