"""Functional-equivalence cache operations: atomic claim, Welford record, release, wait, audit.

Every entry is keyed by (task, functional hash, hash version); each operation names the version
of the hash algorithm its caller hashes with, and never touches entries of another version.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Connection

from hashtune.store import hot
from hashtune.store import statements as sql
from hashtune.store.base import utcnow
from hashtune.store.database import Bound
from hashtune.store.models import FecAudit, FecCache, Trial
from hashtune.store.models import Study as StudyRow
from hashtune.store.records import AuditRecord, CacheEntry, TaskCacheSummary, aware, floats
from hashtune.store.retry import retry_methods
from hashtune.vocabulary import DEFAULT_CLAIM_STALE_S


def cache_entry(row: Mapping[str, Any]) -> CacheEntry:
    """`fec_cache` row → CacheEntry (sample variance; 0 until two evaluations)."""
    count = row["count"]
    mean = floats(row["mean"]) or ()
    m2 = floats(row["m2"]) or ()
    variance = tuple(x / (count - 1) if count >= 2 else 0.0 for x in m2)
    return CacheEntry(
        task=row["task"],
        functional_hash=row["functional_hash"],
        status=row["status"],
        count=count,
        mean=mean,
        variance=variance,
        first_trial_id=row["first_trial_id"],
        eval_seconds=row["eval_seconds"],
        claimed_by_trial_id=row["claimed_by_trial_id"],
        claimed_at=aware(row["claimed_at"]),
        updated_at=aware(row["updated_at"]),
        hash_version=row["hash_version"],
    )


class Cache(Bound):
    """The cache keyed by (task, functional hash, hash version), shared by studies and workers:
    `lookup`, `claim`, `record`, `release`, `wait`, `refresh_claims`, `task_summary`, `audit`,
    `audits`."""

    def lookup(self, task: str, fhash: str, *, version: str) -> CacheEntry | None:
        """The cache entry for this function on this task under hash `version`, or None."""
        with self.db.read_conn() as conn:
            params = {"p_task": task, "p_hash": fhash, "p_version": version}
            row = conn.execute(sql.ENTRY, params).mappings().first()
        return None if row is None else cache_entry(row)

    def claim(
        self,
        task: str,
        fhash: str,
        trial_id: int,
        *,
        version: str,
        stale_after_s: float = DEFAULT_CLAIM_STALE_S,
    ) -> bool:
        """Atomically take the right to evaluate this function (new row, or a stale claim)."""
        with self.db.write_conn() as conn:
            return claim_entry(conn, task, fhash, version, trial_id, stale_after_s)

    def record(
        self,
        task: str,
        fhash: str,
        values: list[float],
        trial_id: int,
        seconds: float,
        *,
        version: str,
    ) -> CacheEntry:
        """Add one paid evaluation to the function's running mean/variance and mark it READY."""
        x = check_cache_values(values)
        with self.db.write_conn() as conn:
            return record_entry(conn, task, fhash, version, x, trial_id, seconds)

    def release(self, task: str, fhash: str, trial_id: int, *, version: str) -> None:
        """The claimant failed: drop its PENDING row so another proposal may evaluate."""
        with self.db.write_conn() as conn:
            release_entry(conn, task, fhash, version, trial_id)

    def refresh_claims(self, trial_ids: list[int]) -> None:
        """Heartbeat the PENDING claims these running trials hold, so a long evaluation keeps
        its claim (a claim silent for longer than the stale limit is taken over)."""
        if not trial_ids:
            return
        with self.db.write_conn() as conn:
            conn.execute(
                update(FecCache.__table__)
                .where(FecCache.status == "PENDING", FecCache.claimed_by_trial_id.in_(trial_ids))
                .values(claimed_at=utcnow())
            )

    def wait(
        self,
        task: str,
        fhash: str,
        *,
        version: str,
        timeout_s: float,
        poll_s: float = 0.05,
        stop: threading.Event | None = None,
        stale_after_s: float | None = None,
    ) -> CacheEntry | None:
        """Poll until the entry is READY (returned), or released/absent, its claim silent for
        more than `stale_after_s` (a dead holder), timed out or `stop` set (None)."""
        deadline = time.monotonic() + float(timeout_s)
        while stop is None or not stop.is_set():
            entry = self.lookup(task, fhash, version=version)
            if entry is None:
                return None
            if entry.status == "READY":
                return entry
            beat = entry.claimed_at
            if stale_after_s is not None and beat is not None:
                if (datetime.now(UTC) - beat).total_seconds() > stale_after_s:
                    return None
            if time.monotonic() >= deadline:
                return None
            time.sleep(min(poll_s, max(deadline - time.monotonic(), 0.0)))
        return None

    def task_summary(self, task: str, *, version: str) -> TaskCacheSummary:
        """Entries of `task` under `version` and under other versions, and its studies."""
        count = func.count()
        with self.db.read() as s:
            per_version = dict(
                s.execute(
                    select(FecCache.hash_version, count)
                    .where(FecCache.task == task)
                    .group_by(FecCache.hash_version)
                ).all()
            )
            store_wide = dict(
                s.execute(
                    select(FecCache.hash_version, count)
                    .where(FecCache.hash_version != version)
                    .group_by(FecCache.hash_version)
                ).all()
            )
            studies = s.scalars(
                select(StudyRow.name)
                .where(StudyRow.id.in_(select(Trial.study_id).where(Trial.task == task)))
                .order_by(StudyRow.name)
            ).all()
        return TaskCacheSummary(
            task=task,
            entries=per_version.pop(version, 0),
            other_versions=per_version,
            store_other_versions=store_wide,
            studies=tuple(studies),
        )

    def audit(
        self, task: str, fhash: str, trial_id: int, cached: list[float], fresh: list[float]
    ) -> None:
        """Record a re-evaluated hit: cached vs fresh scores and their max absolute difference."""
        c, f = [float(v) for v in cached], [float(v) for v in fresh]
        if len(c) != len(f):
            raise ValueError(f"`cached` {c!r} and `fresh` {f!r} differ in number of objectives")
        diffs = [abs(a - b) for a, b in zip(c, f, strict=True)]
        diff = max(diffs) if diffs else 0.0
        with self.db.write() as s:
            s.add(
                FecAudit(
                    task=task,
                    functional_hash=fhash,
                    trial_id=trial_id,
                    cached=c,
                    fresh=f,
                    abs_diff=diff if math.isfinite(diff) else None,
                    created_at=utcnow(),
                )
            )

    def audits(self, task: str | None = None) -> list[AuditRecord]:
        """Audit records (of one task, or all), oldest first."""
        stmt = select(FecAudit.__table__).order_by(FecAudit.id)
        if task is not None:
            stmt = stmt.where(FecAudit.task == task)
        with self.db.read() as s:
            rows = s.execute(stmt).mappings().all()
        return [
            AuditRecord(
                id=r["id"],
                task=r["task"],
                functional_hash=r["functional_hash"],
                trial_id=r["trial_id"],
                cached=floats(r["cached"]) or (),
                fresh=floats(r["fresh"]) or (),
                abs_diff=r["abs_diff"],
                created_at=aware(r["created_at"]),
            )
            for r in rows
        ]


