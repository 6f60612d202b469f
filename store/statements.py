"""The hot path's SQL, built once: executing a prebuilt statement with parameters costs a
quarter of building it again (SQLAlchemy then reuses its compiled form)."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import (
    Text,
    and_,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from hashtune.store.models import FecCache, Study, Trial
from hashtune.vocabulary import TrialState

T = Trial.__table__
#: States a trial may be finished from: a late worker may still finish a swept trial.
REOPENABLE = (TrialState.PENDING, TrialState.RUNNING, TrialState.FAILED, TrialState.INTERRUPTED)
C = FecCache.__table__
S = Study.__table__


def _p(name: str, column: Any = None) -> Any:
    """A named parameter, typed like `column` (JSON columns serialise through their type)."""
    return bindparam(name, type_=None if column is None else column.type)


_NEXT_NUMBER = (
    select(func.coalesce(func.max(T.c.number) + 1, 0))
    .where(T.c.study_id == _p("p_study"))
    .scalar_subquery()
)

#: A PENDING reservation with the study's next number (parameters: p_study, p_worker, p_now),
#: RETURNING its id and number (the caller knows the rest: what it wrote).
RESERVE = (
    insert(T)
    .values(
        study_id=_p("p_study"),
        number=_NEXT_NUMBER,
        state=TrialState.PENDING,
        candidate="",
        params=_p("p_empty", T.c.params),
        user_attrs=_p("p_empty2", T.c.user_attrs),
        worker=_p("p_worker"),
        heartbeat_at=_p("p_now"),
    )  # fmt: skip
    .returning(T.c.id, T.c.number)
)

#: Trials up to p_number counted against the study's total (all but INTERRUPTED ones).
BUDGET_COUNT = (
    select(func.count())
    .select_from(T)
    .where(
        T.c.study_id == _p("p_study"),
        T.c.state != TrialState.INTERRUPTED,
        T.c.number <= _p("p_number"),
    )
)

_REVIVED = and_(  # a peer took us for dead (a stalled heartbeat) but we are alive
    T.c.state == TrialState.INTERRUPTED, T.c.candidate == ""
)

#: Record a reservation's proposal and start it; RETURNING the whole row.
BEGIN = (
    update(T)
    .where(T.c.id == _p("p_id"), or_(T.c.state == TrialState.PENDING, _REVIVED))
    .values(
        dna=_p("p_dna", T.c.dna),
        candidate=_p("p_candidate"),
        params=_p("p_params", T.c.params),
        functional_hash=_p("p_hash"),
        task=_p("p_task"),
        state=TrialState.RUNNING,
        error=None,
        finished_at=None,
        started_at=_p("p_now"),
        heartbeat_at=_p("p_now"),
    )  # fmt: skip
    .returning(*T.c)
)

#: The trial row, locked until commit (PostgreSQL; SQLite's write lock is the whole file).
TRIAL_FOR_UPDATE = select(T).where(T.c.id == _p("p_id")).with_for_update()

_ATTRS_TEXT = cast(T.c.user_attrs, Text)
_NO_ATTRS = or_(T.c.user_attrs.is_(None), _ATTRS_TEXT == "{}", _ATTRS_TEXT == "null")
#: Spelled out, not IN (...): an IN of literals compiles to an "expanding" parameter, which only
#: SQLAlchemy's execution fills in (store/hot.py sends these statements to the driver itself).
_REOPENABLE = or_(*(T.c.state == s for s in REOPENABLE))

#: Finish a trial that may still be finished (every outcome column at once), RETURNING the row:
#: no read first. The caller's attributes replace empty stored ones (else the caller merges:
#: the row returned then holds the stored ones); p_duration assumes the caller's start time.
FINISH = (
    update(T)
    .where(T.c.id == _p("p_id"), _REOPENABLE)
    .values(
        state=_p("p_state"),
        values=_p("p_values", T.c["values"]),
        value=_p("p_value"),
        error=_p("p_error"),
        finished_at=_p("p_now"),
        heartbeat_at=_p("p_now"),
        finish_seq=_p("p_seq"),
        duration_s=_p("p_duration"),
        cached_from_trial_id=func.coalesce(_p("p_from"), T.c.cached_from_trial_id),
        user_attrs=case((_NO_ATTRS, _p("p_attrs", T.c.user_attrs)), else_=T.c.user_attrs),
    )  # fmt: skip
    .returning(*T.c)
)

#: Advance the finish counter of the study owning trial p_id (see peers.claim_finish_seqs).
CLAIM_FINISH_SEQ = (
    update(S)
    .where(S.c.id == select(T.c.study_id).where(T.c.id == _p("p_id")).scalar_subquery())
    .values(finish_seq=S.c.finish_seq + 1)
    .returning(S.c.finish_seq)
)

_KEY = (
    C.c.task == _p("p_task"),
    C.c.functional_hash == _p("p_hash"),
    C.c.hash_version == _p("p_version"),
)

#: One cache entry, and the same locked until commit.
ENTRY = select(C).where(*_KEY)
ENTRY_FOR_UPDATE = ENTRY.with_for_update()

#: Take a PENDING entry's claim when it is ours already, unclaimed or stale (before p_cutoff).
CLAIM_STALE = (
    update(C)
    .where(
        *_KEY,
        C.c.status == "PENDING",
        or_(
            C.c.claimed_by_trial_id == _p("p_trial"),
            C.c.claimed_at.is_(None),
            C.c.claimed_at < _p("p_cutoff"),
        ),
    )
    .values(claimed_by_trial_id=_p("p_trial"), claimed_at=_p("p_now"), updated_at=_p("p_now"))
)

#: What every recording of a result writes: the statistics, READY, the claim released.
_READY = {
    "eval_seconds": _p("p_seconds"), "mean": _p("p_mean", C.c.mean), "m2": _p("p_m2", C.c.m2),
    "status": "READY", "claimed_by_trial_id": None, "claimed_at": None, "updated_at": _p("p_now"),
}  # fmt: skip

#: Write an entry's running statistics (after the Welford step).
RECORD = update(C).where(*_KEY).values(**_READY, count=_p("p_count"), first_trial_id=_p("p_first"))

#: The first evaluation of an entry (count 0: the claim, usually this trial's), RETURNING it:
#: the Welford step of one value needs no read (none returned: the caller reads and steps).
RECORD_FIRST = (
    update(C)
    .where(*_KEY, or_(C.c.count == 0, C.c.count.is_(None)))
    .values(**_READY, count=1, first_trial_id=func.coalesce(C.c.first_trial_id, _p("p_trial")))
    .returning(*C.c)
)

_PENDING_ROW = {
    "task": _p("p_task"), "functional_hash": _p("p_hash"), "hash_version": _p("p_version"),
    "status": "PENDING", "claimed_by_trial_id": _p("p_trial"), "claimed_at": _p("p_now"),
    "count": 0, "mean": _p("p_empty", C.c.mean), "m2": _p("p_empty2", C.c.m2),
    "updated_at": _p("p_now"),
}  # fmt: skip


@cache
def insert_pending(dialect: str) -> Any:
    """INSERT a PENDING claim unless the key exists, RETURNING a column when it was inserted
    (None for backends without ON CONFLICT: the caller checks first)."""
    if dialect == "postgresql":
        stmt = pg_insert(C).values(**_PENDING_ROW).on_conflict_do_nothing()
    elif dialect == "sqlite":
        stmt = sqlite_insert(C).values(**_PENDING_ROW).on_conflict_do_nothing()
    else:
        return None
    return stmt.returning(C.c.task)


PLAIN_INSERT_PENDING = insert(C).values(**_PENDING_ROW).returning(C.c.task)


_PEER_COLUMNS = (T.c.number, T.c.state, T.c.dna, T.c["values"], T.c.worker, T.c.finish_seq)

#: RUNNING proposals of other workers than p_worker (peer news, read first).
PEERS_RUNNING = select(*_PEER_COLUMNS).where(
    T.c.study_id == _p("p_study"),
    T.c.state == TrialState.RUNNING,
    T.c.dna.is_not(None),
    or_(T.c.worker.is_(None), T.c.worker != _p("p_worker")),
)

#: Trials finished after finish number p_after, in finish order (peer news).
PEERS_FINISHED = (
    select(*_PEER_COLUMNS)
    .where(T.c.study_id == _p("p_study"), T.c.finish_seq > _p("p_after"))
    .order_by(T.c.finish_seq)
)

#: Both in one statement (one snapshot): kind 0 running, kind 1 finished in finish order.
PEERS_NEWS = union_all(
    PEERS_RUNNING.add_columns(literal(0).label("kind")),
    PEERS_FINISHED.order_by(None).add_columns(literal(1).label("kind")),
)
PEERS_NEWS = PEERS_NEWS.order_by(
    PEERS_NEWS.selected_columns.kind, PEERS_NEWS.selected_columns.finish_seq
)
