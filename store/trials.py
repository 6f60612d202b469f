"""Trials: reserve, begin and finish them (the hot path), and load their records.

Searchers key pending proposals by trial number, so the number is known before `ask`: `reserve`
takes the study's next number as a PENDING row, then `begin` records what was proposed, starts
the trial and makes the cache decision (look up, claim unless READY), and may reserve the next
trial, all in one transaction. `finish_and_next` takes the finish number first (peers rely on
it), finishes the trial, records the paid evaluation in the cache (or releases the claim),
reads the peers' news and may reserve the next trial, again in one transaction.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from hashtune.store import hot
from hashtune.store import statements as sql
from hashtune.store import trial_path as path
from hashtune.store.base import finite_or_none, trial_record, utcnow
from hashtune.store.bulk_ops import add_finished_trials
from hashtune.store.cache import (
    Cache,
    check_cache_values,
    lookup_or_claim,
    record_entry,
    release_entry,
)
from hashtune.store.database import Database
from hashtune.store.errors import StoreError, StudyNotFoundError, TrialNotFoundError
from hashtune.store.loading import load_trials
from hashtune.store.models import (
    FINISHED_STATES,
    SCORED_STATES,
    TRIAL_STATES,
    Study,
    Trial,
)
from hashtune.store.peers import claim_finish_seqs, read_news
from hashtune.store.records import (
    CacheClaim,
    CacheOutcome,
    FinishedTrial,
    StartedTrial,
    TrialRecord,
)
from hashtune.store.retry import retry_methods
from hashtune.store.workers import Workers
from hashtune.vocabulary import TrialState

_T = Trial.__table__
_NEW_STATES = (TrialState.PENDING, TrialState.RUNNING)


class Trials:
    """The trials of a store: `reserve`, `begin`, `finish_and_next` (and `finish`,
    `set_proposal`, `create`, `add_finished`), and whole records by id, number or study."""

    def __init__(self, db: Database, cache: Cache, workers: Workers) -> None:
        self.db = db
        self.cache = cache
        self.workers = workers

    def _reserving(self, fn: Any) -> Any:
        """Run `fn(conn)` in a write transaction, again when a peer took the same number."""
        for attempt in range(path.MAX_NUMBER_RETRIES):
            try:
                with self.db.write_conn() as conn:
                    return fn(conn)
            except IntegrityError as e:
                if not path.number_taken(e):
                    raise
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))  # a peer took the number
        raise StoreError(f"could not allocate a trial number ({self.db.safe_url})")

    def _in_write(self, fn: Any) -> Any:
        with self.db.write_conn() as conn:
            return fn(conn)

    def _run(self, fn: Any, reserve_for: str | None) -> Any:
        return self._reserving(fn) if reserve_for is not None else self._in_write(fn)

    def reserve(self, study_id: int, worker: str | None = None) -> TrialRecord:
        """A new PENDING trial with the study's next number and no candidate yet."""
        with self.db.read_conn() as conn:
            if conn.scalar(select(Study.id).where(Study.id == study_id)) is None:
                raise StudyNotFoundError(study_id, self.db.safe_url)
        return self._reserving(lambda conn: path.reserve_row(conn, study_id, worker))

    def set_proposal(self, trial_id: int, **proposal: Any) -> None:
        """Record the proposal of a reserved trial and start it (PENDING → RUNNING)."""
        self.begin(trial_id, **proposal)

    def begin(
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
            row = hot.first(conn, sql.BEGIN, bind)
            if row is None:
                state = conn.scalar(select(_T.c.state).where(_T.c.id == trial_id))
                raise StoreError(
                    f"trial id={trial_id} is not a PENDING reservation (state {state})"
                )
            numbers = path.parent_numbers(conn, row["study_id"], parents)
            path.insert_lineage(conn, trial_id, numbers.values(), mutation)
            started = trial_record(row, tuple(sorted(numbers)), mutation if numbers else None, ())
            entry, claimed = None, False
            if claim is not None:
                entry, claimed = lookup_or_claim(
                    conn, claim.task, claim.functional_hash, claim.version, trial_id,
                    claim.stale_after_s,
                )  # fmt: skip
            nxt, budget = path.maybe_reserve(conn, row["study_id"], reserve_for, count_budget)
            return StartedTrial(started, entry, claimed, nxt, budget)

        return self._run(run, reserve_for)

    def _write_intermediate(self, conn: Any, trial_id: int, steps: list[tuple[int, float]]):
        """Upsert a trial's steps inside the caller's transaction."""
        path.write_steps(conn, trial_id, steps)

    def finish(self, trial_id: int, **outcome: Any) -> TrialRecord:
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
        started_at: datetime | None = None,
    ) -> FinishedTrial:
        """Finish a trial (INTERRUPTED: it runs again on resume and does not count); with
        `cache`, record its evaluation (or release its claim); with `news_after`, read what
        peers finished since; with `reserve_for`, reserve the next trial. One transaction.
        `lineage` (parents, mutation) saves reading them back: the record's steps are then
        those given (the loop reports steps only here). `started_at` (the trial's start, as
        `begin` returned it) saves correcting its duration after the write."""
        if state not in FINISHED_STATES:
            raise ValueError(f"finish `state` must be one of {FINISHED_STATES}, got {state!r}")
        vals = None if values is None else path.check_values(values, "values")
        if state in SCORED_STATES and not vals:
            raise ValueError(f"`values` are required to finish a trial as {state}, got {values!r}")
        steps = [(int(st), float(v)) for st, v in (intermediate or [])]
        cache_x = None
        if cache is not None and cache.values is not None:
            cache_x = check_cache_values(cache.values)
        start = path.naive_utc(started_at)

        def run(conn: Connection) -> FinishedTrial:
            seq = claim_finish_seqs(conn, None, trial_id=trial_id)  # first: finish order
            if seq is None:
                raise TrialNotFoundError(f"id={trial_id}", self.db.safe_url)
            now = utcnow()
            attrs = dict(user_attrs or {})
            bind = {
                "p_id": trial_id, "p_state": state, "p_values": vals,
                "p_value": finite_or_none(vals[0]) if vals else None,
                "p_error": path.clip_error(error), "p_now": now, "p_seq": seq,
                "p_duration": path.duration_s(now, start), "p_from": cached_from_trial_id,
                "p_attrs": attrs,
            }  # fmt: skip
            row = hot.first(conn, sql.FINISH, bind)
            if row is None:
                self._refuse_finish(conn, trial_id, state)
            row = path.settle_finish(conn, row, now, start, attrs)
            self._write_intermediate(conn, trial_id, steps)
            if lineage is None:
                parents, mutation, inter = path.lineage_and_steps(conn, trial_id)
            else:
                parents, mutation = lineage
                inter = tuple(sorted(dict(steps).items()))
            done = trial_record(row, tuple(parents), mutation, inter)
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
            nxt, budget = path.maybe_reserve(conn, row["study_id"], reserve_for, count_budget)
            return FinishedTrial(done, entry, news, nxt, budget)

        return self._run(run, reserve_for)

    def _refuse_finish(self, conn: Connection, trial_id: int, state: str) -> None:
        """Raise why the trial could not be finished: it does not exist, or is finished."""
        found = conn.execute(select(_T.c.number, _T.c.state).where(_T.c.id == trial_id)).first()
        if found is None:
            raise TrialNotFoundError(f"id={trial_id}", self.db.safe_url)
        raise StoreError(
            f"trial id={trial_id} (number {found.number}) is already {found.state}; "
            f"cannot finish it as {state} ({self.db.safe_url})"
        )

    def _finished_as(self, trial_id: int, *, state: str, **_: Any) -> TrialRecord | None:
        """The trial if it is already finished as `state` (a retried `finish` whose first
        attempt committed before its connection dropped returns it)."""
        found = self.get(trial_id)
        return found if found.state == state else None

    def _finished_and_next(
        self,
        trial_id: int,
        *,
        state: str,
        cache: CacheOutcome | None = None,
        news_after: int | None = None,
        news_worker: str | None = None,
        reserve_for: str | None = None,
        count_budget: bool = False,
        **_: Any,
    ) -> FinishedTrial | None:
        """What a retried `finish_and_next` whose first attempt committed returned (read again)."""
        found = self._finished_as(trial_id, state=state)
        if found is None:
            return None
        entry = None
        if cache is not None and cache.values is not None:
            entry = self.cache.lookup(cache.task, cache.functional_hash, version=cache.version)
        news = None
        if news_after is not None:
            news = self.workers.peer_news(found.study_id, news_after, news_worker)
        nxt = self.open_reservation(found.study_id, reserve_for) if reserve_for else None
        budget = None
        if nxt is not None and count_budget:
            budget = self.count_budget(found.study_id, nxt.number)
        return FinishedTrial(found, entry, news, nxt, budget)

    def create(
        self,
        study_id: int,
        *,
        dna: Any,
        candidate: str,
        params: dict[str, Any],
        parents: list[int] | tuple[int, ...] = (),
        mutation: str | None = None,
        worker: str | None = None,
        state: str = TrialState.RUNNING,
        functional_hash: str | None = None,
        task: str | None = None,
    ) -> TrialRecord:
        """Insert a trial with the study's next number (atomic across workers) and its lineage."""
        if state not in _NEW_STATES:
            raise ValueError(f"new trial `state` must be 'PENDING' or 'RUNNING', got {state!r}")
        if not isinstance(candidate, str):
            raise ValueError(f"`candidate` must be a str, got {type(candidate).__name__}")

        def run(conn: Connection) -> int:
            if conn.scalar(select(Study.id).where(Study.id == study_id)) is None:
                raise StudyNotFoundError(study_id, self.db.safe_url)
            numbers = path.parent_numbers(conn, study_id, parents)
            row = {"dna": dna, "candidate": candidate, "params": dict(params or {}),
                   "worker": worker, "state": state, "functional_hash": functional_hash,
                   "task": task}  # fmt: skip
            trial_id = path.insert_trial(conn, study_id, row)
            path.insert_lineage(conn, trial_id, numbers.values(), mutation)
            return trial_id

        return self.get(self._reserving(run))

    def add_finished(self, study_id: int, trials: Sequence[dict[str, Any]]) -> list[int]:
        """Insert already-finished trials in one transaction (imports, benchmarks); their
        numbers, which follow the study's last (see bulk_ops.add_finished_trials)."""
        return add_finished_trials(self.db, study_id, trials)

    def report_intermediate(self, trial_id: int, step: int, value: float) -> None:
        """Record (or replace) the value at `step` and refresh the trial's heartbeat."""
        with self.db.write_conn() as conn:
            done = conn.execute(update(_T).where(_T.c.id == trial_id).values(heartbeat_at=utcnow()))
            if done.rowcount == 0:
                raise TrialNotFoundError(f"id={trial_id}", self.db.safe_url)
            self._write_intermediate(conn, trial_id, [(int(step), float(value))])

    def set_user_attrs(self, trial_id: int, attrs: dict[str, Any]) -> None:
        """Merge `attrs` into the trial's user attributes (any state: attributes are notes)."""
        with self.db.write() as s:
            trial = s.get(Trial, trial_id, with_for_update=True)
            if trial is None:
                raise TrialNotFoundError(f"id={trial_id}", self.db.safe_url)
            trial.user_attrs = {**(trial.user_attrs or {}), **attrs}

    def count_budget(self, study_id: int, up_to_number: int | None = None) -> int:
        """Trials (numbered up to `up_to_number`) that count against a study's total budget: all
        but INTERRUPTED ones (their run died or stopped before they finished)."""
        cond = [Trial.study_id == study_id, Trial.state != TrialState.INTERRUPTED]
        if up_to_number is not None:
            cond.append(Trial.number <= up_to_number)
        return int(self.db.scalar(select(func.count()).select_from(Trial).where(*cond)) or 0)

    def drop_reservation(self, trial_id: int) -> None:
        """Delete a reserved trial that never got a proposal (e.g. over the study's budget)."""
        with self.db.write() as s:
            s.execute(
                delete(Trial).where(
                    Trial.id == trial_id,
                    Trial.state == TrialState.PENDING,
                    Trial.candidate == "",
                )
            )

    def open_reservation(self, study_id: int, worker: str | None = None) -> TrialRecord | None:
        """The worker's reservation still waiting for its proposal, if any (a retried `reserve`
        whose first attempt committed returns it instead of reserving twice)."""
        if worker is None:
            return None
        tid = self.db.scalar(
            select(Trial.id)
            .where(
                Trial.study_id == study_id,
                Trial.worker == worker,
                Trial.state == TrialState.PENDING,
                Trial.candidate == "",
            )
            .order_by(Trial.number.desc())
            .limit(1)
        )
        return None if tid is None else self.get(tid)

    # -- loading -------------------------------------------------------------------------------

    def get(self, trial_id: int) -> TrialRecord:
        """One trial by id; raises TrialNotFoundError."""
        found = load_trials(self.db, [Trial.id == trial_id])
        if not found:
            raise TrialNotFoundError(f"id={trial_id}", self.db.safe_url)
        return found[0]

    def by_number(self, study_id: int, number: int) -> TrialRecord:
        """One trial by its number within a study; raises TrialNotFoundError."""
        found = load_trials(self.db, [Trial.study_id == study_id, Trial.number == number])
        if not found:
            raise TrialNotFoundError(f"number {number} of study {study_id}", self.db.safe_url)
        return found[0]

    def by_ids(self, ids: Sequence[int]) -> list[TrialRecord]:
        """Whole records of a few trials, in the order of `ids`."""
        if not ids:
            return []
        found = {t.id: t for t in load_trials(self.db, [Trial.id.in_([*ids])])}
        return [found[i] for i in ids if i in found]

    def numbers(self, ids: Sequence[int]) -> dict[int, int]:
        """Trial id → number for a few ids (e.g. the cache sources of a page of trials)."""
        if not ids:
            return {}
        return dict(self.db.rows(select(Trial.id, Trial.number).where(Trial.id.in_([*ids]))))

    def list(self, study_id: int, states: Iterable[str] | None = None) -> list[TrialRecord]:
        """A study's trials ordered by number, with parents and intermediate values (3 queries)."""
        cond = [Trial.study_id == study_id]
        if states is not None:
            wanted = [states] if isinstance(states, str) else [*states]
            bad = [st for st in wanted if st not in TRIAL_STATES]
            if bad:
                raise ValueError(f"`states` must be among {TRIAL_STATES}, got {bad!r}")
            cond.append(Trial.state.in_(wanted))
        return load_trials(self.db, cond)


# Every store call is one transaction: retry it on transient database errors (store/retry.py);
# a retry first looks whether the earlier attempt committed (so nothing is done twice).
retry_methods(
    Trials,
    skip=("open_reservation",),
    reserve=Trials.open_reservation,
    finish=Trials._finished_as,
    finish_and_next=Trials._finished_and_next,
)
