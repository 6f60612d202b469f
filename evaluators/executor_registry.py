"""Executors by name: what experiment files and `Study.create(executor="...")` can ask for."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

from hashtune.evaluators.executors import Executor, InProcessExecutor, LocalProcessExecutor


def require_ray() -> None:
    """ValueError with the install line when Ray (an optional dependency) is missing."""
    if importlib.util.find_spec("ray") is None:
        raise ValueError(
            "executor 'ray' needs Ray, which is not installed: pip install 'hashtune[ray]'"
        )


def _ray_executor(**kwargs: Any) -> Executor:
    require_ray()
    from hashtune.evaluators.ray_executor import RayExecutor  # imports ray only when asked for

    return RayExecutor(**kwargs)


_FACTORIES: dict[str, Callable[..., Executor]] = {
    "inprocess": InProcessExecutor,
    "process": LocalProcessExecutor,
    "ray": _ray_executor,
}


def register_executor(name: str, factory: Callable[..., Executor]) -> None:
    """Make `make_executor(name, ...)` build executors with `factory` (e.g. a Ray executor)."""
    _FACTORIES[name] = factory


def executor_names() -> list[str]:
    """The names `make_executor` knows."""
    return sorted(_FACTORIES)


def make_executor(name: str = "inprocess", **kwargs: Any) -> Executor:
    """Build the executor registered as `name` ("inprocess", "process", "ray") with `kwargs`."""
    if name not in _FACTORIES:
        raise ValueError(f"`executor` must be one of {sorted(_FACTORIES)}, got {name!r}")
    return _FACTORIES[name](**kwargs)
