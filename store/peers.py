"""Finish order and peer news: how a worker learns what other workers of its study did.

Every transition of a trial to a finished state takes the next number of the study's counter
(`studies.finish_seq`) in the same transaction. The counter's row lock is held until commit, so
finish numbers commit in increasing order: whoever sees number N committed also sees every number
below N. A reader's cursor (the highest number it has read) therefore never skips a late commit,
and "finished since my last look" is an index range scan returning each finish exactly once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from hashtune.store import hot
from hashtune.store import statements as sql
from hashtune.store.models import Study, Trial
from hashtune.store.records import PeerNews, PeerTrial, floats
from hashtune.vocabulary import TrialState

_COLUMNS = (Trial.number, Trial.state, Trial.dna, Trial.values, Trial.worker, Trial.finish_seq)


def claim_finish_seqs(
    s: Session | Connection, study: Any, n: int = 1, *, trial_id: int | None = None
) -> int | None:
    """Lock the study's counter row and advance it by `n`; returns the new (last) number.

    `study` is a study id or a scalar subquery giving one (or None with `trial_id`: the study
    owning that trial, n = 1, through a prebuilt statement). Call it first in a finishing
    transaction (before locking trial rows: one lock order, no deadlock), and give the `n`
    trials the numbers `last - n + 1 .. last`. None when there is no such study.
    """
    if trial_id is not None:
        return hot.scalar(s, sql.CLAIM_FINISH_SEQ, {"p_id": trial_id})
    table = Study.__table__
    return s.execute(
        update(table)
        .where(table.c.id == study)
        .values(finish_seq=table.c.finish_seq + n)
        .returning(table.c.finish_seq)
    ).scalar_one_or_none()


def read_news(conn: Any, study_id: int, after: int, worker: str | None) -> PeerNews:
    """`Workers.peer_news` inside a transaction (a finishing one reads it after taking its number)."""
    if worker is not None:  # the prebuilt statements (a None worker means everyone's)
        bind = {"p_study": study_id, "p_worker": worker, "p_after": after}
        rows = hot.rows(conn, sql.PEERS_NEWS, bind)
        running = [r for r in rows if r["kind"] == 0]
        return _news(running, [r for r in rows if r["kind"] == 1], after, worker)
    not_mine = or_(Trial.worker.is_(None), Trial.worker != worker)
    running = (
        conn.execute(
            select(*_COLUMNS).where(
                Trial.study_id == study_id,
                Trial.state == TrialState.RUNNING,
                Trial.dna.is_not(None),
                not_mine,
            )
        )
        .mappings()
        .all()
    )
    finished = (
        conn.execute(
            select(*_COLUMNS)
            .where(Trial.study_id == study_id, Trial.finish_seq > after)
            .order_by(Trial.finish_seq)
        )
        .mappings()
        .all()
    )
    return _news(running, finished, after, worker)


def _news(running: Any, finished: Any, after: int, worker: str | None) -> PeerNews:
    cursor = max((r["finish_seq"] for r in finished), default=after)
    peers = [r for r in finished if r["worker"] is None or r["worker"] != worker]
    return PeerNews(
        finished=tuple(_peer_trial(r) for r in peers),
        running=tuple(_peer_trial(r) for r in sorted(running, key=lambda r: r["number"])),
        cursor=cursor,
    )


def _peer_trial(row: Any) -> PeerTrial:
    return PeerTrial(
        row["number"], row["state"], row["dna"], floats(row["values"]), row["worker"],
        row["finish_seq"],
    )  # fmt: skip
