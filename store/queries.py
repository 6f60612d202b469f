"""Reads that stay fast on big studies: resume history, best-k, latest page, Pareto front.

Each is a narrow Core SQL query (only the columns needed, no per-row ORM objects) whose rows are
bounded by what is asked (k, a page, the front), except `history`, which returns what a searcher
needs to resume (number, state, DNA, values) and nothing else. Pareto fronts are store/pareto.py's
(index seeks over the objectives index).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Float, String, Text, case, cast, func, literal, literal_column, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import aliased

from hashtune.store.database import Database
from hashtune.store.engine import json_dumps
from hashtune.store.models import (
    COUNTED_STATES,
    FINISHED_STATES,
    OBJECTIVE_COLUMNS,
    SCORED_STATES,
    FecAudit,
    IntermediateValue,
    Lineage,
    Trial,
)
from hashtune.store.pareto import front_ids
from hashtune.store.records import TrialRecord, floats
from hashtune.store.retry import retry_methods
from hashtune.store.trials import Trials
from hashtune.vocabulary import Direction, TrialState


class Queries:
    """Bounded reads for `Study` resume, `hashtune best/trials/stats` and the Python API:
    `history`, `complete_curves`, `top`, `best_value`, `latest`, `candidate_sample`,
    `has_dna`, `pareto_front`, `cost_rows`, `audited_trials`, `counted_finished`, `source_numbers`,
    `frame_columns`."""

    def __init__(self, db: Database, trials: Trials) -> None:
        self.db = db
        self.trials = trials

    def history(self, study_id: int) -> list[tuple[int, str, Any, tuple[float, ...] | None]]:
        """(number, state, dna JSON, values) of every finished trial with a proposal, by number."""
        stmt = (
            select(Trial.number, Trial.state, Trial.dna, Trial.values)
            .where(
                Trial.study_id == study_id, Trial.state.in_(FINISHED_STATES), Trial.dna.is_not(None)
            )
            .order_by(Trial.number)
        )
        with self.db.read() as s:
            return [(n, st, d, floats(v)) for n, st, d, v in s.execute(stmt)]

    def complete_curves(self, study_id: int) -> list[tuple[tuple[int, float], ...]]:
        """Intermediate values of every COMPLETE trial that reported some (for pruners)."""
        stmt = (
            select(IntermediateValue.trial_id, IntermediateValue.step, IntermediateValue.value)
            .join(Trial, Trial.id == IntermediateValue.trial_id)
            .where(Trial.study_id == study_id, Trial.state == TrialState.COMPLETE)
            .order_by(Trial.number, IntermediateValue.step)
        )
        curves: dict[int, list[tuple[int, float]]] = {}
        with self.db.read() as s:
            for tid, step, value in s.execute(stmt):
                curves.setdefault(tid, []).append((step, float("nan") if value is None else value))
        return [tuple(c) for c in curves.values()]

    def top(
        self, study_id: int, k: int, maximize: bool, distinct: bool = True
    ) -> list[TrialRecord]:
        """The `k` best scored trials by the first objective (ties: lower number first); with
        `distinct`, one per functional hash. Walks the (study_id, value) index in order."""
        if k < 1:
            return []
        order = (Trial.value.desc() if maximize else Trial.value.asc(), Trial.number)
        base = (
            select(Trial.id, Trial.number, Trial.functional_hash)
            .where(
                Trial.study_id == study_id, Trial.state.in_(SCORED_STATES), Trial.value.is_not(None)
            )
            .order_by(*order)
        )
        picked: list[int] = []
        seen: set[str] = set()
        offset, batch = 0, max(4 * k, 64)
        with self.db.read() as s:
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
        return self.trials.by_ids(picked)

    def best_value(self, study_id: int, maximize: bool) -> list[TrialRecord]:
        """Every scored trial at the best first-objective value, by number."""
        best = (func.max if maximize else func.min)(Trial.value)
        cond = [Trial.study_id == study_id, Trial.state.in_(SCORED_STATES)]
        top = select(best).where(*cond).scalar_subquery()
        with self.db.read() as s:
            stmt = select(Trial.id).where(*cond, Trial.value == top).order_by(Trial.number)
            ids = s.scalars(stmt).all()
        return self.trials.by_ids(list(ids))

    def latest(
        self, study_id: int, n: int, states: Sequence[str] | None = None
    ) -> list[TrialRecord]:
        """The last `n` trials (or the last `n` in `states`), in number order."""
        cond = [Trial.study_id == study_id]
        if states:
            cond.append(Trial.state.in_(list(states)))
        stmt = select(Trial.id).where(*cond).order_by(Trial.number.desc()).limit(n)
        with self.db.read() as s:
            ids = s.scalars(stmt).all()
        return self.trials.by_ids(list(reversed(ids)))

    def has_dna(self, study_id: int, dna_json: Any, skip_states: Sequence[str] = ()) -> bool:
        """Whether the study has a trial (in none of `skip_states`) with this DNA (as the
        store writes it): one seek on the DNA index (revision 0012)."""
        text = literal(json_dumps(dna_json), Text)
        if self.db.dialect == "postgresql":
            as_jsonb = cast(Trial.dna, JSONB)
            wanted = cast(text, JSONB)
            same = [
                func.md5(cast(as_jsonb, Text)) == func.md5(cast(wanted, Text)),
                as_jsonb == wanted,
            ]
        else:
            same = [func.json(Trial.dna) == func.json(text)]
        cond = [Trial.study_id == study_id, *same]
        if skip_states:
            cond.append(Trial.state.not_in(list(skip_states)))
        return self.db.scalar(select(Trial.id).where(*cond).limit(1)) is not None

    def candidate_sample(self, study_id: int, size: int = 400) -> list[str]:
        """Candidate texts of about `size` trials spread evenly over the study."""
        with self.db.read() as s:
            n = s.scalar(select(func.max(Trial.number)).where(Trial.study_id == study_id)) or 0
            stride = max(1, (n + 1) // size)
            cond = [Trial.study_id == study_id, Trial.candidate != ""]
            if stride > 1:
                cond.append(Trial.number % stride == 0)
            return list(s.scalars(select(Trial.candidate).where(*cond).limit(2 * size)))

    # -- Pareto front ----------------------------------------------------------------------------

    def pareto_front(self, study_id: int, directions: Sequence[str]) -> list[TrialRecord]:
        """Non-dominated scored trials (every objective finite) under `directions`, by number
        (store/pareto.py: index seeks for two objectives, SQL pruning for three)."""
        if len(directions) == 1:
            return self.best_value(study_id, directions[0] == Direction.MAXIMIZE)
        ids = front_ids(self.db, study_id, directions)
        with self.db.read() as s:
            order = (
                s.scalars(select(Trial.id).where(Trial.id.in_(ids)).order_by(Trial.number)).all()
                if ids
                else []
            )
        return self.trials.by_ids(list(order))

    # -- accounting ------------------------------------------------------------------------------

    def cost_rows(self, study_id: int, key: str) -> list[tuple]:
        """(id, state, functional_hash, cached_from id, cost, audit flag) of the trials that
        report user attribute `key` or are cached; empty when no trial reports it."""
        cost = Trial.user_attrs[key].as_float()
        audit = Trial.user_attrs["audit"].as_boolean()
        with self.db.read() as s:
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
                case((Trial.state == TrialState.CACHED, audit), else_=None),
            ).where(
                Trial.study_id == study_id, or_(cost.is_not(None), Trial.state == TrialState.CACHED)
            )
            return [tuple(r) for r in s.execute(stmt)]

    def audited_trials(self, study_id: int) -> tuple[list[str], set[int]]:
        """The study's tasks and the ids of its trials that have cache audits."""
        with self.db.read() as s:
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

    def counted_finished(self, study_id: int) -> int:
        """Finished trials that count against a total budget (INTERRUPTED ones do not)."""
        counted = Trial.state.in_(COUNTED_STATES)
        stmt = select(func.count()).select_from(Trial).where(Trial.study_id == study_id, counted)
        return int(self.db.scalar(stmt) or 0)

    def source_numbers(self, study_id: int) -> tuple[Any, Any]:
        """An aliased source trial and the expression giving a cache source's number (its id
        when the source belongs to another study), for joins that show `cached_from`."""
        source = aliased(Trial)
        shown = case((source.study_id == study_id, source.number), else_=Trial.cached_from_trial_id)
        return source, shown

    def frame_columns(self, study_id: int, n_objectives: int) -> dict[str, list]:
        """Every trial of a study as columns (number, state, objectives, params, hash, cache
        source's number, parents, mutation, duration, start, worker, error), by number, in two
        Core queries. The first three objectives come from the float columns (`value`, `value1`,
        `value2`); the JSON values only where one of those is missing (non-finite, or more
        objectives). Params are decoded by one `json.loads` of all rows; `started_at` is ISO
        text in UTC."""
        source, shown = self.source_numbers(study_id)
        floats_ = [
            Trial.value, *(literal_column(f"ht_trials.{c}", Float) for c in OBJECTIVE_COLUMNS)
        ][:n_objectives]  # fmt: skip
        odd = or_(*(c.is_(None) for c in floats_)) if 0 < n_objectives <= len(floats_) else None
        raw = cast(Trial.values, String)
        stmt = (
            select(
                Trial.id, Trial.number, Trial.state, raw if odd is None else case((odd, raw)),
                cast(Trial.params, String), Trial.functional_hash, shown, Trial.duration_s,
                cast(Trial.started_at, String), Trial.worker, Trial.error, *floats_,
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
        with self.db.read() as s:
            conn = s.connection()  # Core rows: no ORM loading machinery
            cols = list(zip(*conn.execute(stmt).all(), strict=True)) or [()] * (11 + len(floats_))
            links = conn.execute(edges).all()
        parents: dict[int, list[int]] = {}
        mutations: dict[int, str | None] = {}
        for child, pnum, mutation in links:
            parents.setdefault(child, []).append(pnum)
            mutations.setdefault(child, mutation)
        ids = cols[0]
        return {
            "number": list(cols[1]),
            "state": list(cols[2]),
            "objectives": objective_columns(n_objectives, cols[11:], cols[3]),
            "params": json_column(cols[4]),
            "functional_hash": list(cols[5]),
            "cached_from": list(cols[6]),
            "parents": [parents.get(i, []) for i in ids] if parents else [[] for _ in ids],
            "mutation": [mutations.get(i) for i in ids] if mutations else [None] * len(ids),
            "duration_s": list(cols[7]),
            "started_at": [None if t is None else iso_utc(t) for t in cols[8]],
            "worker": list(cols[9]),
            "error": list(cols[10]),
        }


def objective_columns(k: int, stored: Sequence[Sequence], raw: Sequence[str | None]) -> list:
    """`k` columns of objective values (floats, None where missing): the float columns, with
    each row whose JSON values came (non-finite or beyond the float columns) read from them."""
    out = [list(c) for c in stored] + [[None] * len(raw) for _ in range(k - len(stored))]
    for row, text in enumerate(raw):
        if text is not None:
            vals = json.loads(text) or ()
            for i in range(k):
                out[i][row] = float(vals[i]) if i < len(vals) else None  # 'NaN' etc. are strings
    return out


def json_column(texts: Sequence[str | None]) -> list[Any]:
    """JSON texts (or None) decoded by a single `json.loads` of them all."""
    return json.loads("[" + ",".join("null" if t is None else t for t in texts) + "]")


def iso_utc(text: str) -> str:
    """A stored naive-UTC timestamp as text ('YYYY-MM-DD HH:MM:SS[.ffffff]', as SQLite stores it
    and PostgreSQL casts it) → `datetime.isoformat()` of it as an aware UTC datetime."""
    frac = text[20:26].ljust(6, "0") if len(text) > 19 else "000000"
    return f"{text[:10]}T{text[11:19]}{'' if frac == '000000' else '.' + frac}+00:00"


# Every store call is one transaction: retry it on transient database errors (store/retry.py).
retry_methods(Queries)
