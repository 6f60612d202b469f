"""Evaluations in this process, on a trial thread that a timeout abandons."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from typing import Any

from hashtune.evaluators.base import (
    Evaluator,
    TrialContext,
)
from hashtune.evaluators.executors.base import Executor, check_timeout

#: What an evaluation ends as (the loop adds CACHED and INTERRUPTED).
from hashtune.evaluators.executors.outcome import (
    Outcome,
    interrupted_outcome,
    run_evaluation,
)
from hashtune.evaluators.executors.pruning_channel import ShouldPrune
from hashtune.evaluators.interrupts import TRIAL_THREAD, EvaluatorInterrupt
from hashtune.vocabulary import TrialState


def _done(outcome: Outcome) -> concurrent.futures.Future[Outcome]:
    fut: concurrent.futures.Future[Outcome] = concurrent.futures.Future()
    fut.set_result(outcome)
    return fut


class _Abandoned(Exception):
    """Raised at the next `report` of an evaluation whose caller stopped waiting for it."""


class _AbandonableContext(TrialContext):
    """A TrialContext that stops a timed-out evaluation at its next report (cooperative cancel)."""

    def __init__(self, number: int, should_prune: ShouldPrune | None):
        super().__init__(number, should_prune)
        self.abandoned = threading.Event()

    def report(self, step: int, value: float) -> None:
        if self.abandoned.is_set():
            raise _Abandoned(f"abandoned at step {step} after timeout")
        super().report(step, value)


class InProcessExecutor(Executor):
    """Runs each evaluation in the calling process, one at a time; supports live pruning.

    `submit` blocks until the evaluation ends and returns a completed future. With `timeout_s`, the
    evaluation runs in a daemon thread and is given up after `timeout_s` (FAILED "timed out after
    Xs"). Python cannot kill a thread: the abandoned thread keeps running until it returns or
    reaches its next `context.report` (which then raises). Use `LocalProcessExecutor` for hard
    timeouts and for candidates that may crash the interpreter.
    """

    max_workers = 1

    def submit(
        self,
        evaluator: Evaluator,
        candidate: Any,
        number: int,
        timeout_s: float | None = None,
        should_prune: ShouldPrune | None = None,
    ) -> concurrent.futures.Future[Outcome]:
        check_timeout(timeout_s)
        if timeout_s is None:
            try:
                return _done(run_evaluation(evaluator, candidate, number, should_prune))
            except EvaluatorInterrupt:
                raise
            except KeyboardInterrupt as e:  # on the main thread: Ctrl-C or the evaluator's own
                raise EvaluatorInterrupt(number, by_evaluator=False) from e
        ctx = _AbandonableContext(number, should_prune)
        box: list[Outcome] = []
        t0 = time.perf_counter()

        def evaluate() -> None:
            try:
                box.append(run_evaluation(evaluator, candidate, number, context=ctx))
            except KeyboardInterrupt:  # not Ctrl-C (signals reach the main thread): user code
                box.append(interrupted_outcome(number, ctx, time.perf_counter() - t0))

        thread = threading.Thread(target=evaluate, name=f"{TRIAL_THREAD}{number}", daemon=True)
        thread.start()
        deadline = t0 + timeout_s
        while thread.is_alive() and time.perf_counter() < deadline:
            # Short joins: a Ctrl-C the kernel hands to the evaluation thread only sets Python's
            # flag, and a long join would sit on it for the whole timeout.
            thread.join(min(0.1, max(deadline - time.perf_counter(), 0.0)))
        if thread.is_alive() or not box:
            ctx.abandoned.set()
            return _done(
                Outcome(
                    TrialState.FAILED,
                    error=f"timed out after {timeout_s:g}s",
                    intermediate=list(ctx.intermediate),
                    seconds=time.perf_counter() - t0,
                )
            )
        return _done(box[0])
