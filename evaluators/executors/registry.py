"""Executors by name: what experiment files and `Study.create(executor="...")` can ask for."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

from hashtune.evaluators.executors import Executor, InProcessExecutor, LocalProcessExecutor
from hashtune.registry import Registry


def require_ray() -> None:
    """ValueError with the install line when Ray (an optional dependency) is missing."""
    if importlib.util.find_spec("ray") is None:
        raise ValueError(
            "executor 'ray' needs Ray, which is not installed: pip install 'hashtune[ray]'"
        )


def _ray_executor(**kwargs: Any) -> Executor:
    require_ray()
    from hashtune.evaluators.executors.ray import RayExecutor  # imports ray only when asked for

    return RayExecutor(**kwargs)


EXECUTORS: Registry[Executor] = Registry(
    "executor",
    Executor,
    entries={"inprocess": InProcessExecutor, "process": LocalProcessExecutor, "ray": _ray_executor},
    paths=False,
)


def register_executor(name: str, factory: Callable[..., Executor]) -> None:
    """Make `make_executor(name, ...)` build executors with `factory` (e.g. a Ray executor)."""
    EXECUTORS.register(name, factory)


def executor_names() -> list[str]:
    """The names `make_executor` knows."""
    return EXECUTORS.names()


def make_executor(name: str = "inprocess", **kwargs: Any) -> Executor:
    """Build the executor registered as `name` ("inprocess", "process", "ray") with `kwargs`."""
    return EXECUTORS.build(name, **kwargs)
