"""What each heavy dashboard answer holds, computed from the store, and the memo around them.

The API routes (api.py) answer with these; `prime` computes a store's study-level views once at
start-up, under the same memo keys the pages ask for, so a first visit after `hashtune dashboard`
is served from memory. Every answer is bounded: aggregated, bucketed, sampled or paged in SQL.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import numpy as np

from hashtune.dashboard import candidates
from hashtune.dashboard.importance import param_views
from hashtune.dashboard.memo import Memo
from hashtune.dashboard.pareto import front_indices
from hashtune.store import Store, StudyRecord
from hashtune.view import study_simulated_cost
from hashtune.vocabulary import is_maximize

MAX_OTHER_POINTS = 1500
MAX_FRONT = 2000
HISTORY_POINTS = 1200  # the study page's scatter buckets (the API's default)
CURVES = 100  # the latest trials with intermediate values
TIMELINE_TRIALS = 400  # what the study page asks for (study.js)
PRIME_STUDIES = 20  # at start-up, the views of this many most recent studies


def memoised(memo: Memo, store: Store, key: tuple, study_id: int | None, compute: Callable) -> Any:
    """`compute()` through `memo`, keyed on the study's (or the store's) change marker."""
    version = store.dashboard.study_version(study_id)
    return memo.get(key, (version["trials"], version["finished_at"]), compute)


def _name(spec: Any) -> str | None:
    """Component name from a study config entry (a string or {"name": ...})."""
    if isinstance(spec, dict):
        return spec.get("name")
    return None if spec is None else str(spec)


def _summary(store: Store, row: Any, activity: dict[int, dict[str, Any]]) -> dict[str, Any]:
    record = store.studies.by_id(row.id)
    stats = store.studies.stats(row.id)
    config = record.config if record else {}
    scored = stats.complete + stats.cached
    act = activity.get(row.id, {"running": False, "last_seen": None})
    cost = study_simulated_cost(store, row.id)
    return {
        "id": row.id,
        "name": row.name,
        "directions": list(row.directions),
        "objectives": config.get("objectives") or [],
        "searcher": _name(config.get("searcher")),
        "space": _name(config.get("space")),
        "evaluator": _name(config.get("evaluator")),
        "status": row.status,
        "state": "running" if act["running"] else "idle",
        "last_seen": act["last_seen"],
        "created_at": row.created_at,
        "trials": row.n_trials,
        "total_trials": row.total_trials,
        "best_value": row.best_value,
        "cache_hit_rate": stats.cached / scored if scored else None,
        "evaluations_saved": stats.evaluations_saved,
        "eval_seconds_saved": stats.eval_seconds_saved,
        "eval_seconds_paid": stats.eval_seconds_paid,
        "unique_functions": stats.unique_functions,
        # what the evaluations would cost on a GPU, where the evaluator says (tabular benchmarks)
        "simulated_gpu_seconds": None
        if cost is None
        else {
            "paid": cost.paid_s,
            "saved": cost.saved_s,
            "unknown_hits": cost.unknown_hits,
        },
    }


def studies(store: Store) -> list[dict[str, Any]]:
    """Every study with counts by state, best value and what the cache saved."""
    activity = store.dashboard.study_activity()
    return [_summary(store, row, activity) for row in store.studies.list()]


def study(store: Store, record: StudyRecord) -> dict[str, Any]:
    """One study's summary and config."""
    row = next(r for r in store.studies.list() if r.id == record.id)
    return {**_summary(store, row, store.dashboard.study_activity()), "config": record.config}


def history(store: Store, record: StudyRecord, max_points: int = HISTORY_POINTS) -> dict[str, Any]:
    """Best-so-far by trial number and by finish time, and the all-trials scatter as min/max
    buckets (columnar), all reduced in SQL."""
    maximize = is_maximize(record.directions)
    return {
        "maximize": maximize,
        "best_by_number": store.dashboard.best_so_far(record.id, maximize, "number"),
        "best_by_time": store.dashboard.best_so_far(record.id, maximize, "finished"),
        "scatter": store.dashboard.value_buckets(record.id, max_points),
    }


def params(store: Store, record: StudyRecord) -> dict[str, Any]:
    """Slice / parallel-coordinates columns and importance, from a sample of ≤2000 trials."""
    return param_views(store.dashboard.param_sample(record.id), is_maximize(record.directions))


