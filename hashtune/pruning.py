"""The pruner monitor: a study's pruner and what it has seen (finished curves, and every trial's
end for pruners that mirror trials, as Optuna's do). The executor asks `callback(number)` at each
step a trial reports; the optimize loop and `tell` report each finished trial to `finished`."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from hashtune.search.pruners import Pruner
from hashtune.store import TrialRecord
from hashtune.vocabulary import TrialState

ShouldPrune = Callable[[int, float, list[tuple[int, float]]], bool]


class PrunerMonitor:
    """Feeds `pruner` the study's finished trials and answers the executor's pruning questions."""

    def __init__(self, pruner: Pruner | None):
        self.pruner = pruner
        #: The intermediate curves of the study's COMPLETE trials, in finishing order.
        self.curves: list[tuple[tuple[int, float], ...]] = []

    def restore(self, trials: Iterable[TrialRecord]) -> None:
        """Learn the trials already finished in the store (a resumed study)."""
        for t in trials:
            if t.state not in (TrialState.RUNNING, TrialState.PENDING):
                self.finished(t)

    def callback(self, number: int) -> ShouldPrune | None:
        """What the executor asks at each step of trial `number` (None: no pruner)."""
        pruner, curves = self.pruner, self.curves
        if pruner is None:
            return None
        return lambda step, value, own: pruner.prune_trial(number, step, value, own, curves)

    def finished(self, record: TrialRecord) -> None:
        """Bookkeeping after each finished trial."""
        if record.state == TrialState.COMPLETE and record.intermediate:
            self.curves.append(record.intermediate)
        if self.pruner is not None:  # pruners know an interrupted trial as a failed one
            state = record.state
            if state == TrialState.INTERRUPTED:
                state = TrialState.FAILED
            self.pruner.trial_finished(record.number, state, record.values, record.intermediate)
