"""Run evaluations as Ray tasks: on a local Ray started on demand, or on a cluster (`address`).

Each evaluation is one Ray task with per-trial resources (`num_cpus`, fractional `num_gpus`,
custom `resources`). System failures (a node dies, a worker process crashes) are retried up to
`max_retries` times elsewhere; an exception in the candidate is its failure and is not retried. A
timed-out task is cancelled with `force=True` (kills its worker, no retry). Live pruning goes
through a small actor: the worker's `report` asks it, the driver's pruner answers. Tasks and the
actor belong to the driver: Ray kills them when the driver dies, `shutdown(wait=False)` cancels
them. Evaluator and candidate travel by pickle, as with the process pool.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any

from hashtune.evaluators.base import Evaluator
from hashtune.evaluators.executors import (
    Executor,
    Outcome,
    ShouldPrune,
    check_timeout,
    error_text,
    relay,
    run_in_worker,
    with_curve,
)
from hashtune.evaluators.executors.pruning_channel import PruningDesk
from hashtune.vocabulary import TrialState


class RayExecutor(Executor):
    """Evaluations as Ray tasks, at most `max_workers` at once (the study keeps that many busy)."""

    def __init__(
        self,
        max_workers: int = 2,
        address: str | None = None,
        num_cpus_per_trial: float = 1.0,
        num_gpus_per_trial: float = 0.0,
        resources_per_trial: dict[str, float] | None = None,
        max_retries: int = 3,
    ):
        import ray

        if not isinstance(max_workers, int) or max_workers < 1:
            raise ValueError(f"`max_workers` must be an int >= 1, got {max_workers!r}")
        if num_cpus_per_trial < 0 or num_gpus_per_trial < 0:
            raise ValueError(
                f"`num_cpus_per_trial`/`num_gpus_per_trial` must be >= 0, got "
                f"{num_cpus_per_trial!r}/{num_gpus_per_trial!r}"
            )
        resources = dict(resources_per_trial or {})
        bad = {k: v for k, v in resources.items() if not isinstance(v, (int, float)) or v < 0}
        if bad or any(k in ("CPU", "GPU") for k in resources):
            raise ValueError(
                "`resources_per_trial` must map custom resource names (not CPU/GPU: use "
                f"num_cpus_per_trial/num_gpus_per_trial) to numbers >= 0, got {resources!r}"
            )
        if not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"`max_retries` must be an int >= 0, got {max_retries!r}")
        self.max_workers = max_workers
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if address is None:
                kwargs["num_cpus"] = max(max_workers * num_cpus_per_trial, 1)
            ray.init(address=address, **kwargs)
        #: The options every trial's task is submitted with (read by tests and benchmarks).
        self.task_options: dict[str, Any] = {
            "num_cpus": num_cpus_per_trial,
            "num_gpus": num_gpus_per_trial,
            "max_retries": max_retries,
            "retry_exceptions": False,
        }
        if resources:
            self.task_options["resources"] = resources
        self._remote = ray.remote(**self.task_options)(run_in_worker)
        self._running: set[Any] = set()
        self._lock = threading.Lock()
        self._board: _BoardDesk | None = None

    def _pruning_desk(self) -> _BoardDesk:
        with self._lock:
            if self._board is None:
                self._board = _BoardDesk()
            return self._board

    def submit(
        self,
        evaluator: Evaluator,
        candidate: Any,
        number: int,
        timeout_s: float | None = None,
        should_prune: ShouldPrune | None = None,
    ) -> concurrent.futures.Future[Outcome]:
        import ray

        check_timeout(timeout_s)
        timed_out = threading.Event()
        timers: list[threading.Timer] = []
        refs: list[Any] = []
        board = self._pruning_desk() if should_prune is not None else None
        token, link = board.open(should_prune) if board is not None else (None, None)

        def start() -> concurrent.futures.Future:
            ref = self._remote.remote(evaluator, candidate, number, link)
            refs.append(ref)
            with self._lock:
                self._running.add(ref)
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
            with self._lock:
                self._running.difference_update(refs)
            received = board.close(token) if board is not None else []
            return with_curve(_to_outcome(task, timed_out.is_set(), timeout_s, elapsed), received)

        return relay(start, to_outcome)

    def shutdown(self, wait: bool = True) -> None:
        """`wait=False` cancels the running tasks; Ray itself is left running for the next
        optimize call (a Ray this executor started ends with the process, taking its tasks)."""
        import ray

        if not wait:
            with self._lock:
                running = list(self._running)
            for ref in running:
                ray.cancel(ref, force=True)
        with self._lock:
            board, self._board = self._board, None
        if board is not None:
            board.shutdown()


class _PruneBoard:
    """Ray actor (async): workers `ask` and wait; the driver `take`s questions and `answer`s."""

    def __init__(self) -> None:
        self._questions: asyncio.Queue = asyncio.Queue()
        self._waiting: dict[int, asyncio.Future] = {}
        self._seq = 0

    async def ask(self, token: int, step: int, value: float) -> bool:
        self._seq += 1
        key = self._seq
        fut = asyncio.get_running_loop().create_future()
        self._waiting[key] = fut
        self._questions.put_nowait((key, token, step, value))
        return await fut

    async def take(self, timeout_s: float) -> list[tuple[int, int, int, float]]:
        try:
            first = await asyncio.wait_for(self._questions.get(), timeout_s)
        except TimeoutError:
            return []
        out = [first]
        while not self._questions.empty():
            out.append(self._questions.get_nowait())
        return out

    async def answer(self, decisions: list[tuple[int, bool]]) -> None:
        for key, decision in decisions:
            fut = self._waiting.pop(key, None)
            if fut is not None and not fut.done():
                fut.set_result(decision)


class _BoardLink:
    """Worker side: the `should_prune` a Ray task's TrialContext calls (asks the board actor)."""

    def __init__(self, token: int, board: Any):
        self.token = token
        self.board = board

    def __call__(self, step: int, value: float, _own: list[tuple[int, float]]) -> bool:
        import ray

        return bool(ray.get(self.board.ask.remote(self.token, int(step), float(value))))


