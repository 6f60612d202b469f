"""Whole trial records: a trial's row with its parents, mutation and intermediate values."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import aliased

from hashtune.store.base import trial_record
from hashtune.store.database import Database
from hashtune.store.models import IntermediateValue, Lineage, Trial
from hashtune.store.records import TrialRecord


def load_trials(db: Database, cond: list[Any]) -> list[TrialRecord]:
    """The trials matching `cond`, by number, with lineage and intermediate values (3 queries)."""
    parent = aliased(Trial)
    ids = select(Trial.id).where(*cond)
    with db.read() as s:
        rows = s.execute(select(Trial.__table__).where(*cond).order_by(Trial.number))
        rows = rows.mappings().all()
        if not rows:
            return []
        edges = s.execute(
            select(Lineage.child_id, parent.number, Lineage.mutation)
            .join(parent, parent.id == Lineage.parent_id)
            .where(Lineage.child_id.in_(ids))
            .order_by(Lineage.child_id, parent.number)
        ).all()
        inter = s.execute(
            select(IntermediateValue.trial_id, IntermediateValue.step, IntermediateValue.value)
            .where(IntermediateValue.trial_id.in_(ids))
            .order_by(IntermediateValue.trial_id, IntermediateValue.step)
        ).all()
    parents: dict[int, list[int]] = {}
    mutations: dict[int, str | None] = {}
    for child, pnum, mutation in edges:
        parents.setdefault(child, []).append(pnum)
        mutations.setdefault(child, mutation)
    steps: dict[int, list[tuple[int, float]]] = {}
    for tid, step, value in inter:
        steps.setdefault(tid, []).append((step, float("nan") if value is None else value))
    return [
        trial_record(
            r,
            tuple(parents.get(r["id"], ())),
            mutations.get(r["id"]),
            tuple(steps.get(r["id"], ())),
        )
        for r in rows
    ]