def check_cache_values(values: Any) -> list[float]:
    """`values` as a non-empty list of floats (ValueError naming them otherwise)."""
    x = [float(v) for v in values]
    if not x:
        raise ValueError(f"`values` must be a non-empty list of floats, got {values!r}")
    return x


def _key_params(task: str, fhash: str, version: str, trial_id: int, now: Any) -> dict[str, Any]:
    return {
        "p_task": task, "p_hash": fhash, "p_version": version, "p_trial": trial_id,
        "p_now": now, "p_empty": [], "p_empty2": [],
    }  # fmt: skip


def _insert_pending(conn: Connection, params: dict[str, Any]) -> bool:
    """INSERT a PENDING claim row unless its key exists; True if inserted."""
    stmt = sql.insert_pending(conn.dialect.name)
    if stmt is None:  # other backends: the write transaction makes check-then-insert safe enough
        if conn.execute(sql.ENTRY, params).first() is not None:
            return False
        stmt = sql.PLAIN_INSERT_PENDING
    # RETURNING tells reliably whether a row was inserted (rowcount is -1 on some drivers)
    return hot.first(conn, stmt, params) is not None


def claim_entry(
    conn: Connection, task: str, fhash: str, version: str, trial_id: int, stale_after_s: float
) -> bool:
    """Inside a write transaction: take the claim (a new PENDING row, or a stale claim)."""
    now = utcnow()
    params = _key_params(task, fhash, version, trial_id, now)
    if _insert_pending(conn, params):
        return True
    params["p_cutoff"] = now - timedelta(seconds=float(stale_after_s))
    return conn.execute(sql.CLAIM_STALE, params).rowcount == 1