class _BoardDesk:
    """Driver side for Ray: a `PruningDesk` fed by a thread that long-polls the board actor."""

    def __init__(self) -> None:
        import ray

        self.desk = PruningDesk()
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=True)
        self._board = (
            ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)(_PruneBoard)
            .options(scheduling_strategy=here)  # on the driver's node: it lives as long
            .remote()
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="hashtune-ray-prune", daemon=True)
        self._thread.start()

    def open(self, should_prune: ShouldPrune) -> tuple[int, _BoardLink]:
        token = self.desk.open(should_prune)
        return token, _BoardLink(token, self._board)

    def close(self, token: int) -> list[tuple[int, float]]:
        return self.desk.close(token)

    def _serve(self) -> None:
        import ray

        while not self._stop.is_set():
            try:
                questions = ray.get(self._board.take.remote(0.5))
            except Exception:  # noqa: BLE001 - the actor is restarting, or Ray is shutting down
                if self._stop.wait(0.2) or not ray.is_initialized():
                    return
                continue
            answers = [(key, self.desk.decide(tok, step, val)) for key, tok, step, val in questions]
            if answers:
                self._board.answer.remote(answers)

    def shutdown(self) -> None:
        import ray

        self._stop.set()
        self._thread.join(timeout=2.0)
        if ray.is_initialized():
            ray.kill(self._board)


def _to_outcome(
    fut: concurrent.futures.Future, timed_out: bool, timeout_s: float | None, elapsed: float
) -> Outcome:
    """A finished Ray future (result, cancellation or crash) as an Outcome."""
    from ray.exceptions import TaskCancelledError, WorkerCrashedError

    exc = fut.exception()
    if exc is None:
        return fut.result()
    if timed_out:
        return Outcome(TrialState.FAILED, error=f"timed out after {timeout_s:g}s", seconds=elapsed)
    if isinstance(exc, WorkerCrashedError):
        return Outcome(TrialState.FAILED, error=f"worker process died: {exc}", seconds=elapsed)
    if isinstance(exc, TaskCancelledError):
        return Outcome(TrialState.FAILED, error="cancelled", seconds=elapsed)
    return Outcome(TrialState.FAILED, error=error_text(exc), seconds=elapsed)
