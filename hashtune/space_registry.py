"""Spaces by name: what experiment files and `Study.create(space="...")` can ask for.

Declared in `hashtune/` (the wiring) because `spaces/` imports nothing of the others; built-ins are
registered by path and imported only when used. Users add their own with `register_space`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hashtune.registry import Registry
from hashtune.spaces.base import Space

SPACES: Registry[Space] = Registry(
    "space",
    Space,
    entries={
        "mlp_digits": "hashtune.spaces.mlp:mlp_space",
        "nas_bench_201": "hashtune.spaces.nas_bench_201:nas_bench_201_space",
        "optimizer_programs": "hashtune.spaces.optimizers:optimizer_program_space",
        "optuna_distributions": "hashtune.optuna_import:imported_space",  # imported Optuna studies
    },
)


def register_space(name: str) -> Callable[[Callable[..., Space]], Callable[..., Space]]:
    """Decorator: make a space factory available to experiment files under `name`."""
    return SPACES.register(name)


def make_space(name: str, **args: Any) -> Space:
    """Build the space registered as `name` (or a 'package.module:factory') with `args`."""
    return SPACES.build(name, **args)


def space_names() -> list[str]:
    """Registered space names."""
    return SPACES.names()
