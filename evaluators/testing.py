"""Toy evaluators for tests and docs: deterministic, dependency-free, importable by spawned workers.

Each exercises one path of the executors: a quadratic score with intermediates (and optional
self-pruning), sleeping (timeouts), raising, returning NaN, killing its own process, and
raising KeyboardInterrupt.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from typing import Any

from hashtune.evaluators.base import EvaluationResult, Evaluator, TrialContext, TrialPruned


def _x_of(candidate: Any) -> float:
    """The number a toy candidate stands for: a number, a mapping with 'x', or an object's `.x`."""
    if isinstance(candidate, Mapping):
        return float(candidate["x"])
    if hasattr(candidate, "x"):
        return float(candidate.x)
    return float(candidate)


class QuadraticEvaluator(Evaluator):
    """Score -(x - target)^2, reported over `steps` steps approaching the final score.

    With `prune_at_step`, the evaluator raises TrialPruned itself after reporting that step
    (pruning that works in every executor, live pruning or not).
    """

    name = "quadratic"
    objectives = ("score",)

    def __init__(self, target: float = 0.0, steps: int = 5, prune_at_step: int | None = None):
        if steps < 1:
            raise ValueError(f"`steps` must be >= 1, got {steps!r}")
        self.target = float(target)
        self.steps = steps
        self.prune_at_step = prune_at_step

    def config(self) -> dict[str, Any]:
        return {"target": self.target, "steps": self.steps}

    def evaluate(self, candidate: Any, context: TrialContext) -> EvaluationResult:
        score = -((_x_of(candidate) - self.target) ** 2)
        for step in range(self.steps):
            context.report(step, score * (1.0 + (self.steps - 1 - step)))
            if self.prune_at_step is not None and step >= self.prune_at_step:
                raise TrialPruned(f"self-pruned at step {step}")
        return EvaluationResult(values=(score,), metadata={"x": _x_of(candidate)})


class SleepEvaluator(Evaluator):
    """Sleeps `seconds` (None: forever, in short naps) then returns `value`; for timeout tests."""

    name = "sleep"
    objectives = ("score",)

    def __init__(
        self, seconds: float | None = None, value: float = 1.0, report_every: float = 0.05
    ):
        self.seconds = seconds
        self.value = float(value)
        self.report_every = report_every

    def config(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "value": self.value}

    def evaluate(self, candidate: Any, context: TrialContext) -> float:
        start = time.monotonic()
        step = 0
        while self.seconds is None or time.monotonic() - start < self.seconds:
            time.sleep(self.report_every)
            context.report(step, self.value)
            step += 1
        return self.value


class RaiseEvaluator(Evaluator):
    """Reports one value, then raises RuntimeError(`message`)."""

    name = "raise"
    objectives = ("score",)

    def __init__(self, message: str = "candidate exploded"):
        self.message = message

    def evaluate(self, candidate: Any, context: TrialContext) -> float:
        context.report(0, 0.5)
        raise RuntimeError(self.message)


class NaNEvaluator(Evaluator):
    """Returns a non-finite value (NaN by default)."""

    name = "nan"
    objectives = ("score",)

    def __init__(self, value: float = math.nan):
        self.value = float(value)

    def evaluate(self, candidate: Any, context: TrialContext) -> float:
        return self.value


class ExitEvaluator(Evaluator):
    """Kills its own process (`os._exit(code)`, or signal `signum`): for process pools only!"""

    name = "exit"
    objectives = ("score",)

    def __init__(self, code: int = 3, signum: int | None = None):
        self.code = code
        self.signum = signum

    def evaluate(self, candidate: Any, context: TrialContext) -> float:
        if self.signum is not None:
            os.kill(os.getpid(), self.signum)
            time.sleep(10)  # the signal is delivered asynchronously
        os._exit(self.code)


class InterruptEvaluator(Evaluator):
    """Raises KeyboardInterrupt in trial number `on_trial` (after one report); others score 1.0."""

    name = "interrupt"
    objectives = ("score",)

    def __init__(self, on_trial: int = 2):
        self.on_trial = on_trial

    def evaluate(self, candidate: Any, context: TrialContext) -> float:
        context.report(0, 0.5)
        if context.number == self.on_trial:
            raise KeyboardInterrupt
        return 1.0
