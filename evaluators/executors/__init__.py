"""Executors run evaluations somewhere (this process, worker processes, Ray) and return futures of
picklable `Outcome`s; they know nothing of searchers or the store. Every executor funnels through
`run_evaluation`, which never raises. Ray lives in `hashtune.evaluators.executors.ray` (imported
only when used)."""

from hashtune.evaluators.executors.base import Executor, check_timeout
from hashtune.evaluators.executors.inprocess import InProcessExecutor
from hashtune.evaluators.executors.outcome import (
    Outcome,
    OutcomeState,
    error_text,
    exception_types,
    interrupted_outcome,
    run_evaluation,
)
from hashtune.evaluators.executors.process_pool import (
    LocalProcessExecutor,
    relay,
    run_in_worker,
    with_curve,
)
from hashtune.evaluators.executors.pruning_channel import ShouldPrune
from hashtune.evaluators.interrupts import TRIAL_THREAD, EvaluatorInterrupt

__all__ = [
    "TRIAL_THREAD",
    "EvaluatorInterrupt",
    "Executor",
    "InProcessExecutor",
    "LocalProcessExecutor",
    "Outcome",
    "OutcomeState",
    "ShouldPrune",
    "check_timeout",
    "error_text",
    "exception_types",
    "interrupted_outcome",
    "relay",
    "run_evaluation",
    "run_in_worker",
    "with_curve",
]
