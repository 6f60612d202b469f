"""Executors run evaluations somewhere (this process, worker processes, later Ray) and return
futures of picklable `Outcome`s. They know nothing of searchers or the store.

Every executor funnels through `run_evaluation`, which never raises: exceptions, non-finite results
and pruning all become an `Outcome` with a state and an error text.
"""

from __future__ import annotations

import abc
import concurrent.futures
import multiprocessing
import os
import pickle
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hashtune.evaluators.base import (
    EvaluationResult,
    Evaluator,
    StagedArtifact,
    TrialContext,
    TrialPruned,
)
from hashtune.evaluators.interrupts import TRIAL_THREAD, EvaluatorInterrupt
from hashtune.evaluators.lifetime import WATCH_INTERVAL_S, die_with_parent
from hashtune.evaluators.pruning_channel import QueueDesk, ShouldPrune
from hashtune.vocabulary import TrialState

#: What an evaluation ends as (the loop adds CACHED and INTERRUPTED).
OutcomeState = TrialState


@dataclass
class Outcome:
    """What became of one evaluation; picklable so it can cross process/cluster boundaries."""

    state: OutcomeState
    result: EvaluationResult | None = None
    error: str | None = None
    intermediate: list[tuple[int, float]] = field(default_factory=list)
    seconds: float = 0.0
    #: The evaluator raised KeyboardInterrupt: the run stops as on Ctrl-C (see EvaluatorInterrupt).
    interrupted: bool = False
    #: Files the evaluation saved (`TrialContext.save_artifact`), staged where it ran.
    artifacts: list[StagedArtifact] = field(default_factory=list)
    #: Attributes the evaluator set with `context.set_user_attr` (kept whatever the state).
    user_attrs: dict[str, Any] = field(default_factory=dict)
    #: The exception the evaluator raised (dropped on the way back from a worker when it does
    #: not pickle) and its class's MRO as ``module.Qualname`` (always kept), for `catch=`.
    exception: BaseException | None = None
    exception_types: tuple[str, ...] = ()

    @property
    def values(self) -> tuple[float, ...] | None:
        """The objective values of a COMPLETE outcome, else None."""
        return self.result.values if self.state == TrialState.COMPLETE and self.result else None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        exc = state.get("exception")
        if exc is not None:
            try:
                pickle.loads(pickle.dumps(exc))
            except Exception:  # noqa: BLE001 - an exception that cannot cross processes
                state["exception"] = None
            else:
                state["exception"] = exc.with_traceback(None)
        return state


def _interrupted(number: int, ctx: TrialContext, seconds: float) -> Outcome:
    error = f"KeyboardInterrupt raised by the evaluator of trial {number}"
    return Outcome(
        TrialState.FAILED,
        None,
        error,
        intermediate=list(ctx.intermediate),
        seconds=seconds,
        interrupted=True,
        artifacts=list(ctx.artifacts),
        user_attrs=dict(ctx.user_attrs),
    )


def error_text(exc: BaseException) -> str:
    """'Type: message' first (readable in tables), then the full traceback."""
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return f"{type(exc).__name__}: {exc}\n{tb}"


def exception_types(exc: BaseException) -> tuple[str, ...]:
    """The MRO of `exc`'s class as ``module.Qualname`` strings (matched against `catch=`)."""
    return tuple(f"{c.__module__}.{c.__qualname__}" for c in type(exc).__mro__)


