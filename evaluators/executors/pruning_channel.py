"""Live pruning for evaluations that run in other processes (pool workers, Ray tasks).

A remote `TrialContext.report(step, value)` sends the value to the driver and waits for the
decision. On the driver a `PruningDesk` keeps, per running trial, the pruning callback and the
values received so far (so that a trial whose worker is killed still has its curve), and answers.
Transports are small: a `QueueLink` over multiprocessing Manager queues for the process pool (this
module), an actor for Ray (ray_executor.py). Neither end knows about the store or the searcher.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.managers import SyncManager
from typing import Any

log = logging.getLogger(__name__)

ShouldPrune = Callable[[int, float, list[tuple[int, float]]], bool]


@dataclass
class _Running:
    should_prune: ShouldPrune
    intermediate: list[tuple[int, float]] = field(default_factory=list)


class PruningDesk:
    """Driver side: the trials that may be pruned, their live curves, and the decisions."""

    def __init__(self) -> None:
        self._tokens = itertools.count(1)
        self._running: dict[int, _Running] = {}
        self._lock = threading.Lock()

    def open(self, should_prune: ShouldPrune) -> int:
        """Register a trial about to start; returns the token its worker reports under."""
        token = next(self._tokens)
        with self._lock:
            self._running[token] = _Running(should_prune)
        return token

    def close(self, token: int) -> list[tuple[int, float]]:
        """Forget a finished trial; returns the values it reported (as the driver received them)."""
        with self._lock:
            running = self._running.pop(token, None)
        return list(running.intermediate) if running else []

    def decide(self, token: int, step: int, value: float) -> bool:
        """Record `value` at `step` for the trial and ask its pruner; a closed trial is not pruned.

        A step reported again (a retried task) replaces the curve from that step on.
        """
        with self._lock:
            running = self._running.get(token)
            if running is None:
                return False
            curve = running.intermediate
            while curve and curve[-1][0] >= step:
                curve.pop()
            curve.append((int(step), float(value)))
            own = list(curve)
        try:
            return bool(running.should_prune(int(step), float(value), own))
        except Exception as e:  # noqa: BLE001 - a broken pruner must not kill the trial
            log.warning("pruner failed at step %s (token %s): %r; not pruning", step, token, e)
            return False


class QueueLink:
    """Worker side for the process pool: `should_prune` that asks the driver over Manager queues.

    Picklable (Manager proxies reconnect in the worker); handed to the worker's TrialContext.
    """

    def __init__(self, token: int, requests: Any, replies: Any):
        self.token = token
        self.requests = requests
        self.replies = replies

    def __call__(self, step: int, value: float, _own: list[tuple[int, float]]) -> bool:
        self.requests.put((self.token, int(step), float(value)))
        return bool(self.replies.get())


class QueueDesk:
    """The process pool's desk: one shared request queue, one reply queue per running trial.

    The Manager process is started lazily (only studies with a pruner pay for it) and, like the
    pool's workers, dies with the driver.
    """

    def __init__(self, mp_context: Any, initializer: Callable[..., None], initargs: tuple):
        self.desk = PruningDesk()
        self._manager = SyncManager(ctx=mp_context)
        self._manager.start(initializer=initializer, initargs=initargs)
        self._requests = self._manager.Queue()
        self._replies: dict[int, Any] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="hashtune-prune", daemon=True)
        self._thread.start()

    def open(self, should_prune: ShouldPrune) -> tuple[int, QueueLink]:
        """Register a trial; returns its token and the link to hand to its worker."""
        token = self.desk.open(should_prune)
        replies = self._manager.Queue()
        with self._lock:
            self._replies[token] = replies
        return token, QueueLink(token, self._requests, replies)

    def close(self, token: int) -> list[tuple[int, float]]:
        with self._lock:
            self._replies.pop(token, None)
        return self.desk.close(token)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                token, step, value = self._requests.get(timeout=0.2)
            except queue.Empty:
                continue
            except (EOFError, OSError, BrokenPipeError):  # the manager is gone: shutting down
                return
            decision = self.desk.decide(token, step, value)
            with self._lock:
                replies = self._replies.get(token)
            if replies is not None:
                try:
                    replies.put(decision)
                except (EOFError, OSError, BrokenPipeError):
                    return

    def shutdown(self) -> None:
        """Stop answering and stop the Manager process."""
        self._stop.set()
        self._thread.join(timeout=2.0)
        self._manager.shutdown()


__all__ = ["PruningDesk", "QueueDesk", "QueueLink", "ShouldPrune"]
