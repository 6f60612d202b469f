"""The dashboard's JSON API: every answer is bounded (aggregated, bucketed, sampled or paged)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import numpy as np
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from hashtune.dashboard import candidates
from hashtune.dashboard.importance import param_views
from hashtune.dashboard.pareto import front_indices
from hashtune.store import Store, StudyRecord, TrialNotFoundError
from hashtune.store.dashboard_trials import TrialFilter
from hashtune.vocabulary import is_maximize

router = APIRouter()
MAX_OTHER_POINTS = 1500
MAX_FRONT = 2000


def _clean(obj: Any) -> Any:
    """JSON-safe: NaN/inf become null (JSON has no NaN), datetimes ISO strings."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, str | int | bool) or obj is None:
        return obj
    return jsonable_encoder(obj)


def answer(obj: Any) -> JSONResponse:
    return JSONResponse(_clean(obj))


def _store(request: Request) -> Store:
    return request.app.state.store


def memo(request: Request, key: tuple, study_id: int | None, compute) -> Any:
    """`compute()` through the app's Memo, keyed on the study's (or the store's) version."""
    version = _store(request).dashboard.study_version(study_id)
    return request.app.state.memo.get(key, (version["trials"], version["finished_at"]), compute)


def _study(request: Request, study_id: int) -> StudyRecord:
    record = _store(request).studies.by_id(study_id)
    if record is None:
        raise HTTPException(404, f"no study with id {study_id}")
    return record


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
    }


@router.get("/studies")
def studies(request: Request) -> JSONResponse:
    """Every study with counts by state, best value and what the cache saved."""
    store = _store(request)

    def compute() -> list[dict[str, Any]]:
        activity = store.dashboard.study_activity()
        return [_summary(store, row, activity) for row in store.studies.list()]

    return answer(memo(request, ("studies",), None, compute))


@router.get("/studies/{study_id}")
def study(request: Request, study_id: int) -> JSONResponse:
    """One study's summary and config."""
    store = _store(request)
    record = _study(request, study_id)

    def compute() -> dict[str, Any]:
        row = next(r for r in store.studies.list() if r.id == study_id)
        return {**_summary(store, row, store.dashboard.study_activity()), "config": record.config}

    return answer(memo(request, ("study", study_id), study_id, compute))


def _maximize(record: StudyRecord) -> bool:
    return is_maximize(record.directions)


@router.get("/studies/{study_id}/history")
def history(
    request: Request, study_id: int, max_points: int = Query(1200, ge=10, le=20000)
) -> JSONResponse:
    """Best-so-far by trial number and by finish time, and the all-trials scatter as min/max
    buckets (columnar), all reduced in SQL."""
    store, record = _store(request), _study(request, study_id)
    maximize = _maximize(record)

    def compute() -> dict[str, Any]:
        return {
            "maximize": maximize,
            "best_by_number": store.dashboard.best_so_far(study_id, maximize, "number"),
            "best_by_time": store.dashboard.best_so_far(study_id, maximize, "finished"),
            "scatter": store.dashboard.value_buckets(study_id, max_points),
        }

    return answer(memo(request, ("history", study_id, max_points), study_id, compute))


@router.get("/studies/{study_id}/params")
def params(request: Request, study_id: int) -> JSONResponse:
    """Slice / parallel-coordinates columns and importance, from a sample of ≤2000 trials."""
    store, record = _store(request), _study(request, study_id)
    compute = lambda: param_views(store.dashboard.param_sample(study_id), _maximize(record))  # noqa: E731
    return answer(memo(request, ("params", study_id), study_id, compute))


@router.get("/studies/{study_id}/pareto")
def pareto(request: Request, study_id: int) -> JSONResponse:
    """The Pareto front (2 or 3 objectives) with candidates for hover, and a sample of the rest."""
    record = _study(request, study_id)
    if len(record.directions) < 2:
        return answer({"objectives": 1, "front": [], "others": []})
    return answer(memo(request, ("pareto", study_id), study_id, lambda: _pareto(request, record)))


def _pareto(request: Request, record: StudyRecord) -> dict[str, Any]:
    """The front (in SQL for 2 objectives; numpy over one narrow scan for 3) and a strided
    sample of the other scored trials."""
    store, study_id = _store(request), record.id
    k = min(len(record.directions), 3)
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


@router.get("/studies/{study_id}/intermediate")
def intermediate(
    request: Request, study_id: int, max_trials: int = Query(100, ge=1, le=500)
) -> JSONResponse:
    """Intermediate-value curves of the latest trials that reported any (pruned ones flagged)."""
    _study(request, study_id)
    curves = _store(request).dashboard.intermediate_curves
    compute = lambda: {"curves": curves(study_id, max_trials)}  # noqa: E731
    return answer(memo(request, ("intermediate", study_id, max_trials), study_id, compute))


