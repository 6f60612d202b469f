"""The dashboard's JSON API: every answer is bounded (aggregated, bucketed, sampled or paged)."""

from __future__ import annotations

import math
from dataclasses import asdict
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from hashtune.dashboard import candidates, views
from hashtune.store import Store, StudyRecord, TrialNotFoundError
from hashtune.store.dashboard_trials import TrialFilter

router = APIRouter()


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


def view(request: Request, name: str, study_id: int, *args: Any) -> JSONResponse:
    """The memoised study-level view `name` (views.py) as the answer."""
    record = _study(request, study_id)
    return answer(views.study_view(request.app.state.memo, _store(request), name, record, *args))


def _study(request: Request, study_id: int) -> StudyRecord:
    record = _store(request).studies.by_id(study_id)
    if record is None:
        raise HTTPException(404, f"no study with id {study_id}")
    return record


@router.get("/studies")
def studies(request: Request) -> JSONResponse:
    """Every study with counts by state, best value and what the cache saved."""
    store = _store(request)
    memo = request.app.state.memo
    return answer(views.memoised(memo, store, ("studies",), None, lambda: views.studies(store)))


@router.get("/studies/{study_id}")
def study(request: Request, study_id: int) -> JSONResponse:
    """One study's summary and config."""
    return view(request, "study", study_id)


@router.get("/studies/{study_id}/history")
def history(
    request: Request, study_id: int, max_points: int = Query(views.HISTORY_POINTS, ge=10, le=20000)
) -> JSONResponse:
    """Best-so-far by trial number and by finish time, and the all-trials scatter (buckets)."""
    return view(request, "history", study_id, max_points)


@router.get("/studies/{study_id}/params")
def params(request: Request, study_id: int) -> JSONResponse:
    """Slice / parallel-coordinates columns and importance, from a sample of ≤2000 trials."""
    return view(request, "params", study_id)


@router.get("/studies/{study_id}/pareto")
def pareto(request: Request, study_id: int) -> JSONResponse:
    """The Pareto front (2 or 3 objectives) with candidates for hover, and a sample of the rest."""
    return view(request, "pareto", study_id)


@router.get("/studies/{study_id}/intermediate")
def intermediate(
    request: Request, study_id: int, max_trials: int = Query(views.CURVES, ge=1, le=500)
) -> JSONResponse:
    """Intermediate-value curves of the latest trials that reported any (pruned ones flagged)."""
    return view(request, "intermediate", study_id, max_trials)


@router.get("/studies/{study_id}/timeline")
def timeline(
    request: Request, study_id: int, last: int = Query(1500, ge=1, le=5000)
) -> JSONResponse:
    """The latest trials per worker (start, end, state) and per-worker counts."""
    return view(request, "timeline", study_id, last)


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
    return view(request, "hashing", study_id)


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
    out = asdict(t)
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
