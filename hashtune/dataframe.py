"""A study's trials as a pandas DataFrame, read as columns in SQL (no per-trial records)."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from hashtune.store import Store


def trials_dataframe(store: Store, study_id: int, objectives: Sequence[str]) -> pd.DataFrame:
    """The study's trials as a DataFrame with the columns of `trial_rows`, read as columns in
    SQL (no per-trial records); int columns stay int (nullable `Int64` where some are missing)."""

    with paused_gc():  # 100k rows make millions of objects: no cyclic GC passes over them
        return _frame(store.queries.frame_columns(study_id, len(objectives)), objectives)


@contextmanager
def paused_gc() -> Iterator[None]:
    """Cyclic garbage collection off for the block (when it was on)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _frame(cols: dict[str, list], objectives: Sequence[str]) -> pd.DataFrame:
    import pandas as pd

    n = len(cols["number"])
    data: dict[str, Any] = {
        "number": pd.array(cols["number"], dtype="int64"),
        "state": cols["state"],
    }
    for name, column in zip(objectives, cols["objectives"], strict=True):
        data[name] = pd.array(column, dtype="float64")
    keys = sorted({k for p in cols["params"] if p for k in p})
    for k in keys:
        data[f"params_{k}"] = typed_column([p.get(k) if p else None for p in cols["params"]])
    data["functional_hash"] = cols["functional_hash"]
    data["cached_from"] = typed_column(cols["cached_from"])
    data["parents"] = cols["parents"]
    data["mutation"] = cols["mutation"]
    data["duration_s"] = pd.array(cols["duration_s"], dtype="float64")
    data["started_at"] = cols["started_at"]
    data["worker"] = cols["worker"]
    data["error"] = [e.splitlines()[0] if e else None for e in cols["error"]]
    return pd.DataFrame(data, index=pd.RangeIndex(n))


def typed_column(values: list[Any]):
    """A column of `values`: int64 (nullable Int64 with gaps) for ints, float64 for numbers,
    bool for bools, objects otherwise."""
    import pandas as pd

    present = [v for v in values if v is not None]
    kinds = {type(v) for v in present}
    if present and kinds == {int}:
        return pd.array(values, dtype="int64" if len(present) == len(values) else "Int64")
    if present and kinds <= {int, float}:
        return pd.array([float("nan") if v is None else float(v) for v in values], "float64")
    if present and kinds == {bool} and len(present) == len(values):
        return pd.array(values, dtype="bool")
    return values
