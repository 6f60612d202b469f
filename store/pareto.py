"""Pareto fronts in SQL, walking the objectives index (revision 0012) instead of parsing JSON.

Two objectives: the front is a staircase. Its first step is the best trial by the first objective
(ties: the best second); each next step is the first trial after it, in that order, that is
strictly better by the second objective: one recursive query of index seeks, as many steps as the
front has distinct points. Three objectives: the staircases of the pairs (first, second) and
(first, third) are front points; the few that dominate the most prune, in SQL, every trial they
dominate, and numpy peels the exact front from what is left. More objectives: the best-sum trial
prunes, numpy peels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import Float, and_, cast, column, func, literal, not_, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import TableClause

from hashtune.store.database import Database
from hashtune.store.models import OBJECTIVES_INDEX, SCORED_STATES, TRIAL_OBJECTIVES, Trial
from hashtune.vocabulary import Direction

#: Pivots that prune the three-objective candidates in SQL (each costs a test per trial), and
#: the sample of trials they are picked from.
PIVOTS, SAMPLE = 20, 1000


class _Walked(TableClause):
    """`ht_trials AS <name>` with the objectives columns; on SQLite `INDEXED BY` the objectives
    index (without ANALYZE statistics it picks (study_id, value) and reads every row's JSON)."""

    inherit_cache = True


@compiles(_Walked)
def _walked(element: _Walked, compiler: Any, **kw: Any) -> str:
    hint = f" INDEXED BY {OBJECTIVES_INDEX}" if compiler.dialect.name == "sqlite" else ""
    return f"ht_trials AS {element.name}{hint}"


def _walk(name: str) -> _Walked:
    return _Walked(name, *(column(c.name, c.type) for c in TRIAL_OBJECTIVES.c))


def front_ids(db: Database, study_id: int, directions: Sequence[str]) -> list[int]:
    """Ids of the non-dominated scored trials (every objective finite), in no set order."""
    maximize = [d == Direction.MAXIMIZE for d in directions]
    if len(directions) == 2:
        return _front_2(db, study_id, maximize)
    if len(directions) == 3:
        return _front_3(db, study_id, maximize)
    return _front_n(db, study_id, directions)


def _cols(t: Any, k: int) -> list[Any]:
    return [t.c.value, t.c.value1, t.c.value2][:k]


def _base(t: Any, study_id: int, k: int) -> list[Any]:
    return [t.c.study_id == study_id, t.c.state.in_(SCORED_STATES)] + [
        c.is_not(None) for c in _cols(t, k)
    ]


def _better(c: Any, x: Any, maximize: bool) -> Any:
    return c > x if maximize else c < x


def _order(c: Any, maximize: bool) -> Any:
    return c.desc() if maximize else c.asc()


def _staircase(study_id: int, maximize: Sequence[bool], pair: tuple[int, int], k: int):
    """A recursive CTE (v0, v1, ...) of the 2-D front of objectives `pair` (ties broken by the
    others, in order), stepping along the objectives index by the first of the pair."""
    i, j = pair
    order_ix = [i, j, *(r for r in range(k) if r not in pair)]

    def ordered(t):
        cs = _cols(t, k)
        return [_order(cs[r], maximize[r]) for r in order_ix]

    t0 = _walk("t0")
    cs0 = _cols(t0, k)
    first = (
        select(*cs0)
        .where(*_base(t0, study_id, k))
        .order_by(*ordered(t0))
        .limit(1)
        .subquery("first")
    )
    names = [f"v{r}" for r in range(k)]
    st = select(*(first.c[c.name].label(n) for c, n in zip(cs0, names, strict=True)))
    st = st.cte("st", recursive=True)
    t1 = _walk("t1")
    cs1 = _cols(t1, k)
    step = (
        select(t1.c.id)
        .where(
            *_base(t1, study_id, k),
            _better(st.c[names[i]], cs1[i], maximize[i]),
            _better(cs1[j], st.c[names[j]], maximize[j]),
        )
        .order_by(*ordered(t1))
        .limit(1)
        .correlate(st)
        .scalar_subquery()
    )
    t2 = TRIAL_OBJECTIVES.alias("t2")
    return st.union_all(select(*_cols(t2, k)).select_from(st.join(t2, t2.c.id == step)))


def _front_2(db: Database, study_id: int, maximize: Sequence[bool]) -> list[int]:
    """The staircase's points, then every scored trial at one of them (equal points)."""
    t = _walk("t")
    with db.read() as s:
        points = {tuple(r) for r in s.execute(select(_staircase(study_id, maximize, (0, 1), 2)))}
        if not points:
            return []
        at = t.c.value.in_(sorted({v0 for v0, _ in points}))  # index seeks, by the first value
        rows = s.execute(select(t.c.id, t.c.value, t.c.value1).where(*_base(t, study_id, 0), at))
        return [tid for tid, v0, v1 in rows if (v0, v1) in points]


def _front_3(db: Database, study_id: int, maximize: Sequence[bool]) -> list[int]:
    """Pivots from a sample's front prune in SQL; numpy peels the exact front of the rest."""
    sign = np.where(maximize, 1.0, -1.0)
    t = _walk("t")
    cs = _cols(t, 3)
    pivots = _sample_pivots(db, study_id, sign) * sign
    keep = [
        or_(
            *(_better(c, literal(float(v)), m) for c, v, m in zip(cs, p, maximize, strict=True)),
            and_(*(c == literal(float(v)) for c, v in zip(cs, p, strict=True))),
        )
        for p in pivots
    ]
    stmt = select(t.c.id, *cs).where(*_base(t, study_id, 3), *keep)
    with db.read() as s:
        rows = s.execute(stmt).all()
    ids = np.array([r[0] for r in rows])
    pts = np.array([r[1:] for r in rows], dtype=float).reshape(-1, 3) * sign
    return [int(ids[i]) for i in peel_front(pts)]


def _sample_pivots(db: Database, study_id: int, sign: np.ndarray) -> np.ndarray:
    """Up to `PIVOTS` scored points (sign-adjusted, larger is better) of a seeded sample of the
    study's trials by id (primary-key seeks), greedily the ones that dominate most of it."""
    with db.read() as s:
        lo, hi = (  # one extreme per query: each is a single index seek
            s.scalar(select(f(Trial.id)).where(Trial.study_id == study_id))
            for f in (func.min, func.max)
        )
        if lo is None or hi - lo < 4 * SAMPLE:
            return np.empty((0, len(sign)))
        ids = np.random.default_rng(study_id).choice(hi - lo + 1, SAMPLE, replace=False) + lo
        t = TRIAL_OBJECTIVES  # no IS NOT NULL here: SQLite would walk a value index instead
        where = [*_base(t, study_id, 0), t.c.id.in_([int(i) for i in ids])]
        rows = s.execute(select(*_cols(t, 3)).where(*where)).all()
    # tuples: numpy probes a Row for the array protocol key by key (18 ms for 1000 rows)
    pts = np.array([tuple(r) for r in rows if None not in r], dtype=float).reshape(-1, len(sign))
    return pick_pivots(pts * sign, PIVOTS)


def pick_pivots(points: np.ndarray, n: int) -> np.ndarray:
    """Up to `n` non-dominated rows of `points` (maximisation) that together dominate the most
    of `points`, greedily, the one dominating most first."""
    if len(points) == 0:
        return points
    front = points[peel_front(points)]
    below = np.ones((len(front), len(points)), dtype=bool)  # pivot x point, plane by plane
    for j in range(points.shape[1]):
        below &= points[None, :, j] <= front[:, j, None]
    picked: list[int] = []
    free = np.ones(len(points), dtype=bool)
    for _ in range(min(n, len(front))):
        gain = (below & free).sum(axis=1)
        best = int(np.argmax(gain))
        if gain[best] <= 1:
            break
        picked.append(best)
        free &= ~below[best]
    return front[picked]


def _oriented(db: Database, study_id: int, directions: Sequence[str]):
    """A subquery (id, a0, a1, ...) of scored trials: objectives with every one finite,
    minimised ones negated, so larger is better everywhere (read from the JSON values)."""
    pg = db.dialect == "postgresql"
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
        cols.append((obj if d == Direction.MAXIMIZE else -obj).label(f"a{j}"))
    return (
        select(Trial.id, *cols)
        .where(Trial.study_id == study_id, Trial.state.in_(SCORED_STATES), *finite)
        .subquery("pts")
    )


def _front_n(db: Database, study_id: int, directions: Sequence[str]) -> list[int]:
    """Any number of objectives: SQL drops what the best-sum point dominates; numpy peels
    the rest (the lexicographically largest remaining point is always non-dominated)."""
    p = _oriented(db, study_id, directions)
    a = [p.c[f"a{j}"] for j in range(len(directions))]
    with db.read() as s:
        pivot = s.execute(select(*a).order_by(sum(a[1:], a[0]).desc()).limit(1)).first()
        if pivot is None:
            return []
        below = and_(*(c <= literal(v) for c, v in zip(a, pivot, strict=True)))
        strictly = or_(*(c < literal(v) for c, v in zip(a, pivot, strict=True)))
        rows = s.execute(select(p.c.id, *a).where(not_(and_(below, strictly)))).all()
    ids = np.array([r[0] for r in rows])
    pts = np.array([r[1:] for r in rows], dtype=float).reshape(-1, len(directions))
    return [int(ids[i]) for i in peel_front(pts)]


def peel_front(points: np.ndarray, block: int = 64) -> list[int]:
    """Indices (ascending) of the non-dominated rows of `points` (maximisation; equal points
    are all kept). In lexicographic order nothing is dominated by a later point, so the front
    of the first `block` points left is on the whole front: keep it, drop the block and what
    that front dominates, repeat."""
    order = np.lexsort(tuple(-points[:, j] for j in reversed(range(points.shape[1]))))
    pts, idx = points[order], order
    front: list[int] = []
    while len(pts):
        head = pts[:block]
        beaten = _dominated(head, head)
        tops = head[~beaten]
        front.extend(int(i) for i in idx[: len(head)][~beaten])
        gone = np.zeros(len(pts), dtype=bool)
        gone[: len(head)] = True
        for j in range(0, len(tops), 16):  # bounded memory: 16 x n x d booleans at a time
            gone |= _dominated(pts, tops[j : j + 16])
        pts, idx = pts[~gone], idx[~gone]
    return sorted(front)


def _dominated(pts: np.ndarray, by: np.ndarray) -> np.ndarray:
    """Which rows of `pts` some row of `by` dominates (maximisation). One objective at a time
    on (by x pts) planes: 10x faster than reducing a (by x pts x d) cube over its short axis."""
    le = np.ones((len(by), len(pts)), dtype=bool)
    lt = np.zeros_like(le)
    for j in range(pts.shape[1]):
        a, b = pts[None, :, j], by[:, j, None]
        le &= a <= b
        lt |= a < b
    return (le & lt).any(axis=0)
