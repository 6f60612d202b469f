"""Best-so-far curves (by trial number and by finish time) and the bucketed all-trials scatter,
from one narrow scan of a study's scored trials, vectorised with numpy."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _iso(text: str | None) -> str | None:
    """Stored timestamps are naive UTC text ('2026-01-01 00:00:01.5'); hand out ISO with +00:00."""
    return None if text is None else text.replace(" ", "T") + "+00:00"


def history(rows: list[tuple], maximize: bool, max_points: int = 4000) -> dict[str, Any]:
    """`rows` from `Store.scored_series`: improvements over trials and over time, and the scatter
    as (bucket of trial numbers, state) → min/max value, at most `max_points` rows."""
    n = len(rows)
    if n == 0:
        return {"maximize": maximize, "best_by_number": [], "best_by_time": [],
                "scatter": {"bucket_width": 1, "points": []}}  # fmt: skip
    number = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
    value = np.fromiter((r[1] for r in rows), dtype=float, count=n)
    cached = np.fromiter((bool(r[2]) for r in rows), dtype=bool, count=n)
    finished = np.array([r[3] or "" for r in rows])
    signed = value if maximize else -value

    def improvements(order: np.ndarray) -> list[dict[str, Any]]:
        run = np.maximum.accumulate(signed[order])
        keep = order[np.concatenate([[True], run[1:] > run[:-1]])]
        return [
            {"number": int(number[i]), "value": float(value[i]),
             "state": "CACHED" if cached[i] else "COMPLETE", "finished_at": _iso(rows[i][3])}
            for i in keep
        ]  # fmt: skip

    by_time = np.lexsort((number, finished))
    width = max(1, math.ceil((int(number.max()) + 1) * 2 / max_points))
    return {
        "maximize": maximize,
        "best_by_number": improvements(np.arange(n)),
        "best_by_time": improvements(by_time),
        "scatter": {"bucket_width": width, "points": _buckets(number, value, cached, width)},
    }


def _buckets(number: np.ndarray, value: np.ndarray, cached: np.ndarray, width: int) -> list[dict]:
    """Per (bucket, state): first/last trial number, min, max and count."""
    out = []
    for flag, state in ((False, "COMPLETE"), (True, "CACHED")):
        sel = cached == flag
        if not sel.any():
            continue
        num, val = number[sel], value[sel]
        bucket = num // width
        starts = np.flatnonzero(np.concatenate([[True], bucket[1:] != bucket[:-1]]))
        ends = np.concatenate([starts[1:], [len(num)]])
        lo = np.minimum.reduceat(val, starts)
        hi = np.maximum.reduceat(val, starts)
        out += [
            {"lo_number": int(num[a]), "hi_number": int(num[b - 1]), "state": state,
             "min": float(mn), "max": float(mx), "count": int(b - a)}
            for a, b, mn, mx in zip(starts, ends, lo, hi, strict=True)
        ]  # fmt: skip
    return sorted(out, key=lambda p: (p["lo_number"], p["state"]))
