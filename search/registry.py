"""Searcher names used by experiment files → searcher classes.

Modules register their classes with `@register_searcher("name")`; the registry imports the
built-in searcher modules (Optuna's included) before its first lookup, so every registration
exists when a name is looked up. Any ``"package.module:Class"`` reference also works.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from hashtune.registry import Registry
from hashtune.search.base import Direction, Searcher
from hashtune.spaces.base import Space

S = TypeVar("S", bound=type[Searcher])

SEARCHERS: Registry[Searcher] = Registry(
    "searcher",
    Searcher,
    classes=True,
    path_hint="'package.module:Class'",
    # Modules whose import registers the built-in searchers (the last one may not exist yet).
    modules=(
        "hashtune.search.random_search",
        "hashtune.search.regularized_evolution",
        "hashtune.search.nsga2",
        "hashtune.search.hill_climb",
        "hashtune.search.optuna_searchers",
        "hashtune.search.optuna_objects",
    ),
)


def register_searcher(name: str) -> Callable[[S], S]:
    """Decorator: make a `Searcher` subclass available under `name` (stack it for aliases)."""
    return SEARCHERS.register(name)


def searcher_names() -> list[str]:
    """All registered searcher names (aliases included), sorted."""
    return SEARCHERS.names()


def searcher_class(name: str) -> type[Searcher]:
    """The class registered as `name` (or named by ``"package.module:Class"``)."""
    return SEARCHERS.get(name)  # type: ignore[return-value]


def make_searcher(
    name: str,
    space: Space,
    directions: Sequence[Direction] = ("maximize",),
    seed: int = 0,
    **kwargs: Any,
) -> Searcher:
    """Build the searcher registered as `name` on `space`; errors name bad names and arguments."""
    return SEARCHERS.build(name, space, directions=tuple(directions), seed=seed, **kwargs)
