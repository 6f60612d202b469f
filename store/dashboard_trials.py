"""Read-only trial queries for the dashboard: the paged trials table, one trial's neighbourhood
(children, ancestry, hash class) — filtering, sorting and paging happen in SQL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from hashtune.store.database import Bound
from hashtune.store.models import TRIAL_STATES, FecCache, Lineage, Trial

SORTABLE = {
    "number": Trial.number,
    "value": Trial.value,
    "duration": Trial.duration_s,
    "state": Trial.state,
    "started": Trial.started_at,
    "finished": Trial.finished_at,
    "worker": Trial.worker,
}
MAX_PER_PAGE = 500


@dataclass(frozen=True)
class TrialFilter:
    """What the trials table shows: states, a value range, one parameter's value."""

    states: tuple[str, ...] = ()
    value_min: float | None = None
    value_max: float | None = None
    param: str | None = None
    param_value: str | None = None

    def __post_init__(self) -> None:
        bad = [s for s in self.states if s not in TRIAL_STATES]
        if bad:
            raise ValueError(f"`state` must be among {TRIAL_STATES}, got {bad!r}")
        if (self.param is None) != (self.param_value is None):
            raise ValueError("`param` and `param_value` go together")

    def conditions(self, study_id: int) -> list[Any]:
        """SQL conditions of this filter on `trials`."""
        cond: list[Any] = [Trial.study_id == study_id]
        if self.states:
            cond.append(Trial.state.in_(self.states))
        if self.value_min is not None:
            cond.append(Trial.value >= self.value_min)
        if self.value_max is not None:
            cond.append(Trial.value <= self.value_max)
        if self.param is not None:
            field = Trial.params[self.param]
            try:
                cond.append(field.as_float() == float(self.param_value))  # type: ignore[arg-type]
            except ValueError:
                cond.append(field.as_string() == self.param_value)
        return cond


class DashboardTrials(Bound):
    """The trials table and a trial's relations."""

    def trials_page(
        self,
        study_id: int,
        flt: TrialFilter,
        *,
        page: int = 1,
        per_page: int = 50,
        sort: str = "number",
        descending: bool = False,
    ) -> dict[str, Any]:
        """One page of a study's trials under `flt`, sorted by a SORTABLE column, and the total."""
        if sort not in SORTABLE:
            raise ValueError(f"`sort` must be one of {sorted(SORTABLE)}, got {sort!r}")
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"`per_page` must be in 1..{MAX_PER_PAGE}, got {per_page!r}")
        if page < 1:
            raise ValueError(f"`page` must be >= 1, got {page!r}")
        cond = flt.conditions(study_id)
        col = SORTABLE[sort]
        order = [col.desc() if descending else col.asc(), Trial.number]
        if col.nullable:
            order.insert(0, col.is_(None))  # NULLs last either way, on both backends
        source = aliased(Trial)
        with self.db.read() as s:
            total = s.scalar(select(func.count()).select_from(Trial).where(*cond))
            # sort and skip narrow (id, key) tuples first, then fetch the page's full rows
            ids = list(
                s.scalars(
                    select(Trial.id)
                    .where(*cond)
                    .order_by(*order)
                    .offset((page - 1) * per_page)
                    .limit(per_page)
                )
            )
            rows = s.execute(
                select(
                    Trial.id, Trial.number, Trial.state, Trial.value, Trial.values,
                    Trial.duration_s, Trial.worker, Trial.params, Trial.functional_hash,
                    Trial.started_at, Trial.finished_at, source.number.label("cached_from"),
                )
                .outerjoin(source, source.id == Trial.cached_from_trial_id)
                .where(Trial.id.in_(ids))
            ).mappings().all()  # fmt: skip
        rank = {tid: i for i, tid in enumerate(ids)}
        rows = sorted(rows, key=lambda r: rank[r["id"]])
        return {"total": int(total or 0), "rows": [dict(r) for r in rows]}

    def trial_children(self, trial_id: int) -> list[dict[str, Any]]:
        """Trials bred from this one: number, id, state, value, mutation."""
        with self.db.read() as s:
            rows = s.execute(
                select(Trial.id, Trial.number, Trial.state, Trial.value, Lineage.mutation)
                .join(Lineage, Lineage.child_id == Trial.id)
                .where(Lineage.parent_id == trial_id)
                .order_by(Trial.number)
                .limit(200)
            ).all()
        return [
            dict(zip(("id", "number", "state", "value", "mutation"), r, strict=True)) for r in rows
        ]

    def ancestry(self, trial_id: int, max_nodes: int = 60) -> dict[str, Any]:
        """Ancestors of a trial, breadth first up to `max_nodes`: nodes and child → parent edges."""
        nodes: dict[int, dict[str, Any]] = {}
        edges: list[dict[str, Any]] = []
        frontier = [trial_id]
        with self.db.read() as s:
            while frontier and len(nodes) < max_nodes:
                rows = s.execute(
                    select(Trial.id, Trial.number, Trial.state, Trial.value).where(
                        Trial.id.in_(frontier)
                    )
                ).all()
                for tid, number, state, value in rows:
                    nodes[tid] = {"id": tid, "number": number, "state": state, "value": value}
                links = s.execute(
                    select(Lineage.child_id, Lineage.parent_id, Lineage.mutation).where(
                        Lineage.child_id.in_(frontier)
                    )
                ).all()
                edges += [{"child": c, "parent": p, "mutation": m} for c, p, m in links]
                frontier = list(dict.fromkeys(p for _, p, _ in links if p not in nodes))
                frontier = frontier[: max_nodes - len(nodes)]
        edges = [e for e in edges if e["parent"] in nodes]
        return {"nodes": list(nodes.values()), "edges": edges, "truncated": bool(frontier)}

    def hash_class(self, task: str, fhash: str, limit: int = 50) -> dict[str, Any]:
        """Trials (any study) with this functional hash on this task, and which one paid."""
        cond = [Trial.task == task, Trial.functional_hash == fhash]
        with self.db.read() as s:
            total = s.scalar(select(func.count()).select_from(Trial).where(*cond))
            rows = s.execute(
                select(
                    Trial.id, Trial.study_id, Trial.number, Trial.state, Trial.value,
                    Trial.candidate, Trial.cached_from_trial_id, Trial.duration_s,
                )
                .where(*cond)
                .order_by(Trial.id)
                .limit(limit)
            ).mappings().all()  # fmt: skip
            entry = s.execute(
                select(
                    FecCache.first_trial_id, FecCache.count, FecCache.mean, FecCache.status
                ).where(FecCache.task == task, FecCache.functional_hash == fhash)
            ).first()
        return {
            "total": int(total or 0),
            "members": [dict(r) for r in rows],
            "paid_by": entry[0] if entry else None,
            "cache": None
            if entry is None
            else {"count": entry[1], "mean": entry[2], "status": entry[3]},
        }