def run_evaluation(
    evaluator: Evaluator,
    candidate: Any,
    number: int,
    should_prune: ShouldPrune | None = None,
    context: TrialContext | None = None,
) -> Outcome:
    """Evaluate `candidate` and classify the result; never raises (KeyboardInterrupt aside).

    Any exception → FAILED with its traceback; `TrialPruned` → PRUNED; NaN/inf or a wrong number of
    objective values → FAILED naming the values. Intermediate values are kept in every case.
    `context` lets a caller share the TrialContext (e.g. to read intermediates after a timeout).
    """
    ctx = context if context is not None else TrialContext(number, should_prune)
    t0 = time.perf_counter()

    def outcome(
        state: OutcomeState, result: Any = None, error: str | None = None, exc: Any = None
    ) -> Outcome:
        return Outcome(
            state,
            result,
            error,
            intermediate=list(ctx.intermediate),
            seconds=time.perf_counter() - t0,
            artifacts=list(ctx.artifacts),
            user_attrs=dict(ctx.user_attrs),
            exception=exc,
            exception_types=exception_types(exc) if exc is not None else (),
        )

    try:
        raw = evaluator.evaluate(candidate, ctx)
    except TrialPruned as e:
        return outcome(TrialState.PRUNED, error=str(e) or "pruned")
    except (KeyboardInterrupt, GeneratorExit):
        raise
    except BaseException as e:  # noqa: BLE001 - SystemExit from candidate code is a failure too
        return outcome(TrialState.FAILED, error=error_text(e), exc=e)
    try:
        result = EvaluationResult.coerce(raw)
    except Exception as e:  # noqa: BLE001
        return outcome(TrialState.FAILED, error=f"invalid result: {e}")
    n_obj = len(evaluator.objectives)
    if len(result.values) != n_obj:
        return outcome(
            TrialState.FAILED,
            error=f"invalid result: expected {n_obj} values for objectives "
            f"{tuple(evaluator.objectives)!r}, got {result.values!r}",
        )
    if not result.intermediate:
        result.intermediate = list(ctx.intermediate)
    return outcome(TrialState.COMPLETE, result)


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
                box.append(_interrupted(number, ctx, time.perf_counter() - t0))

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


def relay(
    start: Callable[[], concurrent.futures.Future],
    to_outcome: Callable[[concurrent.futures.Future, float], Outcome],
) -> concurrent.futures.Future[Outcome]:
    """A future of the Outcome of a task run elsewhere (worker pool, Ray).

    `start()` launches the task and returns its future (a failure to launch, e.g. a candidate
    that cannot be pickled, is a FAILED outcome); `to_outcome(task, seconds)` translates it.
    """
    out: concurrent.futures.Future[Outcome] = concurrent.futures.Future()
    out.set_running_or_notify_cancel()
    t0 = time.perf_counter()
    try:
        task = start()
    except Exception as e:  # noqa: BLE001 - e.g. the pool was shut down
        out.set_result(Outcome(TrialState.FAILED, error=error_text(e)))
        return out
    task.add_done_callback(lambda done: out.set_result(to_outcome(done, time.perf_counter() - t0)))
    return out


def run_in_worker(
    evaluator: Evaluator, candidate: Any, number: int, should_prune: ShouldPrune | None = None
) -> Outcome:
    """Worker-side entry point (module level so spawned workers can import it).

    `should_prune` is a picklable link that asks the driver's pruner (see pruning_channel). Pool
    workers ignore SIGINT, so a KeyboardInterrupt here was raised by the evaluator: it comes back
    as an interrupted Outcome (the driver then stops as on Ctrl-C), not as a dead worker.
    """
    ctx = TrialContext(number, should_prune)
    t0 = time.perf_counter()
    try:
        return run_evaluation(evaluator, candidate, number, context=ctx)
    except KeyboardInterrupt:
        return _interrupted(number, ctx, time.perf_counter() - t0)


def with_curve(outcome: Outcome, received: list[tuple[int, float]]) -> Outcome:
    """`outcome`, given the values the driver received live when it came back without any
    (a worker killed by a timeout or a crash takes its own record with it)."""
    if not outcome.intermediate and received:
        outcome.intermediate = list(received)
    return outcome


def _exit_reason(exitcode: int | None) -> str:
    """'exit code N', with the signal name when the worker was killed by a signal."""
    if exitcode is not None and exitcode < 0:
        try:
            return f"exit code {exitcode} ({signal.Signals(-exitcode).name})"
        except ValueError:
            pass
    return f"exit code {exitcode}"


