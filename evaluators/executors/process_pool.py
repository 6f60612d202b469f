"""Evaluations in a pool of worker processes with hard timeouts (a hung worker is killed)."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from hashtune.evaluators.base import (
    Evaluator,
    TrialContext,
)
from hashtune.evaluators.executors.base import Executor, check_timeout
from hashtune.evaluators.executors.lifetime import WATCH_INTERVAL_S, die_with_parent

#: What an evaluation ends as (the loop adds CACHED and INTERRUPTED).
from hashtune.evaluators.executors.outcome import (
    Outcome,
    error_text,
    interrupted_outcome,
    run_evaluation,
)
from hashtune.evaluators.executors.pruning_channel import QueueDesk, ShouldPrune
from hashtune.vocabulary import TrialState


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
        return interrupted_outcome(number, ctx, time.perf_counter() - t0)


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