def pareto(store: Store, record: StudyRecord) -> dict[str, Any]:
    """The front (in SQL for 2 objectives; numpy over one narrow scan for 3) with candidates for
    hover, and a strided sample of the other scored trials."""
    study_id, k = record.id, min(len(record.directions), 3)
    if k < 2:
        return {"objectives": 1, "front": [], "others": []}
    if k == 2:
        front_rows = store.dashboard.pareto_2d(study_id, list(record.directions), MAX_FRONT)
        n_scored, stride, sample = store.dashboard.objective_sample(study_id, 2, MAX_OTHER_POINTS)
    else:
        rows = store.dashboard.objective_points(study_id, k)
        pts = np.array([[np.nan if v is None else v for v in r[3:]] for r in rows], dtype=float)
        front = front_indices(pts.reshape(-1, k), record.directions[:k])[:MAX_FRONT]
        front_rows = [rows[i] for i in front]
        n_scored, stride = len(rows), max(1, math.ceil(len(rows) / MAX_OTHER_POINTS))
        sample = rows[::stride]
    on_front = {r[0] for r in front_rows}
    texts = store.dashboard.candidates(list(on_front))

    def point(row: tuple) -> dict[str, Any]:
        tid, number, state, *vals = row
        return {"id": tid, "number": number, "state": state, "values": vals}

    return {
        "objectives": k,
        "directions": list(record.directions[:k]),
        "names": (record.config.get("objectives") or [])[:k],
        "n_scored": n_scored,
        "front": [
            {**point(r), "candidate": candidates.short(texts.get(r[0], ""))} for r in front_rows
        ],
        "others": [point(r) for r in sample if r[0] not in on_front],
        "others_stride": stride,
    }


def intermediate(store: Store, record: StudyRecord, max_trials: int = CURVES) -> dict[str, Any]:
    """Intermediate-value curves of the latest trials that reported any (pruned ones flagged)."""
    return {"curves": store.dashboard.intermediate_curves(record.id, max_trials)}


def timeline(store: Store, record: StudyRecord, last: int = TIMELINE_TRIALS) -> dict[str, Any]:
    """The latest trials per worker (start, end, state) and per-worker counts."""
    return store.dashboard.timeline(record.id, last)


def hashing(store: Store, record: StudyRecord) -> dict[str, Any]:
    """Proposals vs paid, hits and seconds saved over trials/time, largest classes, audits."""
    study_id = record.id
    classes = store.dashboard.largest_classes(study_id)
    return {
        "stats": asdict(store.studies.stats(study_id)),
        "buckets": store.dashboard.hashing_buckets(study_id),
        "classes": [
            {
                **c,
                "members": [
                    {**m, "candidate": candidates.short(m["candidate"])} for m in c["members"]
                ],
            }
            for c in classes
        ],  # fmt: skip
        "audits": store.dashboard.study_audits(study_id),
    }


#: The study-level views a page asks for with its default arguments, under their memo keys.
STUDY_VIEWS: dict[str, tuple[tuple, Callable[[Store, StudyRecord], Any]]] = {
    "study": ((), study),
    "history": ((HISTORY_POINTS,), history),
    "params": ((), params),
    "pareto": ((), pareto),
    "intermediate": ((CURVES,), intermediate),
    "timeline": ((TIMELINE_TRIALS,), timeline),
    "hashing": ((), hashing),
}


def study_view(memo: Memo, store: Store, name: str, record: StudyRecord, *args: Any) -> Any:
    """The memoised view `name` of `record` (the key carries the arguments)."""
    fn = STUDY_VIEWS[name][1]
    key = (name, record.id, *args)
    return memoised(memo, store, key, record.id, lambda: fn(store, record, *args))


def prime(store: Store, memo: Memo, limit: int = PRIME_STUDIES) -> None:
    """Compute the studies list and the `limit` most recent studies' views into `memo`."""
    memoised(memo, store, ("studies",), None, lambda: studies(store))
    for row in sorted(store.studies.list(), key=lambda r: r.id, reverse=True)[:limit]:
        record = store.studies.by_id(row.id)
        if record is None:
            continue
        for name, (args, _) in STUDY_VIEWS.items():
            study_view(memo, store, name, record, *args)
