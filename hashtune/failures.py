"""Failed trials are loud: each is logged, and an evaluator that fails systematically stops
`optimize` with its exception, as Optuna does.

`catch` follows Optuna's `optimize(catch=...)`:
- `catch=None` (the default): a crash fails its trial and the study goes on, unless **the first
  `FIRST_TRIALS` evaluations of the optimize call** (in the order they finish) all raise an
  exception: then `optimize` stops and re-raises the last of them (a typo in the objective, a
  missing file). Any other outcome among them (a success, a cache hit, a pruned trial, a NaN, a
  timeout) disarms the rule for the rest of the call.
- `catch=(ValueError, ...)` given explicitly (`()` included): Optuna's rule, any exception not in
  `catch` stops `optimize` at once; those in `catch` fail their trial only.
- `catch=(BaseException,)`: never stop (what the CLI and experiment files use).

Exceptions raised in worker processes or Ray tasks come back pickled (with the worker's traceback
as a note); one that does not pickle is raised as `TrialFailedError` with its text.
Logging (logger ``hashtune.failures``): the first `FULL_LOGS` failures of a call at ERROR with the
traceback text, later ones one line each at INFO, a WARNING count at 10, 100, 1000 ... failures,
and a WARNING summary when the call ends.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from hashtune.evaluators.executors import Outcome
from hashtune.store import TrialRecord
from hashtune.vocabulary import TrialState

log = logging.getLogger(__name__)

#: Evaluations at the start of an optimize call whose failure (all of them) stops it by default.
FIRST_TRIALS = 3
#: Failures logged in full (with traceback) per optimize call.
FULL_LOGS = 3


class TrialFailedError(RuntimeError):
    """A trial's exception that could not be brought back from its worker: its text."""


def catch_classes(catch: Any) -> tuple[type[BaseException], ...] | None:
    """`catch` as a tuple of exception classes (None stays None); TypeError naming a bad one."""
    if catch is None:
        return None
    items = (catch,) if isinstance(catch, type) else tuple(catch)
    for c in items:
        if not (isinstance(c, type) and issubclass(c, BaseException)):
            raise TypeError(f"`catch` must hold exception classes, got {c!r}")
    return items


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else "(no message)"


class FailureWatch:
    """Counts, logs and judges the failed trials of one optimize call."""

    def __init__(self, study_name: str, catch: Iterable[type[BaseException]] | None):
        self.study_name = study_name
        self.catch = catch_classes(catch)
        self.armed = True  # still in the call's first trials, all of them raising so far
        self.streak = 0
        self.failures = 0
        self.trials = 0
        self.last_error: str | None = None
        self.last_number: int | None = None
        #: The exception `optimize` must stop with, once the trials in flight have finished.
        self.stop_with: BaseException | None = None

    def _caught(self, outcome: Outcome) -> bool:
        names = set(outcome.exception_types)
        return any(f"{c.__module__}.{c.__qualname__}" in names for c in self.catch or ())

    def trial_finished(self, record: TrialRecord, outcome: Outcome | None) -> None:
        """Log a failure; set `stop_with` when the `catch` rule says the call must stop."""
        self.trials += 1
        raised = outcome is not None and bool(outcome.exception_types)
        if record.state != TrialState.FAILED:
            self.armed = False
            return
        self.failures += 1
        self.last_error, self.last_number = record.error or "(no error text)", record.number
        self._log(record)
        if not raised or self._caught(outcome):
            self.armed = False
            return
        if self.catch is not None:
            self.stop_with = self.stop_with or self._exception(record, outcome)
            return
        self.streak += 1
        if self.armed and self.streak >= FIRST_TRIALS:
            log.error(
                "study %r: the first %d evaluations of this optimize call all raised; stopping "
                "(pass catch=(Exception,) to keep going)",
                self.study_name,
                FIRST_TRIALS,
            )
            self.stop_with = self.stop_with or self._exception(record, outcome)

    def _log(self, record: TrialRecord) -> None:
        n, name = self.failures, self.study_name
        if n <= FULL_LOGS:
            log.error("study %r: trial %d failed: %s", name, record.number, record.error)
            return
        log.info(
            "study %r: trial %d failed (%d failures in this call): %s",
            name,
            record.number,
            n,
            _first_line(record.error),
        )
        if n in (10, 100, 1000, 10000, 100000):
            log.warning(
                "study %r: %d trials failed in this optimize call (last: trial %d: %s)",
                name,
                n,
                record.number,
                _first_line(record.error),
            )

    def _exception(self, record: TrialRecord, outcome: Any) -> BaseException:
        exc = outcome.exception
        if exc is None:
            return TrialFailedError(f"trial {record.number} failed: {record.error}")
        if exc.__traceback__ is None:  # came back from a worker: keep its traceback as text
            exc.add_note(f"(raised in trial {record.number}, in a worker) {record.error}")
        return exc

    def summary(self) -> None:
        """Log how many trials of the call failed (WARNING; nothing when none did)."""
        if self.failures:
            log.warning(
                "study %r: %d of %d trials failed in this optimize call; last: trial %s: %s",
                self.study_name,
                self.failures,
                self.trials,
                self.last_number,
                _first_line(self.last_error),
            )