@router.get("/studies/{study_id}/timeline")
def timeline(
    request: Request, study_id: int, last: int = Query(1500, ge=1, le=5000)
) -> JSONResponse:
    """The latest trials per worker (start, end, state) and per-worker counts."""
    _study(request, study_id)
    compute = lambda: _store(request).dashboard.timeline(study_id, last)  # noqa: E731
    return answer(memo(request, ("timeline", study_id, last), study_id, compute))


@router.get("/studies/{study_id}/trials")
def trials(
    request: Request,
    study_id: int,
    page: int = Query(1, ge=1),
    per_page: int = Query(50, ge=1, le=500),
    sort: str = "number",
    order: str = Query("asc", pattern="^(asc|desc)$"),
    state: list[str] = Query(default=[]),
    value_min: float | None = None,
    value_max: float | None = None,
    param: str | None = None,
    param_value: str | None = None,
) -> JSONResponse:
    """One page of the trials table, filtered and sorted in SQL."""
    _study(request, study_id)
    states = tuple(s for part in state for s in part.split(",") if s)
    try:
        flt = TrialFilter(states, value_min, value_max, param or None, param_value)
        out = _store(request).dashboard.trials_page(
            study_id, flt, page=page, per_page=per_page, sort=sort, descending=order == "desc"
        )
    except ValueError as e:
        raise HTTPException(422, str(e)) from e
    out.update(page=page, per_page=per_page, pages=max(1, math.ceil(out["total"] / per_page)))
    return answer(out)


@router.get("/studies/{study_id}/hashing")
def hashing(request: Request, study_id: int) -> JSONResponse:
    """Proposals vs paid, hits and seconds saved over trials/time, largest classes, audits."""
    _study(request, study_id)
    return answer(
        memo(request, ("hashing", study_id), study_id, lambda: _hashing(request, study_id))
    )


def _hashing(request: Request, study_id: int) -> dict[str, Any]:
    store = _store(request)
    stats = store.studies.stats(study_id)
    return {
        "stats": _asdict(stats),
        "buckets": store.dashboard.hashing_buckets(study_id),
        "classes": [
            {
                **c,
                "members": [
                    {**m, "candidate": candidates.short(m["candidate"])} for m in c["members"]
                ],
            }
            for c in store.dashboard.largest_classes(study_id)
        ],
        "audits": store.dashboard.study_audits(study_id),
    }


def _asdict(obj: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(obj)


@router.get("/studies/{study_id}/updates")
def updates(
    request: Request,
    study_id: int,
    since: str | None = None,
    limit: int = Query(100, ge=0, le=500),
) -> JSONResponse:
    """Since-last-seen: the study's change marker and (at most `limit`) trials finished after
    `since` (ISO); `limit=0` asks for the marker alone."""
    store = _store(request)
    _study(request, study_id)
    try:
        after = None if not since else datetime.fromisoformat(since)
    except ValueError as e:
        raise HTTPException(422, f"`since` must be an ISO timestamp, got {since!r}") from e
    new = store.dashboard.finished_since(study_id, after, limit) if limit else []
    version = store.dashboard.study_version(study_id)
    cursor = new[-1]["finished_at"] if new else since
    return answer({"version": version, "trials": new, "cursor": cursor})


@router.get("/trials/{trial_id}")
def trial(request: Request, trial_id: int) -> JSONResponse:
    """A trial with its candidate rendered, lineage (children, ancestry) and hash class."""
    store = _store(request)
    try:
        t = store.trials.get(trial_id)
    except TrialNotFoundError as e:
        raise HTTPException(404, str(e)) from e
    out = _asdict(t)
    out["rendered"] = candidates.render(t.candidate, t.params)
    out["children"] = store.dashboard.trial_children(trial_id)
    out["ancestry"] = store.dashboard.ancestry(trial_id)
    out["cached_from"] = None
    if t.cached_from_trial_id is not None:
        src = store.trials.get(t.cached_from_trial_id)
        out["cached_from"] = {"id": src.id, "number": src.number, "study_id": src.study_id}
    cls = None
    if t.functional_hash and t.task:
        cls = store.dashboard.hash_class(t.task, t.functional_hash)
        names = store.dashboard.study_names()
        for m in cls["members"]:
            m["study"] = names.get(m["study_id"])
            m["rendered"] = candidates.render(m.pop("candidate"), None)["pyglove"]
    out["hash_class"] = cls
    return answer(out)