def lookup_or_claim(
    conn: Connection, task: str, fhash: str, version: str, trial_id: int, stale_after_s: float
) -> tuple[CacheEntry | None, bool]:
    """Inside a write transaction: the entry as found (None: there was none) and whether this
    trial now holds its claim (never for a READY entry)."""
    now = utcnow()
    params = _key_params(task, fhash, version, trial_id, now)
    if _insert_pending(conn, params):
        return None, True
    row = conn.execute(sql.ENTRY, params).mappings().first()
    if row is None:  # released between the two statements (another backend's isolation)
        return None, claim_entry(conn, task, fhash, version, trial_id, stale_after_s)
    entry = cache_entry(row)
    if entry.status == "READY":
        return entry, False
    return entry, claim_entry(conn, task, fhash, version, trial_id, stale_after_s)


def record_entry(
    conn: Connection,
    task: str,
    fhash: str,
    version: str,
    x: list[float],
    trial_id: int,
    seconds: float,
) -> CacheEntry:
    """Inside a write transaction: Welford-add one evaluation `x` to the entry, mark it READY."""
    now = utcnow()
    params = _key_params(task, fhash, version, trial_id, now)
    first = {**params, "p_seconds": float(seconds), "p_mean": x, "p_m2": [0.0] * len(x)}
    row = hot.first(conn, sql.RECORD_FIRST, first)
    if row is not None:  # the first evaluation: written whole in one statement
        return cache_entry(row)
    row = conn.execute(sql.ENTRY_FOR_UPDATE, params).mappings().first()
    if row is None:
        _insert_pending(conn, params)
        row = conn.execute(sql.ENTRY_FOR_UPDATE, params).mappings().first()
    assert row is not None
    count = row["count"] or 0
    mean = list(floats(row["mean"]) or ())
    m2 = list(floats(row["m2"]) or ())
    if count == 0:
        mean, m2 = [0.0] * len(x), [0.0] * len(x)
    elif len(mean) != len(x):
        raise ValueError(
            f"`values` has {len(x)} objectives but the cache entry for {fhash!r} on task "
            f"{task!r} has {len(mean)}"
        )
    count += 1
    for i, xi in enumerate(x):  # Welford's online update
        delta = xi - mean[i]
        mean[i] += delta / count
        m2[i] += delta * (xi - mean[i])
    old_seconds = row["eval_seconds"] or 0.0
    new = {
        "eval_seconds": old_seconds + (float(seconds) - old_seconds) / count,
        "count": count, "mean": mean, "m2": m2, "status": "READY",
        "claimed_by_trial_id": None, "claimed_at": None, "updated_at": now,
        "first_trial_id": row["first_trial_id"] if row["first_trial_id"] is not None else trial_id,
    }  # fmt: skip
    conn.execute(
        sql.RECORD,
        {**params, "p_seconds": new["eval_seconds"], "p_count": count, "p_mean": mean,
         "p_m2": m2, "p_first": new["first_trial_id"]},
    )  # fmt: skip
    return cache_entry({**row, **new})


def release_entry(conn: Connection, task: str, fhash: str, version: str, trial_id: int) -> None:
    """Inside a write transaction: drop the PENDING row this trial claimed."""
    conn.execute(
        delete(FecCache.__table__).where(
            *_key(task, fhash, version),
            FecCache.status == "PENDING",
            FecCache.claimed_by_trial_id == trial_id,
        )
    )


def release_trial_claims(conn: Connection, trial_id: int) -> None:
    """Inside a write transaction: drop every PENDING claim of this trial (it was reclaimed)."""
    conn.execute(
        delete(FecCache.__table__).where(
            FecCache.status == "PENDING", FecCache.claimed_by_trial_id == trial_id
        )
    )


def _key(task: str, fhash: str, version: str) -> tuple[Any, ...]:
    """WHERE clauses selecting one cache entry."""
    return (
        FecCache.task == task,
        FecCache.functional_hash == fhash,
        FecCache.hash_version == version,
    )


# Every store call is one transaction: retry it on transient database errors (store/retry.py).
# `wait` polls (each poll retried by `lookup`).
retry_methods(Cache, skip=("wait",))
