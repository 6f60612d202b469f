"""Non-dominated points for the Pareto view, vectorised: O(n log n) for 2 objectives, and
O(n · front size) for more (the point of least sum is on the front; drop what it dominates)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hashtune.vocabulary import signs


def front_indices(points: np.ndarray, directions: Sequence[str]) -> list[int]:
    """Indices (ascending) of the non-dominated rows of `points` (n × k); NaN rows never."""
    if len(points) == 0:
        return []
    sign = -np.array(signs(directions))
    pts = np.asarray(points, dtype=float) * sign  # every objective minimised from here on
    ok = np.flatnonzero(~np.isnan(pts).any(axis=1))
    pts = pts[ok]
    if pts.shape[1] == 2:
        return sorted(int(ok[i]) for i in _front_2d(pts))
    return sorted(int(ok[i]) for i in _front_nd(pts))


def _front_2d(pts: np.ndarray) -> np.ndarray:
    order = np.lexsort((pts[:, 1], pts[:, 0]))
    x, y = pts[order, 0], pts[order, 1]
    best_before = np.concatenate([[np.inf], np.minimum.accumulate(y)[:-1]])
    # on the front: strictly better y than every earlier point, or a copy of the previous front point
    same_as_prev = np.concatenate([[False], (x[1:] == x[:-1]) & (y[1:] == y[:-1])])
    keep = y < best_before
    for i in np.flatnonzero(same_as_prev):  # duplicates of a front point are on the front too
        keep[i] = keep[i - 1]
    return order[keep]


def _front_nd(pts: np.ndarray) -> list[int]:
    alive = np.ones(len(pts), dtype=bool)
    total = pts.sum(axis=1)
    front = []
    while alive.any():
        idx = np.flatnonzero(alive)
        i = idx[np.argmin(total[idx])]
        front.append(int(i))
        p = pts[i]
        dominated = np.all(pts[idx] >= p, axis=1) & np.any(pts[idx] > p, axis=1)
        alive[idx[dominated]] = False
        alive[i] = False
    return front
