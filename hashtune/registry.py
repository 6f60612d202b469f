"""Names that experiment files use for spaces, searchers, evaluators and executors.

Built-ins are registered by dotted path and imported only when used; users add their own with
`register_space` / `register_evaluator`, or name any factory directly as ``"package.module:attr"``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from hashtune.evaluators.base import Evaluator
from hashtune.spaces.base import Space

_SPACES: dict[str, str | Callable[..., Space]] = {
    "mlp_digits": "hashtune.spaces.mlp:mlp_space",
    "nas_bench_201": "hashtune.spaces.nas_bench_201:nas_bench_201_space",
    "optimizer_programs": "hashtune.spaces.optimizers:optimizer_program_space",
    "optuna_distributions": "hashtune.optuna_import:imported_space",  # imported Optuna studies
}
_EVALUATORS: dict[str, str | Callable[..., Evaluator]] = {
    "mlp_digits": "hashtune.evaluators.mlp_digits:MLPDigitsEvaluator",
    "nas_bench_201_train": "hashtune.evaluators.nas_bench_201:NasBench201TrainEvaluator",
    "nas_bench_201_tabular": "hashtune.evaluators.nas_bench_201:NasBench201TabularEvaluator",
    "optimizer_proxy": "hashtune.evaluators.optimizer_proxy:OptimizerProxyEvaluator",
    "optimizer_suite": "hashtune.evaluators.optimizer_suite:OptimizerSuiteEvaluator",
    "function": "hashtune.evaluators.base:FunctionEvaluator",
}


def register_space(name: str) -> Callable[[Callable[..., Space]], Callable[..., Space]]:
    """Decorator: make a space factory available to experiment files under `name`."""

    def deco(factory: Callable[..., Space]) -> Callable[..., Space]:
        _SPACES[name] = factory
        return factory

    return deco


def register_evaluator(name: str) -> Callable[[Callable[..., Evaluator]], Callable[..., Evaluator]]:
    """Decorator: make an evaluator class/factory available to experiment files under `name`."""

    def deco(factory: Callable[..., Evaluator]) -> Callable[..., Evaluator]:
        _EVALUATORS[name] = factory
        return factory

    return deco


def import_object(ref: str) -> Any:
    """Import ``"package.module:attr"`` (or ``package.module.attr``); errors name the reference."""
    module_name, _, attr = ref.partition(":") if ":" in ref else ref.rpartition(".")
    if not module_name or not attr:
        raise ValueError(f"{ref!r} is not an importable reference like 'package.module:name'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"cannot import module {module_name!r} of {ref!r}: {e}") from e
    try:
        return getattr(module, attr)
    except AttributeError as e:
        raise ValueError(f"module {module_name!r} has no attribute {attr!r}") from e


def _resolve(kind: str, table: dict[str, Any], name: str) -> Callable[..., Any]:
    entry = table.get(name)
    if entry is None:
        if ":" in name:
            return import_object(name)
        known = ", ".join(sorted(table))
        raise ValueError(f"unknown {kind} {name!r}; known: {known} (or 'package.module:factory')")
    return import_object(entry) if isinstance(entry, str) else entry


def make_space(name: str, **args: Any) -> Space:
    """Build the space registered as `name` with `args`."""
    space = _resolve("space", _SPACES, name)(**args)
    if not isinstance(space, Space):
        raise ValueError(f"space factory {name!r} returned {type(space).__name__}, not a Space")
    return space


def make_evaluator(name: str, **args: Any) -> Evaluator:
    """Build the evaluator registered as `name` with `args` (`function` takes `fn: 'mod:attr'`)."""
    if name == "function" and isinstance(args.get("fn"), str):
        args = {**args, "fn": import_object(args["fn"])}
    evaluator = _resolve("evaluator", _EVALUATORS, name)(**args)
    if not isinstance(evaluator, Evaluator):
        raise ValueError(f"evaluator {name!r} built {type(evaluator).__name__}, not an Evaluator")
    return evaluator


def space_names() -> list[str]:
    """Registered space names."""
    return sorted(_SPACES)


def evaluator_names() -> list[str]:
    """Registered evaluator names."""
    return sorted(_EVALUATORS)
