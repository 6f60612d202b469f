"""Shared helpers of the store: the clock, finite floats, row → record conversion."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from hashtune.store.records import StudyRecord, TrialRecord, aware, floats


def utcnow() -> datetime:
    """Naive UTC now (stored timestamps are naive UTC on every backend)."""
    return datetime.now(UTC).replace(tzinfo=None)


def finite_or_none(x: Any) -> float | None:
    """Float value for sortable FLOAT columns; non-finite values become NULL."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def study_record(row: Mapping[str, Any]) -> StudyRecord:
    """`studies` row → StudyRecord."""
    return StudyRecord(
        id=row["id"],
        name=row["name"],
        directions=tuple(row["directions"]),
        config=dict(row["config"] or {}),
        created_at=aware(row["created_at"]),
        status=row["status"],
    )


def trial_record(
    row: Mapping[str, Any],
    parents: tuple[int, ...] = (),
    mutation: str | None = None,
    intermediate: tuple[tuple[int, float], ...] = (),
) -> TrialRecord:
    """`trials` row (+ lineage and intermediate values) → TrialRecord."""
    return TrialRecord(
        id=row["id"],
        study_id=row["study_id"],
        number=row["number"],
        state=row["state"],
        dna=row["dna"],
        candidate=row["candidate"],
        params=dict(row["params"] or {}),
        value=row["value"],
        values=floats(row["values"]),
        user_attrs=dict(row["user_attrs"] or {}),
        error=row["error"],
        worker=row["worker"],
        started_at=aware(row["started_at"]),
        finished_at=aware(row["finished_at"]),
        duration_s=row["duration_s"],
        heartbeat_at=aware(row["heartbeat_at"]),
        functional_hash=row["functional_hash"],
        task=row["task"],
        cached_from_trial_id=row["cached_from_trial_id"],
        parents=parents,
        mutation=mutation,
        intermediate=intermediate,
    )
