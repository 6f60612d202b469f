"""Early-stopping decisions on intermediate values, Ray-Tune style, independent of samplers.

A pruner sees the running trial's value at `step` and the intermediate curves of the study's other
finished trials, and says whether to stop it. Curves are sequences of ``(step, value)``.
"""

from __future__ import annotations

import abc
import math
import statistics
from collections.abc import Sequence
from typing import Any

from hashtune.registry import Registry
from hashtune.vocabulary import Direction

Curve = Sequence[tuple[int, float]]


def _check_direction(direction: str) -> str:
    if direction not in tuple(Direction):
        raise ValueError(f"`direction` must be 'maximize' or 'minimize', got {direction!r}")
    return str(direction)


def value_at(curve: Curve, step: int) -> float | None:
    """The value a curve recorded at exactly `step` (the last one if recorded twice), else None."""
    found = None
    for s, v in curve:
        if int(s) == step:
            found = float(v)
    return found


class Pruner(abc.ABC):
    """Decides whether a running trial should stop, from its value at `step` and others' curves."""

    def __init__(self, direction: str = "maximize"):
        self.direction = _check_direction(direction)

    def better(self, a: float, b: float) -> bool:
        """True when `a` is strictly better than `b` in this pruner's direction."""
        return Direction(self.direction).better(a, b)

    @abc.abstractmethod
    def should_prune(self, step: int, value: float, completed: Sequence[Curve]) -> bool:
        """True to stop the trial that reports `value` at `step`."""

    def prune_trial(
        self, number: int, step: int, value: float, own: Curve, completed: Sequence[Curve]
    ) -> bool:
        """`should_prune` for trial `number` whose curve so far is `own` (pruners that keep
        per-trial state, like Optuna's, override this)."""
        return self.should_prune(step, value, completed)

    def trial_finished(  # noqa: B027 - optional hook
        self, number: int, state: str, values: Sequence[float] | None, curve: Curve
    ) -> None:
        """Learn how trial `number` ended (any state, cached ones included)."""


class NopPruner(Pruner):
    """Never prunes."""

    def should_prune(self, step: int, value: float, completed: Sequence[Curve]) -> bool:
        return False


class MedianPruner(Pruner):
    """Prune when the value is worse than the median of other trials' values at the same step.

    Nothing is pruned before `n_startup_trials` finished curves report this step, nor before step
    `n_warmup_steps`. A NaN value is always pruned (once past warm-up).
    """

    def __init__(
        self, direction: str = "maximize", n_startup_trials: int = 5, n_warmup_steps: int = 0
    ):
        super().__init__(direction)
        if n_startup_trials < 0:
            raise ValueError(f"`n_startup_trials` must be >= 0, got {n_startup_trials!r}")
        if n_warmup_steps < 0:
            raise ValueError(f"`n_warmup_steps` must be >= 0, got {n_warmup_steps!r}")
        self.n_startup_trials = n_startup_trials
        self.n_warmup_steps = n_warmup_steps

    def should_prune(self, step: int, value: float, completed: Sequence[Curve]) -> bool:
        if step < self.n_warmup_steps:
            return False
        others = [
            v for c in completed if (v := value_at(c, step)) is not None and not math.isnan(v)
        ]
        if len(others) < max(self.n_startup_trials, 1):
            return False
        if math.isnan(value):
            return True
        return self.better(statistics.median(others), value)


class SuccessiveHalvingPruner(Pruner):
    """Asynchronous successive halving (ASHA): rungs at steps ``min_resource * rf**k``.

    At a rung step a trial continues only if its value ranks in the top ``1/reduction_factor`` of
    the values recorded at that rung (by the other trials and itself); between rungs nothing is
    pruned. With fewer than `reduction_factor` values at a rung the top slot is kept for the best
    (so the first trials always continue, as in ASHA).
    """

    def __init__(
        self, direction: str = "maximize", min_resource: int = 1, reduction_factor: int = 3
    ):
        super().__init__(direction)
        if min_resource < 1:
            raise ValueError(f"`min_resource` must be >= 1, got {min_resource!r}")
        if reduction_factor < 2:
            raise ValueError(f"`reduction_factor` must be >= 2, got {reduction_factor!r}")
        self.min_resource = min_resource
        self.reduction_factor = reduction_factor

    def rung_of(self, step: int) -> int | None:
        """The rung index `k` if `step` is a rung step ``min_resource * rf**k``, else None."""
        if step < self.min_resource:
            return None
        k, r = 0, self.min_resource
        while r < step:
            r *= self.reduction_factor
            k += 1
        return k if r == step else None

    def should_prune(self, step: int, value: float, completed: Sequence[Curve]) -> bool:
        if self.rung_of(step) is None:
            return False
        if math.isnan(value):
            return True
        others = [
            v for c in completed if (v := value_at(c, step)) is not None and not math.isnan(v)
        ]
        values = [*others, value]
        n_keep = max(1, len(values) // self.reduction_factor)
        ranked = sorted(values, reverse=self.direction == Direction.MAXIMIZE)
        cutoff = ranked[n_keep - 1]
        return self.better(cutoff, value)


PRUNERS: Registry[Pruner] = Registry(
    "pruner",
    Pruner,
    entries={"none": NopPruner, "median": MedianPruner, "asha": SuccessiveHalvingPruner},
    paths=False,
)


def make_pruner(name: str, direction: str = "maximize", **kwargs: Any) -> Pruner:
    """Build the pruner called `name` ("none", "median", "asha") for `direction`."""
    return PRUNERS.build(name, direction, **kwargs)


def pruner_names() -> list[str]:
    """The names `make_pruner` knows."""
    return PRUNERS.names()
