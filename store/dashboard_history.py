"""A study's history for the dashboard, reduced in SQL: best-so-far improvements and the
all-trials scatter as min/max buckets. Both read the covering index `ix_ht_trials_study_series`
(study_id, number, state, value, finished_at), so a 100,000-trial study never leaves the index
and at most a few thousand rows come back.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from hashtune.store.database import Bound
from hashtune.store.models import SCORED_STATES, Trial
from hashtune.vocabulary import Direction


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.replace(tzinfo=UTC).isoformat()


def _scored(study_id: int) -> list[Any]:
    return [Trial.study_id == study_id, Trial.state.in_(SCORED_STATES), Trial.value.is_not(None)]


class DashboardHistory(Bound):
    """Best-so-far curves and the bucketed scatter of one study."""

    def best_so_far(self, study_id: int, maximize: bool, by: str = "number") -> list[dict]:
        """The scored trials that improved on every earlier one, by trial number or finish time.

        A window function keeps the best of the earlier rows; only the improvements come back.
        """
        if by not in ("number", "finished"):
            raise ValueError(f"`by` must be 'number' or 'finished', got {by!r}")
        signed = (Trial.value if maximize else -Trial.value).label("signed")
        order = (Trial.number,) if by == "number" else (Trial.finished_at, Trial.number)
        cond = _scored(study_id)
        if by == "finished":
            cond.append(Trial.finished_at.is_not(None))
        before = func.max(signed).over(order_by=order, rows=(None, -1)).label("before")
        inner = select(
            Trial.number, Trial.value, Trial.state, Trial.finished_at, signed, before
        ).where(*cond)
        sub = inner.subquery()
        key = (sub.c.number,) if by == "number" else (sub.c.finished_at, sub.c.number)
        with self.db.read() as s:
            rows = s.execute(
                select(sub.c.number, sub.c.value, sub.c.state, sub.c.finished_at)
                .where(sub.c.before.is_(None) | (sub.c.signed > sub.c.before))
                .order_by(*key)
            ).all()
        return [
            {"number": n, "value": v, "state": st, "finished_at": _iso(f)} for n, v, st, f in rows
        ]

    def value_buckets(self, study_id: int, max_points: int = 1200) -> dict[str, Any]:
        """Scored trials grouped by ranges of trial numbers: per (range, state) the first and last
        number, min and max value and count; at most `max_points` rows in all (columnar)."""
        n = int(
            self.db.scalar(
                select(func.coalesce(func.max(Trial.number), 0)).where(Trial.study_id == study_id)
            )
        )
        width = max(1, math.ceil((n + 1) * 2 / max_points))
        bucket = (Trial.number // width) if width > 1 else Trial.number
        with self.db.read() as s:
            rows = s.execute(
                select(
                    Trial.state,
                    func.min(Trial.number),
                    func.max(Trial.number),
                    func.min(Trial.value),
                    func.max(Trial.value),
                    func.count(),
                )
                .where(*_scored(study_id))
                .group_by(bucket, Trial.state)
                .order_by(func.min(Trial.number))
            ).all()
        states: dict[str, dict[str, list]] = {}
        for state, lo, hi, vmin, vmax, count in rows:
            col = states.setdefault(state, {"lo": [], "hi": [], "min": [], "max": [], "count": []})
            for k, v in zip(col, (lo, hi, vmin, vmax, count), strict=True):
                col[k].append(v)
        return {"bucket_width": width, "states": states}

    def pareto_2d(self, study_id: int, directions: list[str], limit: int = 2000) -> list[tuple]:
        """(id, number, state, obj_0, obj_1) of the non-dominated scored trials, found in SQL.

        The distinct objective pairs, each turned into one to minimise and sorted, are on the
        front when their second objective beats every pair before them (one window pass; ties
        need no special case among distinct pairs); the trials with those pairs come back.
        """
        sign = [-1.0 if d == Direction.MAXIMIZE else 1.0 for d in directions[:2]]
        second = Trial.values[1].as_float()
        pts = (
            select((Trial.value * sign[0]).label("s0"), (second * sign[1]).label("s1"))
            .where(*_scored(study_id), second.is_not(None))
            .order_by(Trial.number)  # steers SQLite to a scan in row order, not by value
            .subquery("pts")
        )
        pairs = select(pts.c.s0, pts.c.s1).group_by(pts.c.s0, pts.c.s1).subquery("pairs")
        before = func.min(pairs.c.s1).over(order_by=(pairs.c.s0, pairs.c.s1), rows=(None, -1))
        ranked = select(pairs.c.s0, pairs.c.s1, before.label("before")).subquery("ranked")
        c = ranked.c
        with self.db.read() as s:
            front = s.execute(
                select(c.s0, c.s1).where(c.before.is_(None) | (c.s1 < c.before)).limit(limit)
            ).all()
            wanted = {(s0 * sign[0], s1 * sign[1]) for s0, s1 in front}
            rows = s.execute(
                select(Trial.id, Trial.number, Trial.state, Trial.value, second)
                .where(*_scored(study_id), Trial.value.in_(sorted({v0 for v0, _ in wanted})))
                .order_by(Trial.number)
            ).all()
        return [tuple(r) for r in rows if (r[3], r[4]) in wanted][:limit]

    def objective_sample(self, study_id: int, k: int, size: int) -> tuple[int, int, list[tuple]]:
        """(scored count, stride, rows): every stride-th scored trial by number, at most ~`size`,
        as (id, number, state, obj_0, ..., obj_k-1)."""
        with self.db.read() as s:
            count = int(s.scalar(select(func.count()).where(*_scored(study_id))) or 0)
            stride = max(1, math.ceil(count / size))
            cond = _scored(study_id)
            if stride > 1:
                cond.append(Trial.number % stride == 0)
            cols = [Trial.value] + [Trial.values[i].as_float() for i in range(1, k)]
            rows = s.execute(
                select(Trial.id, Trial.number, Trial.state, *cols)
                .where(*cond)
                .order_by(Trial.number)
            ).all()
        return count, stride, [tuple(r) for r in rows]
