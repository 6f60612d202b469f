"""Bulk loading of finished trials: imports and benchmarks fill a study in a few transactions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update

from hashtune.store.base import finite_or_none
from hashtune.store.database import Database
from hashtune.store.errors import StudyNotFoundError
from hashtune.store.models import FINISHED_STATES, SCORED_STATES, IntermediateValue, Lineage, Trial
from hashtune.store.peers import claim_finish_seqs

_CHUNK = 5000


def add_finished_trials(db: Database, study_id: int, trials: Sequence[dict[str, Any]]) -> list[int]:
    """Insert finished trials in one transaction; their numbers follow the study's last.

    Each dict has `state` (a finished state), `candidate`, `params`, `values` and optionally
    `dna`, `user_attrs`, `error`, `worker`, `started_at`, `finished_at`, `functional_hash`,
    `task`, `parents` (trial numbers), `mutation`, `intermediate` [(step, value)] and
    `cached_from` (number of the trial that paid). Returns the new trials' numbers.
    """
    rows = [_row(i, t) for i, t in enumerate(trials)]
    with db.write() as s:
        last_seq = claim_finish_seqs(s, study_id, len(rows))  # peers learn these trials too
        if last_seq is None:
            raise StudyNotFoundError(study_id, db.safe_url)
        start = s.scalar(
            select(func.coalesce(func.max(Trial.number) + 1, 0)).where(Trial.study_id == study_id)
        )
        for i, row in enumerate(rows):
            row.update(study_id=study_id, number=start + i, finish_seq=last_seq - len(rows) + 1 + i)
        for k in range(0, len(rows), _CHUNK):
            s.execute(insert(Trial), rows[k : k + _CHUNK])
        ids = dict(
            s.execute(
                select(Trial.number, Trial.id).where(
                    Trial.study_id == study_id, Trial.number >= start
                )
            ).all()
        )
        ids |= _ids_of(s, study_id, trials)
        _link(s, study_id, start, trials, ids)
    return [start + i for i in range(len(rows))]


def _ids_of(s: Any, study_id: int, trials: Sequence[dict[str, Any]]) -> dict[int, int]:
    """Ids of earlier trials named as parents or cache sources."""
    wanted = {p for t in trials for p in t.get("parents", ())}
    wanted |= {t["cached_from"] for t in trials if t.get("cached_from") is not None}
    if not wanted:
        return {}
    found: dict[int, int] = {}
    numbers = sorted(wanted)
    for k in range(0, len(numbers), _CHUNK):
        found |= dict(
            s.execute(
                select(Trial.number, Trial.id).where(
                    Trial.study_id == study_id, Trial.number.in_(numbers[k : k + _CHUNK])
                )
            ).all()
        )
    return found


def _row(i: int, t: dict[str, Any]) -> dict[str, Any]:
    """Validated `trials` row for the i-th given trial."""
    state = t.get("state")
    if state not in FINISHED_STATES:
        raise ValueError(f"trials[{i}].state must be one of {FINISHED_STATES}, got {state!r}")
    values = t.get("values")
    if state in SCORED_STATES and not values:
        raise ValueError(f"trials[{i}].values are required for state {state}, got {values!r}")
    vals = None if values is None else [float(v) for v in values]
    started: datetime | None = t.get("started_at")
    finished: datetime | None = t.get("finished_at")
    duration = None
    if started is not None and finished is not None:
        duration = max((finished - started).total_seconds(), 0.0)
    return {
        "state": state,
        "candidate": str(t.get("candidate", "")),
        "dna": t.get("dna"),
        "params": dict(t.get("params") or {}),
        "values": vals,
        "value": finite_or_none(vals[0]) if vals else None,
        "user_attrs": dict(t.get("user_attrs") or {}),
        "error": t.get("error"),
        "worker": t.get("worker"),
        "started_at": started,
        "finished_at": finished,
        "heartbeat_at": finished,
        "duration_s": duration,
        "functional_hash": t.get("functional_hash"),
        "task": t.get("task"),
    }


def _link(
    s: Any, study_id: int, start: int, trials: Sequence[dict[str, Any]], ids: dict[int, int]
) -> None:
    """Lineage edges, cache sources and intermediate values of the inserted trials."""

    edges, sources, steps = [], [], []
    for i, t in enumerate(trials):
        tid = ids[start + i]
        for p in dict.fromkeys(t.get("parents", ())):
            if p not in ids:
                raise ValueError(f"trials[{i}].parents: {p!r} is not a trial number")
            edges.append({"child_id": tid, "parent_id": ids[p], "mutation": t.get("mutation")})
        src = t.get("cached_from")
        if src is not None:
            if src not in ids:
                raise ValueError(f"trials[{i}].cached_from: {src!r} is not a trial number")
            sources.append({"tid": tid, "src": ids[src]})
        steps += [
            {"trial_id": tid, "step": int(k), "value": float(v)}
            for k, v in dict(t.get("intermediate") or ()).items()
        ]
    for k in range(0, len(edges), _CHUNK):
        s.execute(insert(Lineage), edges[k : k + _CHUNK])
    for k in range(0, len(steps), _CHUNK):
        s.execute(insert(IntermediateValue), steps[k : k + _CHUNK])
    if sources:
        stmt = (
            update(Trial.__table__)
            .where(Trial.__table__.c.id == bindparam("tid"))
            .values(cached_from_trial_id=bindparam("src"))
        )
        for k in range(0, len(sources), _CHUNK):
            s.connection().execute(stmt, sources[k : k + _CHUNK])
