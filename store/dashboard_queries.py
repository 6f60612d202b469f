"""Read-only study aggregations for the dashboard, computed in SQL (bounded rows at any size).

Queries return bounded rows whatever the study's size (buckets, strided samples, the latest N),
except `objective_points`, the narrow scan the Pareto front is reduced from with numpy.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import aliased

from hashtune.store.base import utcnow
from hashtune.store.database import Bound
from hashtune.store.models import (
    LIVE_STATES,
    PAID_STATES,
    SCORED_STATES,
    FecAudit,
    FecCache,
    IntermediateValue,
    Study,
    Trial,
)
from hashtune.vocabulary import TrialState

LIVE_WINDOW_S = 60.0


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.replace(tzinfo=UTC).isoformat()


class DashboardQueries(Bound):
    """Aggregations behind the dashboard's pages; nothing here writes."""

    def study_activity(self) -> dict[int, dict[str, Any]]:
        """Per study: last heartbeat and whether a worker was seen within LIVE_WINDOW_S."""
        with self.db.read() as s:
            rows = s.execute(
                select(
                    Trial.study_id,
                    func.max(Trial.heartbeat_at),
                    func.sum(case((Trial.state.in_(LIVE_STATES), 1), else_=0)),
                ).group_by(Trial.study_id)
            ).all()
        cutoff = utcnow() - timedelta(seconds=LIVE_WINDOW_S)
        return {
            sid: {
                "last_seen": _iso(hb),
                "running": bool(live) and hb is not None and hb >= cutoff,
            }
            for sid, hb, live in rows
        }

    def param_sample(self, study_id: int, size: int = 2000) -> list[dict[str, Any]]:
        """A strided sample of scored trials: number, values, params."""
        count = self._count(study_id, SCORED_STATES)
        stride = max(1, math.ceil(count / size))
        cond = [
            Trial.study_id == study_id,
            Trial.state.in_(SCORED_STATES),
            Trial.value.is_not(None),
        ]
        if stride > 1:
            cond.append(Trial.number % stride == 0)
        rows = self.db.rows(
            select(Trial.number, Trial.values, Trial.params).where(*cond).order_by(Trial.number)
        )
        return [{"number": n, "values": v, "params": p} for n, v, p in rows]

    def objective_points(self, study_id: int, k: int) -> list[tuple]:
        """(id, number, state, obj_0, ..., obj_k-1) of every scored trial, as floats from SQL."""
        cols = [Trial.value] + [Trial.values[i].as_float() for i in range(1, k)]
        return self.db.rows(
            select(Trial.id, Trial.number, Trial.state, *cols)
            .where(
                Trial.study_id == study_id, Trial.state.in_(SCORED_STATES), Trial.value.is_not(None)
            )
            .order_by(Trial.number)  # a scan in row order (by value would read rows at random)
        )

    def candidates(self, trial_ids: list[int]) -> dict[int, str]:
        """Candidate text of a few trials, by id."""
        if not trial_ids:
            return {}
        return dict(self.db.rows(select(Trial.id, Trial.candidate).where(Trial.id.in_(trial_ids))))

    def intermediate_curves(self, study_id: int, max_trials: int = 100) -> list[dict[str, Any]]:
        """Intermediate values of the latest `max_trials` trials that reported any."""
        ids = (
            select(IntermediateValue.trial_id)
            .join(Trial, Trial.id == IntermediateValue.trial_id)
            .where(Trial.study_id == study_id)
            .group_by(IntermediateValue.trial_id)
            .order_by(IntermediateValue.trial_id.desc())
            .limit(max_trials)
        )
        picked = [r[0] for r in self.db.rows(ids)]
        if not picked:
            return []
        rows = self.db.rows(
            select(
                Trial.id, Trial.number, Trial.state, IntermediateValue.step, IntermediateValue.value
            )
            .join(Trial, Trial.id == IntermediateValue.trial_id)
            .where(IntermediateValue.trial_id.in_(picked))
            .order_by(Trial.number, IntermediateValue.step)
        )
        curves: dict[int, dict[str, Any]] = {}
        for tid, number, state, step, value in rows:
            c = curves.setdefault(tid, {"id": tid, "number": number, "state": state, "steps": []})
            c["steps"].append([step, value])
        return list(curves.values())

    def timeline(self, study_id: int, last: int = 1500) -> dict[str, Any]:
        """The latest `last` trials' start/finish per worker, and per-worker counts by state."""
        rows = self.db.rows(
            select(
                Trial.id, Trial.number, Trial.worker, Trial.state, Trial.started_at,
                Trial.finished_at, Trial.heartbeat_at,
            )
            .where(Trial.study_id == study_id, Trial.started_at.is_not(None))
            .order_by(Trial.number.desc())
            .limit(last)
        )  # fmt: skip
        per_worker = self.db.rows(
            select(Trial.worker, Trial.state, func.count())
            .where(Trial.study_id == study_id)
            .group_by(Trial.worker, Trial.state)
        )
        workers: dict[str, dict[str, int]] = {}
        for w, st, c in per_worker:
            workers.setdefault(w or "?", {})[st] = c
        return {
            "trials": [
                {
                    "id": i, "number": n, "worker": w or "?", "state": st, "start": _iso(a),
                    "end": _iso(b or hb),
                }
                for i, n, w, st, a, b, hb in reversed(rows)
            ],
            "workers": workers,
        }  # fmt: skip

    def hashing_buckets(self, study_id: int, buckets: int = 200) -> list[dict[str, Any]]:
        """Per bucket of trial numbers: proposals, paid evaluations, hits and seconds saved.

        Two grouped queries, each over a covering index: counts from `ix_ht_trials_study_series`,
        the seconds the hits saved (the payer's duration, else the cache entry's) from
        `ix_ht_trials_study_stats` joined to the payer by primary key.
        """
        n = self._max_number(study_id)
        width = max(1, math.ceil((n + 1) / buckets))
        bucket = (Trial.number // width) if width > 1 else Trial.number
        rows = self.db.rows(
            select(
                func.min(Trial.number),
                func.count(),
                func.sum(case((Trial.state.in_(PAID_STATES), 1), else_=0)),
                func.sum(case((Trial.state == TrialState.CACHED, 1), else_=0)),
                func.max(Trial.finished_at),
                bucket,
            )
            .where(Trial.study_id == study_id)
            .group_by(bucket)
            .order_by(func.min(Trial.number))
        )
        source = aliased(Trial)
        cache_secs = (
            select(func.max(FecCache.eval_seconds))
            .where(FecCache.task == Trial.task, FecCache.functional_hash == Trial.functional_hash)
            .scalar_subquery()
        )
        saved = dict(
            self.db.rows(
                select(bucket, func.sum(func.coalesce(source.duration_s, cache_secs, 0.0)))
                .select_from(Trial)
                .outerjoin(source, source.id == Trial.cached_from_trial_id)
                .where(Trial.study_id == study_id, Trial.state == TrialState.CACHED)
                .group_by(bucket)
            )
        )
        return [
            {
                "number": a, "proposals": c, "paid": int(p or 0), "cached": int(h or 0),
                "saved_s": float(saved.get(k) or 0.0), "finished_at": _iso(f),
            }
            for a, c, p, h, f, k in rows
        ]  # fmt: skip

    def largest_classes(self, study_id: int, k: int = 15, members: int = 8) -> list[dict]:
        """The `k` functional hashes with most trials in the study, with up to `members` each."""
        top = self.db.rows(
            select(Trial.functional_hash, Trial.task, func.count().label("n"))
            .where(Trial.study_id == study_id, Trial.functional_hash.is_not(None))
            .group_by(Trial.functional_hash, Trial.task)
            .having(func.count() > 1)
            .order_by(func.count().desc(), Trial.functional_hash)
            .limit(k)
        )
        if not top:
            return []
        by_hash: dict[str, list[dict]] = {}
        for h, task, _ in top:  # a few rows per class, each through ix_ht_trials_task_hash
            rows = self.db.rows(
                select(Trial.id, Trial.number, Trial.state, Trial.value, Trial.candidate)
                .where(Trial.task == task, Trial.functional_hash == h, Trial.study_id == study_id)
                .order_by(Trial.number)
                .limit(members)
            )
            by_hash[h] = [
                {"id": tid, "number": number, "state": state, "value": value, "candidate": cand}
                for tid, number, state, value, cand in rows
            ]
        return [
            {"functional_hash": h, "task": t, "size": n, "members": by_hash.get(h, [])}
            for h, t, n in top
        ]

    def study_audits(self, study_id: int, limit: int = 300) -> dict[str, Any]:
        """Collision/noise audits of the study's cache hits: latest `limit` and a summary."""
        cond = [Trial.study_id == study_id]
        joined = select(FecAudit, Trial.number).join(Trial, Trial.id == FecAudit.trial_id)
        summary = self.db.rows(
            select(func.count(), func.avg(FecAudit.abs_diff), func.max(FecAudit.abs_diff))
            .select_from(FecAudit)
            .join(Trial, Trial.id == FecAudit.trial_id)
            .where(*cond)
        )[0]
        rows = self.db.rows(joined.where(*cond).order_by(FecAudit.id.desc()).limit(limit))
        return {
            "count": summary[0],
            "mean_abs_diff": summary[1],
            "max_abs_diff": summary[2],
            "audits": [
                {
                    "trial_number": number, "trial_id": a.trial_id, "cached": a.cached,
                    "fresh": a.fresh, "abs_diff": a.abs_diff, "created_at": _iso(a.created_at),
                }
                for a, number in rows
            ],
        }  # fmt: skip

    def study_version(self, study_id: int | None = None) -> dict[str, Any]:
        """A cheap change marker of one study (or all): trial count and latest finish time."""
        cond = [] if study_id is None else [Trial.study_id == study_id]
        n, last = self.db.rows(
            select(func.count(), func.max(Trial.finished_at)).select_from(Trial).where(*cond)
        )[0]
        return {"trials": n, "finished_at": _iso(last)}

    def finished_since(self, study_id: int, since: datetime | None, limit: int = 100) -> list:
        """Trials finished after `since` (newest last), at most `limit`."""
        cond = [Trial.study_id == study_id, Trial.finished_at.is_not(None)]
        if since is not None:
            cond.append(Trial.finished_at > since.astimezone(UTC).replace(tzinfo=None))
        rows = self.db.rows(
            select(Trial.id, Trial.number, Trial.state, Trial.value, Trial.finished_at)
            .where(*cond)
            .order_by(Trial.finished_at.desc())
            .limit(limit)
        )
        return [
            {"id": i, "number": n, "state": st, "value": v, "finished_at": _iso(f)}
            for i, n, st, v, f in reversed(rows)
        ]

    def study_names(self) -> dict[int, str]:
        """Study id → name."""
        return dict(self.db.rows(select(Study.id, Study.name)))

    # -- plumbing ------------------------------------------------------------------------------

    def _max_number(self, study_id: int) -> int:
        return int(self.db.rows(select(func.coalesce(func.max(Trial.number), 0)).where(
            Trial.study_id == study_id))[0][0])  # fmt: skip

    def _count(self, study_id: int, states: tuple[str, ...]) -> int:
        cond = [Trial.study_id == study_id, Trial.state.in_(states)]
        return int(self.db.rows(select(func.count()).select_from(Trial).where(*cond))[0][0])
