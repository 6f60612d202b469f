"""Parameter views from a strided sample: slice columns, parallel coordinates, importance.

Importance is a random forest's impurity importance on the sample (sklearn), fit on ≤2000 trials so
it takes well under a second at any study size.
"""

from __future__ import annotations

import math
from typing import Any

MAX_PARAMS = 12


def _column(values: list[Any]) -> dict[str, Any]:
    """A parameter's column: numeric, or categorical with codes and labels."""
    nums = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float):
            break
        nums.append(float(v))
    else:
        return {"kind": "numeric", "values": nums}
    labels = sorted({_label(v) for v in values})
    index = {lab: i for i, lab in enumerate(labels)}
    return {
        "kind": "categorical",
        "values": [_label(v) for v in values],
        "codes": [index[_label(v)] for v in values],
        "labels": labels,
    }


def _label(v: Any) -> str:
    return "∅" if v is None else str(v)


def param_views(sample: list[dict[str, Any]], maximize: bool) -> dict[str, Any]:
    """Columns per parameter (first MAX_PARAMS by frequency), objective, numbers, importance."""
    rows = [r for r in sample if r["values"] and _finite(r["values"][0])]
    counts: dict[str, int] = {}
    for r in rows:
        for k in r["params"]:
            counts[k] = counts.get(k, 0) + 1
    names = sorted(counts, key=lambda k: (-counts[k], k))[:MAX_PARAMS]
    columns = {n: _column([r["params"].get(n) for r in rows]) for n in names}
    objective = [float(r["values"][0]) for r in rows]
    return {
        "numbers": [r["number"] for r in rows],
        "objective": objective,
        "params": columns,
        "importance": importance(columns, objective),
        "maximize": maximize,
    }


def _finite(v: Any) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def importance(columns: dict[str, dict[str, Any]], objective: list[float]) -> dict[str, float]:
    """Random-forest impurity importance of each parameter for the objective (sums to 1)."""
    if len(objective) < 8 or not columns:
        return {}
    import numpy as np
    from sklearn.ensemble import RandomForestRegressor

    names = list(columns)
    x = np.array(
        [
            columns[n]["values"] if columns[n]["kind"] == "numeric" else columns[n]["codes"]
            for n in names
        ],
        dtype=float,
    ).T
    x = np.nan_to_num(x)
    y = np.asarray(objective, dtype=float)
    if float(np.ptp(y)) == 0.0:
        return dict.fromkeys(names, 0.0)
    forest = RandomForestRegressor(n_estimators=48, max_depth=8, random_state=0, n_jobs=1)
    forest.fit(x, y)
    return {n: float(v) for n, v in zip(names, forest.feature_importances_, strict=True)}
