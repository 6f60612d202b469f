"""The executor interface: run evaluations somewhere and return futures of picklable `Outcome`s.

Executors know nothing of searchers or the store."""

from __future__ import annotations

import abc
import concurrent.futures
from typing import Any

from hashtune.evaluators.base import (
    Evaluator,
)

#: What an evaluation ends as (the loop adds CACHED and INTERRUPTED).
from hashtune.evaluators.executors.outcome import (
    Outcome,
)
from hashtune.evaluators.executors.pruning_channel import ShouldPrune


class Executor(abc.ABC):
    """Runs evaluations and hands back futures of `Outcome` (futures never hold exceptions)."""

    #: How many evaluations may run at once.
    max_workers: int = 1

    @abc.abstractmethod
    def submit(
        self,
        evaluator: Evaluator,
        candidate: Any,
        number: int,
        timeout_s: float | None = None,
        should_prune: ShouldPrune | None = None,
    ) -> concurrent.futures.Future[Outcome]:
        """Start evaluating `candidate` as trial `number`; the future resolves to its Outcome."""

    def shutdown(self, wait: bool = True) -> None:  # noqa: B027 - optional hook
        """Release workers; `wait=False` kills running evaluations."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def check_timeout(timeout_s: float | None) -> None:
    if timeout_s is not None and not (isinstance(timeout_s, (int, float)) and timeout_s > 0):
        raise ValueError(f"`timeout_s` must be a positive number or None, got {timeout_s!r}")
