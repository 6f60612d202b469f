"""The trial's hot path in SQL: one statement per step, no read-backs (`Trials` composes them).

`reserve_row` takes the study's next number in one INSERT; `parent_numbers` and `write_steps`
record a proposal's lineage and a finish's intermediate values; `maybe_reserve` reserves the
next trial inside a finishing transaction and `budget_count` counts what the budget sees.
The records returned are built from what was written (UPDATE ... RETURNING), never read back.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from hashtune.store import hot
from hashtune.store import statements as sql
from hashtune.store.base import trial_record, utcnow
from hashtune.store.models import IntermediateValue, Lineage, Trial
from hashtune.store.records import TrialRecord
from hashtune.vocabulary import TrialState

MAX_NUMBER_RETRIES = 100
REOPENABLE = sql.REOPENABLE
_T = Trial.__table__

#: Stored error text is cut to this many characters (a huge invalid result must not bloat the store).
MAX_ERROR_CHARS = 4000


def clip_error(error: str | None) -> str | None:
    """`error` cut to MAX_ERROR_CHARS, saying how long the original was."""
    if error is None or len(error) <= MAX_ERROR_CHARS:
        return error
    keep = MAX_ERROR_CHARS - 80
    return f"{error[:keep]}\n... [error text truncated: {len(error):,} characters in all]"


def check_values(values: Any, field: str) -> list[float]:
    """`values` as a list of floats (ValueError naming `field` otherwise)."""
    if isinstance(values, str | bytes) or not hasattr(values, "__iter__"):
        raise ValueError(f"`{field}` must be a list of floats, got {values!r}")
    try:
        return [float(v) for v in values]
    except (TypeError, ValueError) as e:
        raise ValueError(f"`{field}` must be a list of floats, got {values!r}") from e


#: The columns of a fresh reservation that `RESERVE` leaves NULL.
_UNSET = dict.fromkeys(
    ("dna", "value", "values", "error", "started_at", "finished_at", "duration_s",
     "functional_hash", "task", "cached_from_trial_id"),
)  # fmt: skip


def reserve_row(conn: Connection, study_id: int, worker: str | None) -> TrialRecord:
    """INSERT the study's next number as a PENDING reservation (one statement, RETURNING its id
    and number; the record is built from what was written)."""
    now = utcnow()
    params = {"p_study": study_id, "p_worker": worker, "p_now": now, "p_empty": {},
              "p_empty2": {}}  # fmt: skip
    row = hot.rows(conn, sql.RESERVE, params)[0]
    return trial_record(
        {**_UNSET, "id": row["id"], "study_id": study_id, "number": row["number"],
         "state": str(TrialState.PENDING), "candidate": "", "params": {}, "user_attrs": {},
         "worker": worker, "heartbeat_at": now}
    )  # fmt: skip


def budget_count(conn: Connection, study_id: int, up_to_number: int) -> int:
    """Trials up to `up_to_number` counted against the study's total (see Trials.count_budget)."""
    params = {"p_study": study_id, "p_number": up_to_number}
    return int(hot.scalar(conn, sql.BUDGET_COUNT, params) or 0)


def number_taken(e: IntegrityError) -> bool:
    """Whether the error is the study/number uniqueness (a peer reserved the same number)."""
    text = str(e.orig)
    return "uq_trials_study_number" in text or "trials.study_id, trials.number" in text


def naive_utc(moment: datetime | None) -> datetime | None:
    """`moment` as the store keeps it (naive UTC); records carry aware datetimes."""
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def duration_s(now: datetime, started: datetime | None) -> float:
    """Seconds from `started` (None: not started) to `now`, never negative."""
    return max((now - (started or now)).total_seconds(), 0.0)