class LocalProcessExecutor(Executor):
    """Runs evaluations in a pool of `max_workers` worker processes (pebble, spawn context).

    A timed-out candidate has its worker killed (FAILED "timed out after Xs"); a candidate that
    crashes its worker (segfault, `os._exit`) gives FAILED "worker process died: exit code N"; the
    pool replaces the worker and keeps serving. Workers are started with `spawn` (JAX is not
    fork-safe), so evaluator and candidate must be picklable and every function they reference
    importable (module level); scripts using this executor need an `if __name__ == "__main__":`
    guard. Pruning is live: with `should_prune`, each `context.report` in the worker is sent to
    the driver (Manager queues, see pruning_channel), the driver's pruner decides, and the worker
    stops the trial as PRUNED; values received live also survive a killed worker. Workers (and
    the Manager) die with the driver, even on SIGKILL (see lifetime).
    """

    def __init__(self, max_workers: int = 2, start_method: str = "spawn", max_tasks: int = 0):
        import pebble

        if not isinstance(max_workers, int) or max_workers < 1:
            raise ValueError(f"`max_workers` must be an int >= 1, got {max_workers!r}")
        if start_method not in ("spawn", "forkserver"):
            raise ValueError(
                f"`start_method` must be 'spawn' or 'forkserver' (JAX is not fork-safe), "
                f"got {start_method!r}"
            )
        self.max_workers = max_workers
        self._context = multiprocessing.get_context(start_method)
        self._pool = pebble.ProcessPool(
            max_workers=max_workers,
            max_tasks=max_tasks,
            context=self._context,
            initializer=die_with_parent,
            initargs=(os.getpid(),),
        )
        # Start every worker now, from a thread that lives as long as the pool: the kernel's
        # parent-death signal fires when the *thread* that forked a worker exits.
        self._closed = threading.Event()
        started = threading.Event()
        threading.Thread(
            target=self._own_workers, args=(started,), name="hashtune-pool-owner", daemon=True
        ).start()
        started.wait()
        self._desk: QueueDesk | None = None
        self._desk_lock = threading.Lock()

    def _own_workers(self, started: threading.Event) -> None:
        try:
            self._pool.schedule(int)
        finally:
            started.set()
        self._closed.wait()

    def _pruning_desk(self) -> QueueDesk:
        with self._desk_lock:
            if self._desk is None:
                self._desk = QueueDesk(
                    self._context, die_with_parent, (os.getpid(), WATCH_INTERVAL_S, False)
                )
            return self._desk

    def submit(
        self,
        evaluator: Evaluator,
        candidate: Any,
        number: int,
        timeout_s: float | None = None,
        should_prune: ShouldPrune | None = None,
    ) -> concurrent.futures.Future[Outcome]:
        check_timeout(timeout_s)
        desk = self._pruning_desk() if should_prune is not None else None
        token, link = desk.open(should_prune) if desk is not None else (None, None)

        def to_outcome(task: concurrent.futures.Future, elapsed: float) -> Outcome:
            received = desk.close(token) if desk is not None else []
            return with_curve(self._to_outcome(task, timeout_s, elapsed), received)

        return relay(
            lambda: self._pool.schedule(
                run_in_worker, args=(evaluator, candidate, number, link), timeout=timeout_s
            ),
            to_outcome,
        )

    @staticmethod
    def _to_outcome(
        task: concurrent.futures.Future, timeout_s: float | None, elapsed: float
    ) -> Outcome:
        """Translate a finished pebble future (result or failure) into an Outcome."""
        from pebble import ProcessExpired

        if task.cancelled():
            return Outcome(TrialState.FAILED, error="cancelled", seconds=elapsed)
        exc = task.exception()
        if exc is None:
            return task.result()
        if isinstance(exc, TimeoutError) and timeout_s is not None:
            error = f"timed out after {timeout_s:g}s"
        elif isinstance(exc, ProcessExpired):
            error = f"worker process died: {_exit_reason(exc.exitcode)}"
        else:  # e.g. candidate or evaluator not picklable; pebble attaches the remote traceback
            error = error_text(exc) + str(getattr(exc, "traceback", ""))
        return Outcome(TrialState.FAILED, error=error, seconds=elapsed)

    def shutdown(self, wait: bool = True) -> None:
        """Stop accepting work; wait for running evaluations (`wait=True`) or kill them."""
        if wait:
            self._pool.close()
        else:
            self._pool.stop()
        self._pool.join()
        self._closed.set()
        if self._desk is not None:
            self._desk.shutdown()
            self._desk = None


__all__ = [
    "TRIAL_THREAD",
    "EvaluatorInterrupt",
    "Executor",
    "InProcessExecutor",
    "LocalProcessExecutor",
    "Outcome",
    "check_timeout",
    "error_text",
    "relay",
    "run_evaluation",
    "run_in_worker",
    "with_curve",
]
