"""Run evaluations as Ray tasks: on a local Ray started on demand, or on a cluster (`address`).

Each evaluation is one Ray task with `max_retries=0` (a crash is the candidate's failure, not
something to retry). A timed-out task is cancelled with `force=True`, which kills its worker; a
candidate that kills its worker gives FAILED "worker process died". Evaluator and candidate travel
by pickle, as with the process pool.
"""

from __future__ import annotations

import concurrent.futures
import threading
from typing import Any

from hashtune.evaluators.base import Evaluator
from hashtune.evaluators.executors import (
    Executor,
    Outcome,
    ShouldPrune,
    _check_timeout,
    _error_text,
    _run_in_worker,
    relay,
)


class RayExecutor(Executor):
    """Evaluations as Ray tasks, at most `max_workers` at once (the study keeps that many busy)."""

    supports_pruning = False

    def __init__(
        self,
        max_workers: int = 2,
        address: str | None = None,
        num_cpus_per_trial: float = 1.0,
        num_gpus_per_trial: float = 0.0,
    ):
        import ray

        if not isinstance(max_workers, int) or max_workers < 1:
            raise ValueError(f"`max_workers` must be an int >= 1, got {max_workers!r}")
        if num_cpus_per_trial < 0 or num_gpus_per_trial < 0:
            raise ValueError(
                f"`num_cpus_per_trial`/`num_gpus_per_trial` must be >= 0, got "
                f"{num_cpus_per_trial!r}/{num_gpus_per_trial!r}"
            )
        self.max_workers = max_workers
        self._started_ray = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if address is None:
                kwargs["num_cpus"] = max(max_workers * num_cpus_per_trial, 1)
            ray.init(address=address, **kwargs)
            self._started_ray = True
        self._remote = ray.remote(
            num_cpus=num_cpus_per_trial, num_gpus=num_gpus_per_trial, max_retries=0
        )(_run_in_worker)

    def submit(
        self,
        evaluator: Evaluator,
        candidate: Any,
        number: int,
        timeout_s: float | None = None,
        should_prune: ShouldPrune | None = None,
    ) -> concurrent.futures.Future[Outcome]:
        import ray

        _check_timeout(timeout_s)
        timed_out = threading.Event()
        timers: list[threading.Timer] = []

        def start() -> concurrent.futures.Future:
            ref = self._remote.remote(evaluator, candidate, number)
            if timeout_s is not None:

                def cancel() -> None:
                    timed_out.set()
                    ray.cancel(ref, force=True)

                timers.append(threading.Timer(timeout_s, cancel))
                timers[0].daemon = True
                timers[0].start()
            return ref.future()

        def to_outcome(task: concurrent.futures.Future, elapsed: float) -> Outcome:
            for timer in timers:
                timer.cancel()
            return _to_outcome(task, timed_out.is_set(), timeout_s, elapsed)

        return relay(start, to_outcome)

    def shutdown(self, wait: bool = True) -> None:
        """Leave Ray running for the next optimize call (it ends with the process)."""


def _to_outcome(
    fut: concurrent.futures.Future, timed_out: bool, timeout_s: float | None, elapsed: float
) -> Outcome:
    """A finished Ray future (result, cancellation or crash) as an Outcome."""
    from ray.exceptions import TaskCancelledError, WorkerCrashedError

    exc = fut.exception()
    if exc is None:
        return fut.result()
    if timed_out:
        return Outcome("FAILED", error=f"timed out after {timeout_s:g}s", seconds=elapsed)
    if isinstance(exc, WorkerCrashedError):
        return Outcome("FAILED", error=f"worker process died: {exc}", seconds=elapsed)
    if isinstance(exc, TaskCancelledError):
        return Outcome("FAILED", error="cancelled", seconds=elapsed)
    return Outcome("FAILED", error=_error_text(exc), seconds=elapsed)