def settle_finish(
    conn: Connection, row: dict[str, Any], now: datetime, start: datetime | None, attrs: dict
) -> dict[str, Any]:
    """Correct what `FINISH` assumed when the row says otherwise (rare): the duration when the
    trial started at another time than `start`, the attributes when some were stored (merged,
    the caller's win); the row as it now is."""
    fix: dict[str, Any] = {}
    if row["started_at"] != start:
        fix["duration_s"] = duration_s(now, row["started_at"])
    if attrs and row["user_attrs"] != attrs:
        fix["user_attrs"] = {**(row["user_attrs"] or {}), **attrs}
    if fix:
        conn.execute(update(_T).where(_T.c.id == row["id"]).values(**fix))
        row.update(fix)
    return row


def maybe_reserve(
    conn: Connection, study_id: int, worker: str | None, count_budget: bool
) -> tuple[TrialRecord | None, int | None]:
    """With a `worker`, reserve its next trial (and with `count_budget`, count the budget up to
    it) inside the caller's transaction; (None, None) without one."""
    if worker is None:
        return None, None
    nxt = reserve_row(conn, study_id, worker)
    return nxt, budget_count(conn, study_id, nxt.number) if count_budget else None


def parent_numbers(
    conn: Connection, study_id: int, parents: list[int] | tuple[int, ...]
) -> dict[int, int]:
    """Parent trial number → id (ValueError naming the numbers that are not in the study)."""
    numbers = [int(p) for p in parents]
    if not numbers:
        return {}
    rows = conn.execute(
        select(_T.c.number, _T.c.id).where(_T.c.study_id == study_id, _T.c.number.in_(numbers))
    ).all()
    by_number = dict(rows)
    missing = [n for n in numbers if n not in by_number]
    if missing:
        raise ValueError(f"`parents` {missing!r} are not trial numbers of study {study_id}")
    return {n: by_number[n] for n in dict.fromkeys(numbers)}


def insert_trial(conn: Connection, study_id: int, row: dict[str, Any]) -> int:
    """INSERT a trial (PENDING or RUNNING, `row`'s columns) with the study's next number; its id."""
    now = utcnow()
    number = select(func.coalesce(func.max(_T.c.number) + 1, 0)).where(_T.c.study_id == study_id)
    started = now if row["state"] == TrialState.RUNNING else None
    stmt = insert(_T).values(
        study_id=study_id, number=number.scalar_subquery(), user_attrs={}, heartbeat_at=now,
        started_at=started, **row,
    )  # fmt: skip
    return conn.execute(stmt.returning(_T.c.id)).scalar_one()


def insert_lineage(
    conn: Connection, trial_id: int, parent_ids: Iterable[int], mutation: str | None
) -> None:
    """INSERT the child → parent edges of a new trial (none without parents)."""
    edges = [{"child_id": trial_id, "parent_id": pid, "mutation": mutation} for pid in parent_ids]
    if edges:
        conn.execute(insert(Lineage.__table__), edges)


def write_steps(conn: Any, trial_id: int, steps: list[tuple[int, float]]) -> None:
    """Upsert intermediate values (later value for a step replaces an earlier one)."""
    if not steps:
        return
    latest = dict(steps)
    table = IntermediateValue.__table__
    conn.execute(delete(table).where(table.c.trial_id == trial_id, table.c.step.in_(list(latest))))
    conn.execute(
        insert(table), [{"trial_id": trial_id, "step": k, "value": v} for k, v in latest.items()]
    )


def lineage_and_steps(conn: Connection, trial_id: int) -> tuple[list[int], Any, tuple]:
    """A trial's parent numbers, mutation and intermediate steps, read in its transaction."""
    parent = _T.alias("parent")
    lin = Lineage.__table__
    edges = conn.execute(
        select(parent.c.number, lin.c.mutation)
        .join(parent, parent.c.id == lin.c.parent_id)
        .where(lin.c.child_id == trial_id)
        .order_by(parent.c.number)
    ).all()
    table = IntermediateValue.__table__
    inter = conn.execute(
        select(table.c.step, table.c.value)
        .where(table.c.trial_id == trial_id)
        .order_by(table.c.step)
    ).all()
    steps = tuple((s, float("nan") if v is None else v) for s, v in inter)
    return [n for n, _ in edges], (edges[0][1] if edges else None), steps
