"""Evaluators by name: what experiment files and `Study.create(evaluator="...")` can ask for.

Built-ins are registered by path and imported only when used (training evaluators pull in JAX);
users add their own with `register_evaluator`, or name any factory as ``"package.module:attr"``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hashtune.evaluators.base import Evaluator
from hashtune.registry import Registry, import_object

EVALUATORS: Registry[Evaluator] = Registry(
    "evaluator",
    Evaluator,
    entries={
        "mlp_digits": "hashtune.evaluators.mlp_digits:MLPDigitsEvaluator",
        "nas_bench_201_train": "hashtune.evaluators.nas_bench_201:NasBench201TrainEvaluator",
        "nas_bench_201_tabular": "hashtune.evaluators.nas_bench_201:NasBench201TabularEvaluator",
        "optimizer_proxy": "hashtune.evaluators.optimizer_proxy:OptimizerProxyEvaluator",
        "optimizer_suite": "hashtune.evaluators.optimizer_suite:OptimizerSuiteEvaluator",
        "function": "hashtune.evaluators.base:FunctionEvaluator",
    },
)


def register_evaluator(name: str) -> Callable[[Callable[..., Evaluator]], Callable[..., Evaluator]]:
    """Decorator: make an evaluator class/factory available to experiment files under `name`."""
    return EVALUATORS.register(name)


def make_evaluator(name: str, **args: Any) -> Evaluator:
    """Build the evaluator registered as `name` with `args` (`function` takes `fn: 'mod:attr'`)."""
    if name == "function" and isinstance(args.get("fn"), str):
        args = {**args, "fn": import_object(args["fn"])}
    return EVALUATORS.build(name, **args)


def evaluator_names() -> list[str]:
    """Registered evaluator names."""
    return EVALUATORS.names()
