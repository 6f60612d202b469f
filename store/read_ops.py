"""Reads that stay fast on big studies: resume history, best-k, latest page, Pareto front.

Each is a narrow Core SQL query (only the columns needed, no per-row ORM objects) whose rows are
bounded by what is asked (k, a page, the front), except `history`, which returns what a searcher
needs to resume (number, state, DNA, values) and nothing else. The Pareto front of two objectives
is one sorted scan with a running best (a window function); with three or more, SQL drops every
trial a pivot (the best sum) dominates and the rest is peeled in numpy.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Float, String, and_, case, cast, func, literal, not_, or_, select
from sqlalchemy.orm import aliased

from hashtune.store.base import StoreBase
from hashtune.store.models import FecAudit, IntermediateValue, Lineage, Trial
from hashtune.store.records import floats

SCORED = ("COMPLETE", "CACHED")
FINISHED = ("COMPLETE", "FAILED", "PRUNED", "CACHED", "INTERRUPTED")


class ReadOpsMixin(StoreBase):
    """Bounded reads for `Study` resume, `hashtune best/trials/stats` and the Python API."""

    def history(self, study_id: int) -> list[tuple[int, str, Any, tuple[float, ...] | None]]:
        """(number, state, dna JSON, values) of every finished trial with a proposal, by number."""
        stmt = (
            select(Trial.number, Trial.state, Trial.dna, Trial.values)
            .where(Trial.study_id == study_id, Trial.state.in_(FINISHED), Trial.dna.is_not(None))
            .order_by(Trial.number)
        )
        with self._read() as s:
            return [(n, st, d, floats(v)) for n, st, d, v in s.execute(stmt)]

    def complete_curves(self, study_id: int) -> list[tuple[tuple[int, float], ...]]:
        """Intermediate values of every COMPLETE trial that reported some (for pruners)."""
        stmt = (
            select(IntermediateValue.trial_id, IntermediateValue.step, IntermediateValue.value)
            .join(Trial, Trial.id == IntermediateValue.trial_id)
            .where(Trial.study_id == study_id, Trial.state == "COMPLETE")
            .order_by(Trial.number, IntermediateValue.step)
        )
        curves: dict[int, list[tuple[int, float]]] = {}
        with self._read() as s:
            for tid, step, value in s.execute(stmt):
                curves.setdefault(tid, []).append((step, float("nan") if value is None else value))
        return [tuple(c) for c in curves.values()]

    def top_trials(self, study_id: int, k: int, maximize: bool, distinct: bool = True) -> list:
        """The `k` best scored trials by the first objective (ties: lower number first); with
        `distinct`, one per functional hash. Walks the (study_id, value) index in order."""
        if k < 1:
            return []
        order = (Trial.value.desc() if maximize else Trial.value.asc(), Trial.number)
        base = (
            select(Trial.id, Trial.number, Trial.functional_hash)
            .where(Trial.study_id == study_id, Trial.state.in_(SCORED), Trial.value.is_not(None))
            .order_by(*order)
        )
        picked: list[int] = []
        seen: set[str] = set()
        offset, batch = 0, max(4 * k, 64)
        with self._read() as s:
            while len(picked) < k:
                rows = s.execute(base.offset(offset).limit(batch)).all()
                for tid, number, fhash in rows:
                    key = (fhash or f"#{number}") if distinct else f"#{number}"
                    if key not in seen:
                        seen.add(key)
                        picked.append(tid)
                        if len(picked) == k:
                            break
                if len(rows) < batch:
                    break
                offset, batch = offset + batch, batch * 4
        return self.trials_by_id(picked)

    def best_value_trials(self, study_id: int, maximize: bool) -> list:
        """Every scored trial at the best first-objective value, by number."""
        best = (func.max if maximize else func.min)(Trial.value)
        cond = [Trial.study_id == study_id, Trial.state.in_(SCORED)]
        top = select(best).where(*cond).scalar_subquery()
        with self._read() as s:
            ids = s.scalars(select(Trial.id).where(*cond, Trial.value == top)).all()
        return self.trials_by_id(list(ids))

    def latest_trials(self, study_id: int, n: int, states: Sequence[str] | None = None) -> list:
        """The last `n` trials (or the last `n` in `states`), in number order."""
        cond = [Trial.study_id == study_id]
        if states:
            cond.append(Trial.state.in_(list(states)))
        stmt = select(Trial.id).where(*cond).order_by(Trial.number.desc()).limit(n)
        with self._read() as s:
            ids = s.scalars(stmt).all()
        return self.trials_by_id(list(reversed(ids)))

    def trials_by_id(self, ids: Sequence[int]) -> list:
        """Whole records of a few trials, in the order of `ids`."""
        if not ids:
            return []
        found = {t.id: t for t in self._load_trials([Trial.id.in_(list(ids))])}  # type: ignore[attr-defined]
        return [found[i] for i in ids if i in found]

    def trial_numbers(self, ids: Sequence[int]) -> dict[int, int]:
        """Trial id → number for a few ids (e.g. the cache sources of a page of trials)."""
        if not ids:
            return {}
        with self._read() as s:
            return dict(
                s.execute(select(Trial.id, Trial.number).where(Trial.id.in_(list(ids)))).all()
            )

    def candidate_sample(self, study_id: int, size: int = 400) -> list[str]:
        """Candidate texts of about `size` trials spread evenly over the study."""
        with self._read() as s:
            n = s.scalar(select(func.max(Trial.number)).where(Trial.study_id == study_id)) or 0
            stride = max(1, (n + 1) // size)
            cond = [Trial.study_id == study_id, Trial.candidate != ""]
            if stride > 1:
                cond.append(Trial.number % stride == 0)
            return list(s.scalars(select(Trial.candidate).where(*cond).limit(2 * size)))

    # -- Pareto front ----------------------------------------------------------------------------

    def pareto_front_trials(self, study_id: int, directions: Sequence[str]) -> list:
        """Non-dominated scored trials (every objective finite) under `directions`, by number."""
        if len(directions) == 1:
            return self.best_value_trials(study_id, directions[0] == "maximize")
        ids = self._front_2(study_id, directions) if len(directions) == 2 else None
        if ids is None:
            ids = self._front_n(study_id, directions)
        with self._read() as s:
            order = (
                s.scalars(select(Trial.id).where(Trial.id.in_(ids)).order_by(Trial.number)).all()
                if ids
                else []
            )
        return self.trials_by_id(list(order))

    def _oriented(self, study_id: int, directions: Sequence[str]):
        """A subquery (id, a0, a1, ...) of scored trials: objectives with every one finite,
        minimised ones negated, so larger is better everywhere."""
        pg = self._engine.dialect.name == "postgresql"
        cols, finite = [], [Trial.value.is_not(None)]
        for j, d in enumerate(directions):
            if j == 0:
                obj = Trial.value
            else:
                obj = Trial.values[j].as_float()
                kind = (
                    func.json_typeof(Trial.values.op("->")(j))
                    if pg
                    else func.json_type(Trial.values, f"$[{j}]")
                )
                finite.append(kind.in_(("number",) if pg else ("real", "integer")))
            obj = cast(obj, Float)
            cols.append((obj if d == "maximize" else -obj).label(f"a{j}"))
        return (
            select(Trial.id, *cols)
            .where(Trial.study_id == study_id, Trial.state.in_(SCORED), *finite)
            .subquery("pts")
        )

    def _front_2(self, study_id: int, directions: Sequence[str]) -> list[int]:
        """Two objectives: sort by a0 descending; a point is on the front when its a1 beats the
        best a1 of every strictly larger a0 and is the largest a1 at its own a0."""
        p = self._oriented(study_id, directions)
        prev = func.max(p.c.a1).over(order_by=p.c.a0.desc(), groups=(None, -1))
        top = func.max(p.c.a1).over(partition_by=p.c.a0)
        w = select(p.c.id, p.c.a1, prev.label("prev"), top.label("top")).subquery("w")
        stmt = select(w.c.id).where(w.c.a1 == w.c.top, or_(w.c.prev.is_(None), w.c.a1 > w.c.prev))
        with self._read() as s:
            return list(s.scalars(stmt))

    def _front_n(self, study_id: int, directions: Sequence[str]) -> list[int]:
        """Any number of objectives: SQL drops what the best-sum point dominates; numpy peels
        the rest (the lexicographically largest remaining point is always non-dominated)."""
        p = self._oriented(study_id, directions)
        a = [p.c[f"a{j}"] for j in range(len(directions))]
        with self._read() as s:
            pivot = s.execute(select(*a).order_by(sum(a[1:], a[0]).desc()).limit(1)).first()
            if pivot is None:
                return []
            below = and_(*(c <= literal(v) for c, v in zip(a, pivot, strict=True)))
            strictly = or_(*(c < literal(v) for c, v in zip(a, pivot, strict=True)))
            rows = s.execute(select(p.c.id, *a).where(not_(and_(below, strictly)))).all()
        ids = np.array([r[0] for r in rows])
        pts = np.array([r[1:] for r in rows], dtype=float)
        return [int(ids[i]) for i in peel_front(pts)]

    # -- accounting ------------------------------------------------------------------------------

    def cost_rows(self, study_id: int, key: str) -> list[tuple]:
        """(id, state, functional_hash, cached_from id, cost, audit flag) of the trials that
        report user attribute `key` or are cached; empty when no trial reports it."""
        cost = Trial.user_attrs[key].as_float()
        audit = Trial.user_attrs["audit"].as_boolean()
        with self._read() as s:
            if (
                s.scalar(
                    select(Trial.id).where(Trial.study_id == study_id, cost.is_not(None)).limit(1)
                )
                is None
            ):
                return []
            stmt = select(
                Trial.id,
                Trial.state,
                Trial.functional_hash,
                Trial.cached_from_trial_id,
                cost,
                case((Trial.state == "CACHED", audit), else_=None),
            ).where(Trial.study_id == study_id, or_(cost.is_not(None), Trial.state == "CACHED"))
            return [tuple(r) for r in s.execute(stmt)]

    def audited_trials(self, study_id: int) -> tuple[list[str], set[int]]:
        """The study's tasks and the ids of its trials that have cache audits."""
        with self._read() as s:
            tasks = s.scalars(
                select(Trial.task)
                .where(Trial.study_id == study_id, Trial.task.is_not(None))
                .group_by(Trial.task)
            ).all()
            ids = s.scalars(
                select(Trial.id).where(
                    Trial.study_id == study_id, Trial.id.in_(select(FecAudit.trial_id))
                )
            ).all()
        return sorted(tasks), set(ids)

    def budget_count(self, study_id: int) -> int:
        """Finished trials that count against a total budget (interrupted ones do not)."""
        interrupted = Trial.state == "INTERRUPTED"
        with self._read() as s:
            return int(s.scalar(
                select(func.count()).select_from(Trial).where(
                    Trial.study_id == study_id, Trial.state.in_(FINISHED), ~interrupted
                )
            ) or 0)  # fmt: skip

    def source_numbers(self, study_id: int):
        """An aliased source trial and the expression giving a cache source's number (its id
        when the source belongs to another study), for joins that show `cached_from`."""
        source = aliased(Trial)
        shown = case((source.study_id == study_id, source.number), else_=Trial.cached_from_trial_id)
        return source, shown

    def frame_columns(self, study_id: int) -> dict[str, list]:
        """Every trial of a study as columns (number, state, values, params, hash, cache source's
        number, parents, mutation, duration, start, worker, error), by number, in two queries.
        JSON and timestamps come as text and are decoded here (no per-value type processors)."""
        source, shown = self.source_numbers(study_id)
        stmt = (
            select(
                Trial.id, Trial.number, Trial.state, cast(Trial.values, String),
                cast(Trial.params, String), Trial.functional_hash, shown, Trial.duration_s,
                cast(Trial.started_at, String), Trial.worker, Trial.error,
            )
            .outerjoin(source, source.id == Trial.cached_from_trial_id)
            .where(Trial.study_id == study_id)
            .order_by(Trial.number)
        )  # fmt: skip
        parent = aliased(Trial)
        edges = (
            select(Lineage.child_id, parent.number, Lineage.mutation)
            .join(parent, parent.id == Lineage.parent_id)
            .join(Trial, Trial.id == Lineage.child_id)
            .where(Trial.study_id == study_id)
            .order_by(Lineage.child_id, parent.number)
        )
        with self._read() as s:
            rows = s.execute(stmt).all()
            links = s.execute(edges).all()
        parents: dict[int, list[int]] = {}
        mutations: dict[int, str | None] = {}
        for child, pnum, mutation in links:
            parents.setdefault(child, []).append(pnum)
            mutations.setdefault(child, mutation)
        cols = list(zip(*rows, strict=True)) if rows else [()] * 11
        ids = cols[0]
        loads = json.loads
        return {
            "number": list(cols[1]),
            "state": list(cols[2]),
            "values": [None if v is None else floats(loads(v)) for v in cols[3]],
            "params": [None if p is None else loads(p) for p in cols[4]],
            "functional_hash": list(cols[5]),
            "cached_from": list(cols[6]),
            "parents": [parents.get(i, []) for i in ids],
            "mutation": [mutations.get(i) for i in ids],
            "duration_s": list(cols[7]),
            "started_at": [_timestamp(t) for t in cols[8]],
            "worker": list(cols[9]),
            "error": list(cols[10]),
        }


def _timestamp(text: str | None) -> datetime | None:
    """A stored naive-UTC timestamp read as text → aware datetime."""
    if text is None:
        return None
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def peel_front(points: np.ndarray) -> list[int]:
    """Indices (ascending) of the non-dominated rows of `points` (maximisation; equal points
    are all kept)."""
    n = len(points)
    if n == 0:
        return []
    order = np.lexsort(tuple(-points[:, j] for j in reversed(range(points.shape[1]))))
    pts = points[order]
    alive = np.ones(n, dtype=bool)
    front = []
    while alive.any():
        i = int(np.argmax(alive))
        alive[i] = False
        front.append(int(order[i]))
        p = pts[i]
        alive &= ~(np.all(pts <= p, axis=1) & np.any(pts < p, axis=1))
    return sorted(front)
