"""The trial's hot path: one write transaction per transition, Core SQL, no read-backs.

`reserve_trial` takes the study's next number in one INSERT. `begin_trial` records the proposal,
starts the trial and makes the cache decision (look up, claim unless READY), and may reserve the
next trial, all in one transaction. `finish_and_next` takes the finish number first (peers rely
on it), finishes the trial, records the paid evaluation in the cache (or releases the claim),
reads the peers' news and may reserve the next trial, again in one transaction. The records
returned are built from what was written (UPDATE ... RETURNING), never read back.
"""

from __future__ import annotations

import random
import time
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from hashtune.store import statements as sql
from hashtune.store.base import StoreBase, finite_or_none, trial_record, utcnow
from hashtune.store.cache_ops import (
    check_cache_values,
    lookup_or_claim,
    record_entry,
    release_entry,
)
from hashtune.store.errors import StoreError, StudyNotFoundError, TrialNotFoundError
from hashtune.store.models import FINISHED_STATES, IntermediateValue, Lineage, Study, Trial
from hashtune.store.peer_ops import claim_finish_seqs, read_news
from hashtune.store.records import (
    CacheClaim,
    CacheOutcome,
    FinishedTrial,
    StartedTrial,
    TrialRecord,
)

_MAX_NUMBER_RETRIES = 100
_REOPENABLE = ("PENDING", "RUNNING", "FAILED")  # a late worker may still finish a swept trial
_T = Trial.__table__

#: Stored error text is cut to this many characters (a huge invalid result must not bloat the store).
MAX_ERROR_CHARS = 4000


def clip_error(error: str | None) -> str | None:
    """`error` cut to MAX_ERROR_CHARS, saying how long the original was."""
    if error is None or len(error) <= MAX_ERROR_CHARS:
        return error
    keep = MAX_ERROR_CHARS - 80
    return f"{error[:keep]}\n... [error text truncated: {len(error):,} characters in all]"


def _check_values(values: Any, field: str) -> list[float]:
    if isinstance(values, str | bytes) or not hasattr(values, "__iter__"):
        raise ValueError(f"`{field}` must be a list of floats, got {values!r}")
    try:
        return [float(v) for v in values]
    except (TypeError, ValueError) as e:
        raise ValueError(f"`{field}` must be a list of floats, got {values!r}") from e


def _reserve(conn: Connection, study_id: int, worker: str | None) -> TrialRecord:
    """INSERT the study's next number as a PENDING reservation (one statement, RETURNING)."""
    params = {"p_study": study_id, "p_worker": worker, "p_now": utcnow(), "p_empty": {},
              "p_empty2": {}}  # fmt: skip
    return trial_record(conn.execute(sql.RESERVE, params).mappings().one())


def _budget_count(conn: Connection, study_id: int, up_to_number: int) -> int:
    """Trials up to `up_to_number` counted against the study's total (see count_budget_trials)."""
    return int(conn.scalar(sql.BUDGET_COUNT, {"p_study": study_id, "p_number": up_to_number}) or 0)


