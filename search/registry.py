"""Searcher names used by experiment files → searcher classes.

Modules register their classes with `@register_searcher("name")`; `make_searcher` imports the
built-in searcher modules lazily (Optuna's included) so every registration exists when a name is
looked up. Any ``"package.module:Class"`` reference also works.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from hashtune.search.base import Direction, Searcher
from hashtune.spaces.base import Space

S = TypeVar("S", bound=type[Searcher])

_SEARCHERS: dict[str, type[Searcher]] = {}

# Modules whose import registers the built-in searchers (the last one may not exist yet).
_BUILTIN_MODULES = (
    "hashtune.search.random_search",
    "hashtune.search.regularized_evolution",
    "hashtune.search.nsga2",
    "hashtune.search.hill_climb",
    "hashtune.search.optuna_searchers",
    "hashtune.search.optuna_objects",
)


def register_searcher(name: str) -> Callable[[S], S]:
    """Decorator: make a `Searcher` subclass available under `name` (stack it for aliases)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"`name` must be a non-empty string, got {name!r}")

    def deco(cls: S) -> S:
        if not (isinstance(cls, type) and issubclass(cls, Searcher)):
            raise ValueError(f"register_searcher({name!r}) needs a Searcher subclass, got {cls!r}")
        existing = _SEARCHERS.get(name)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise ValueError(f"searcher name {name!r} is already registered to {existing!r}")
        _SEARCHERS[name] = cls
        return cls

    return deco


def _load_builtins() -> None:
    for module in _BUILTIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:  # A missing dependency inside the module is a real error.
                raise


def searcher_names() -> list[str]:
    """All registered searcher names (aliases included), sorted."""
    _load_builtins()
    return sorted(_SEARCHERS)


def searcher_class(name: str) -> type[Searcher]:
    """The class registered as `name` (or named by ``"package.module:Class"``)."""
    _load_builtins()
    cls = _SEARCHERS.get(name)
    if cls is not None:
        return cls
    if isinstance(name, str) and ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as e:
            raise ValueError(f"cannot import searcher {name!r}: {e}") from e
        if isinstance(cls, type) and issubclass(cls, Searcher):
            return cls
        raise ValueError(f"searcher {name!r} is {cls!r}, not a Searcher subclass")
    known = ", ".join(sorted(_SEARCHERS))
    raise ValueError(f"unknown searcher {name!r}; known: {known} (or 'package.module:Class')")


def make_searcher(
    name: str,
    space: Space,
    directions: Sequence[Direction] = ("maximize",),
    seed: int = 0,
    **kwargs: Any,
) -> Searcher:
    """Build the searcher registered as `name` on `space`; errors name bad names and arguments."""
    cls = searcher_class(name)
    try:
        inspect.signature(cls).bind(space, directions=tuple(directions), seed=seed, **kwargs)
    except TypeError as e:
        raise ValueError(f"searcher {name!r} does not accept arguments {kwargs!r}: {e}") from e
    return cls(space, directions=tuple(directions), seed=seed, **kwargs)
