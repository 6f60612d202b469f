"""`hashtune.create_study` / `hashtune.load_study`: Optuna's entry points, spelled as Optuna does
(`sampler=` is hashtune's `searcher=`; anything else passes to `Study.create` / `Study.load`)."""

from __future__ import annotations

import uuid
from typing import Any

from hashtune.store import Store
from hashtune.study import DEFAULT_STORAGE, Study


def create_study(
    study_name: str | None = None,
    *,
    storage: str | Store = DEFAULT_STORAGE,
    sampler: Any = None,
    pruner: Any = None,
    direction: str | None = None,
    directions: Any = None,
    load_if_exists: bool = False,
    **kwargs: Any,
) -> Study:
    """`Study.create` with Optuna's argument names; `space=` and `evaluator=` are required."""
    if sampler is not None and "searcher" in kwargs:
        raise TypeError("give `sampler` or `searcher`, not both")
    if sampler is not None:
        kwargs["searcher"] = sampler
    return Study.create(
        study_name or f"no-name-{uuid.uuid4()}",
        storage=storage,
        pruner=pruner,
        direction=direction,
        directions=directions,
        load_if_exists=load_if_exists,
        **kwargs,
    )


def load_study(
    study_name: str,
    *,
    storage: str | Store = DEFAULT_STORAGE,
    sampler: Any = None,
    pruner: Any = None,
    **kwargs: Any,
) -> Study:
    """`Study.load` with Optuna's argument names."""
    if sampler is not None:
        kwargs["searcher"] = sampler
    return Study.load(study_name, storage=storage, pruner=pruner, **kwargs)