class TrialPathMixin(StoreBase):
    """`reserve_trial`, `begin_trial`, `finish_and_next` (and `finish_trial`, `set_proposal`)."""

    def _reserving(self, fn: Any) -> Any:
        """Run `fn(conn)` in a write transaction, again when a peer took the same number."""
        for attempt in range(_MAX_NUMBER_RETRIES):
            try:
                with self._write_conn() as conn:
                    return fn(conn)
            except IntegrityError as e:
                if not _number_taken(e):
                    raise
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))  # a peer took the number
        raise StoreError(f"could not allocate a trial number ({self._safe_url})")

    def reserve_trial(self, study_id: int, worker: str | None = None) -> TrialRecord:
        """A new PENDING trial with the study's next number and no candidate yet."""
        with self._read_conn() as conn:
            if conn.scalar(select(Study.id).where(Study.id == study_id)) is None:
                raise StudyNotFoundError(study_id, self._safe_url)
        return self._reserving(lambda conn: _reserve(conn, study_id, worker))

    def set_proposal(self, trial_id: int, **proposal: Any) -> None:
        """Record the proposal of a reserved trial and start it (PENDING → RUNNING)."""
        self.begin_trial(trial_id, **proposal)

    def begin_trial(
        self,
        trial_id: int,
        *,
        dna: Any,
        candidate: str,
        params: dict[str, Any],
        parents: list[int] | tuple[int, ...] = (),
        mutation: str | None = None,
        functional_hash: str | None = None,
        task: str | None = None,
        claim: CacheClaim | None = None,
        reserve_for: str | None = None,
        count_budget: bool = False,
    ) -> StartedTrial:
        """Record a reserved trial's proposal and start it; with `claim`, look its function up
        and claim it unless READY; with `reserve_for`, reserve that worker's next trial."""
        now = utcnow()

        proposed = dict(params or {})

        def run(conn: Connection) -> StartedTrial:
            bind = {
                "p_id": trial_id, "p_dna": dna, "p_candidate": candidate,
                "p_params": proposed, "p_hash": functional_hash, "p_task": task,
                "p_now": now,
            }  # fmt: skip
            row = conn.execute(sql.BEGIN, bind).mappings().first()
            if row is None:
                state = conn.scalar(select(_T.c.state).where(_T.c.id == trial_id))
                raise StoreError(
                    f"trial id={trial_id} is not a PENDING reservation (state {state})"
                )
            numbers = _parent_numbers(conn, row["study_id"], parents)
            if numbers:
                conn.execute(
                    insert(Lineage.__table__),
                    [{"child_id": trial_id, "parent_id": pid, "mutation": mutation}
                     for pid in numbers.values()],
                )  # fmt: skip
            started = trial_record(row, tuple(sorted(numbers)), mutation if numbers else None, ())
            entry, claimed = None, False
            if claim is not None:
                entry, claimed = lookup_or_claim(
                    conn, claim.task, claim.functional_hash, claim.version, trial_id,
                    claim.stale_after_s,
                )  # fmt: skip
            nxt, budget = _maybe_reserve(conn, row["study_id"], reserve_for, count_budget)
            return StartedTrial(started, entry, claimed, nxt, budget)

        return self._reserving(run) if reserve_for is not None else self._in_write(run)

    def _write_intermediate(self, conn: Any, trial_id: int, steps: list[tuple[int, float]]):
        """Upsert a trial's steps inside the caller's transaction."""
        write_steps(conn, trial_id, steps)

    def _in_write(self, fn: Any) -> Any:
        with self._write_conn() as conn:
            return fn(conn)

    def finish_trial(self, trial_id: int, **outcome: Any) -> TrialRecord:
        """Record a trial's outcome (state, values, attrs, steps) in one transaction."""
        return self.finish_and_next(trial_id, **outcome).trial

    def finish_and_next(
        self,
        trial_id: int,
        *,
        state: str,
        values: list[float] | None = None,
        user_attrs: dict[str, Any] | None = None,
        error: str | None = None,
        intermediate: list[tuple[int, float]] | None = None,
        cached_from_trial_id: int | None = None,
        cache: CacheOutcome | None = None,
        lineage: tuple[tuple[int, ...], str | None] | None = None,
        news_after: int | None = None,
        news_worker: str | None = None,
        reserve_for: str | None = None,
        count_budget: bool = False,
    ) -> FinishedTrial:
        """Finish a trial; with `cache`, record its evaluation (or release its claim); with
        `news_after`, read what peers finished since; with `reserve_for`, reserve the next
        trial. One transaction. `lineage` (parents, mutation) saves reading them back: the
        record's steps are then those given (the loop reports steps only here)."""
        if state not in FINISHED_STATES:
            raise ValueError(f"finish `state` must be one of {FINISHED_STATES}, got {state!r}")
        vals = None if values is None else _check_values(values, "values")
        if state in ("COMPLETE", "CACHED") and not vals:
            raise ValueError(f"`values` are required to finish a trial as {state}, got {values!r}")
        steps = [(int(st), float(v)) for st, v in (intermediate or [])]
        cache_x = None
        if cache is not None and cache.values is not None:
            cache_x = check_cache_values(cache.values)

        def run(conn: Connection) -> FinishedTrial:
            seq = claim_finish_seqs(conn, None, trial_id=trial_id)  # first: finish order
            row = conn.execute(sql.TRIAL_FOR_UPDATE, {"p_id": trial_id}).mappings().first()
            if row is None or seq is None:
                raise TrialNotFoundError(f"id={trial_id}", self._safe_url)
            if row["state"] not in _REOPENABLE:
                raise StoreError(
                    f"trial id={trial_id} (number {row['number']}) is already {row['state']}; "
                    f"cannot finish it as {state} ({self._safe_url})"
                )
            now = utcnow()
            new: dict[str, Any] = {
                "state": state, "values": vals, "value": finite_or_none(vals[0]) if vals else None,
                "error": clip_error(error), "finished_at": now, "heartbeat_at": now,
                "finish_seq": seq,
                "duration_s": max((now - (row["started_at"] or now)).total_seconds(), 0.0),
                "cached_from_trial_id": row["cached_from_trial_id"]
                if cached_from_trial_id is None else cached_from_trial_id,
                "user_attrs": {**(row["user_attrs"] or {}), **(user_attrs or {})},
            }  # fmt: skip
            conn.execute(
                sql.FINISH, {"p_id": trial_id, **{_FINISH_PARAMS[k]: v for k, v in new.items()}}
            )
            self._write_intermediate(conn, trial_id, steps)
            if lineage is None:
                parents, mutation, inter = _lineage_and_steps(conn, trial_id)
            else:
                parents, mutation = lineage
                inter = tuple(sorted(dict(steps).items()))
            done = trial_record({**row, **new}, tuple(parents), mutation, inter)
            entry = None
            if cache is not None and cache_x is not None:
                entry = record_entry(
                    conn, cache.task, cache.functional_hash, cache.version, cache_x, trial_id,
                    cache.seconds,
                )  # fmt: skip
            elif cache is not None:
                release_entry(conn, cache.task, cache.functional_hash, cache.version, trial_id)
            news = None
            if news_after is not None:
                news = read_news(conn, row["study_id"], news_after, news_worker)
            nxt, budget = _maybe_reserve(conn, row["study_id"], reserve_for, count_budget)
            return FinishedTrial(done, entry, news, nxt, budget)

        return self._reserving(run) if reserve_for is not None else self._in_write(run)


def _number_taken(e: IntegrityError) -> bool:
    """Whether the error is the study/number uniqueness (a peer reserved the same number)."""
    text = str(e.orig)
    return "uq_trials_study_number" in text or "trials.study_id, trials.number" in text


_FINISH_PARAMS = {
    "state": "p_state", "values": "p_values", "value": "p_value", "error": "p_error",
    "finished_at": "p_now", "heartbeat_at": "p_now", "finish_seq": "p_seq",
    "duration_s": "p_duration", "cached_from_trial_id": "p_from", "user_attrs": "p_attrs",
}  # fmt: skip


def _maybe_reserve(
    conn: Connection, study_id: int, worker: str | None, count_budget: bool
) -> tuple[TrialRecord | None, int | None]:
    if worker is None:
        return None, None
    nxt = _reserve(conn, study_id, worker)
    return nxt, _budget_count(conn, study_id, nxt.number) if count_budget else None


def _parent_numbers(
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


def _lineage_and_steps(conn: Connection, trial_id: int) -> tuple[list[int], Any, tuple]:
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
