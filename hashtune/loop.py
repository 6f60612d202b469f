"""The optimize loop: propose → hash → cache action → evaluate (or serve) → store → tell.

The loop is given its collaborators (`StudyParts`: the warm-start queue and the searcher, the
cache policy, the pruner monitor, the peers' news, the store; plus the executor, the evaluator,
the budget and a reporter) and does not know `Study`. What to do with a proposal is the cache
policy's one `decide()` (hashing/cache_policy.py); the loop carries the action out.

One driver thread owns the searcher and the store writes; evaluations run on the executor and
waits for a peer's in-flight evaluation of the same function run on a small thread pool. A
heartbeat thread (liveness.py) keeps every in-flight trial alive in the store and reclaims the
trials of dead peers while the loop runs; reclaimed trials may be retried here (queued again).
An interrupted call finishes what it had in flight as INTERRUPTED.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import json
import logging
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from hashtune.artifacts import discard_staged
from hashtune.budget import Budget, jsonable, proposal_fields
from hashtune.evaluators.base import Evaluator
from hashtune.evaluators.executors import Executor, Outcome
from hashtune.evaluators.interrupts import EvaluatorInterrupt
from hashtune.failures import FailureWatch
from hashtune.hashing.cache_policy import UNCACHED, Act, CacheAction
from hashtune.liveness import Heartbeat
from hashtune.parts import StudyParts
from hashtune.recovery import was_interrupted
from hashtune.reservations import Reservations
from hashtune.search.base import Feedback, Proposal
from hashtune.store import CacheEntry, PeerNews, TrialRecord
from hashtune.vocabulary import TrialState

log = logging.getLogger(__name__)


class Reporter(Protocol):
    """What the loop tells a progress display (see `hashtune.cli.progress.ProgressReporter`)."""

    def trial_started(self, number: int) -> None: ...

    def trial_finished(self, record: TrialRecord) -> None: ...


#: Keeps a finished trial's staged artifact files (see `hashtune.artifacts.keep_artifacts`).
KeepArtifacts = Callable[[TrialRecord, Sequence[Any]], None]


@dataclass
class _InFlight:
    """A proposal whose trial is RUNNING: what the cache said to do with it, what it holds."""

    trial: TrialRecord
    proposal: Proposal
    fhash: str | None
    action: CacheAction = UNCACHED


class OptimizeLoop:
    """Runs one `Study.optimize` call; see the module docstring."""

    def __init__(
        self,
        parts: StudyParts,
        executor: Executor,
        evaluator: Evaluator,
        budget: Budget,
        *,
        trial_timeout_s: float | None = None,
        reporter: Reporter | None = None,
        failures: FailureWatch | None = None,
        callbacks: Sequence[Callable[[TrialRecord], Any]] = (),
        keep_artifacts: KeepArtifacts | None = None,
    ):
        self.parts = parts
        self.seat = parts.seat
        self.store = parts.seat.store
        self.cache = parts.cache
        self.searcher = parts.searcher
        self.executor = executor
        self.evaluator = evaluator
        self.budget = budget
        self.trial_timeout_s = trial_timeout_s
        self.reporter = reporter
        self.failures = failures or FailureWatch(parts.seat.study_name, None)
        self.callbacks = tuple(callbacks)
        self.keep_artifacts = keep_artifacts
        self.capacity = max(1, int(getattr(executor, "max_workers", 1)))
        self.inflight: dict[cf.Future, _InFlight] = {}
        self.launched = 0
        self.paid = 0
        self.t0 = time.monotonic()
        self._stop = threading.Event()
        self._submitting: _InFlight | None = None
        self._reserved: TrialRecord | None = None  # between reserve and submit
        self._news_fresh = False  # the peers' news was read by the last finishing transaction
        self._news: PeerNews | None = None
        self._retries: queue.SimpleQueue[TrialRecord] = queue.SimpleQueue()
        seat = self.seat
        self.beats = Heartbeat(
            self.store, seat.study_id, seat.worker, seat.liveness, self._retries.put
        )
        self.reservations = Reservations(self.seat, self.beats, budget.total_trials)
        self._waiters = cf.ThreadPoolExecutor(max_workers=4, thread_name_prefix="hashtune-wait")

    @property
    def stop_requested(self) -> bool:
        """`Study.stop()` was called: launch nothing more."""
        return self.parts.stop.is_set()

    # -- driver ------------------------------------------------------------------------------

    def run(self) -> None:
        """Launch until the budget is spent, then drain what is in flight."""
        try:
            self.beats.__enter__()
            while True:
                while self._can_launch():
                    self._launch()
                if not self.inflight:
                    may_fail = self.reservations.peers_may_fail(self.stop_requested)
                    if self.failures.stop_with is None and may_fail:
                        continue
                    break
                done, _ = cf.wait(list(self.inflight), timeout=1.0, return_when=cf.FIRST_COMPLETED)
                for fut in done:  # popped once settled: a failed settle is abandoned below
                    result = fut.result()
                    if isinstance(result, Outcome) and result.interrupted:
                        raise EvaluatorInterrupt(self.inflight[fut].trial.number)
                    self._settle(self.inflight[fut], result)
                    del self.inflight[fut]
            if self.failures.stop_with is not None:  # what was in flight has finished
                raise self.failures.stop_with
            self.reservations.drop_spare()
        except BaseException as e:
            self._stop.set()  # waiters polling for a peer give up at once
            with _sigint_ignored():  # a second Ctrl-C must not cut the clean-up short
                self._abandon(INTERRUPTED_RUN, _own_reason(e))
            raise
        finally:
            self._stop.set()
            self.beats.__exit__()
            self.failures.summary()
            self._waiters.shutdown(wait=False, cancel_futures=True)

    def _budget_left(self) -> bool:
        """Neither `Study.stop()` nor the call's trial, evaluation or time budget says stop."""
        b = self.budget
        if self.stop_requested:
            return False
        if b.n_trials is not None and self.launched >= b.n_trials:
            return False
        if b.max_evaluations is not None and self.paid >= b.max_evaluations:
            return False
        return b.timeout_s is None or time.monotonic() - self.t0 < b.timeout_s

    def _can_launch(self) -> bool:
        if self.failures.stop_with is not None or not self._budget_left():
            return False
        evaluating = sum(1 for f in self.inflight.values() if f.action.act != Act.WAIT)
        if evaluating >= self.capacity or len(self.inflight) >= 3 * self.capacity:
            return False
        return not self.reservations.full

    def _launch(self) -> None:
        """Take a reservation, propose, hash, and start whatever the cache decides."""
        seat, store = self.seat, self.store
        self._requeue_retries()
        trial = self._reserved = self.reservations.take()
        if trial is None:
            return
        self.launched += 1
        try:
            if not self._news_fresh:  # learn what the other workers finished, see what they run
                self.parts.peers.sync()
            self._news_fresh = False
            proposal = self.parts.propose(trial.number)
        except KeyboardInterrupt:
            raise  # Ctrl-C: the trial stays reserved, and is finished INTERRUPTED by `run`
        except BaseException as e:
            self._reserved = None
            store.trials.finish(
                trial.id, state=TrialState.FAILED, error=f"searcher.ask failed: {e!r}"
            )
            raise
        fhash = self.cache.key(proposal.candidate)
        reserve = self._wants_reservation(launching=True)
        started = store.trials.begin(
            trial.id,
            **proposal_fields(self.parts.space, proposal, fhash, seat.task),
            claim=None if fhash is None else self.cache.claim(fhash),
            reserve_for=seat.worker if reserve else None,
            count_budget=reserve and self.budget.total_trials is not None,
        )
        self.reservations.keep(started.reserved, started.reserved_budget)
        if self.reporter is not None:
            self.reporter.trial_started(trial.number)
        item = _InFlight(started.trial, proposal, fhash)
        found = {} if fhash is None else {"entry": started.entry, "claimed": started.claimed}
        self._act(item, self.cache.decide(fhash, trial.id, **found))
        self._reserved = None

    def _wants_reservation(self, launching: bool, finishing: _InFlight | None = None) -> bool:
        """Whether to reserve the next trial in the transaction under way: only when another
        launch is expected soon (one reservation at a time; a spare one is dropped at the end)."""
        r = self.reservations
        if r.next is not None or r.full or not self._budget_left():
            return False
        busy = [
            f for f in self.inflight.values() if f.action.act != Act.WAIT and f is not finishing
        ]
        return len(busy) + launching < self.capacity

    def _requeue_retries(self) -> None:
        """Queue again the reclaimed trials that have retries left (proposed before the
        searcher is asked)."""
        seat = self.seat
        while not self._retries.empty():
            dead = self._retries.get()
            if self.budget.max_retries <= 0 or dead.dna is None:
                continue
            key = json.dumps(dead.dna, sort_keys=True)
            tries = sum(
                1
                for t in self.store.trials.list(seat.study_id, states=(TrialState.INTERRUPTED,))
                if was_interrupted(t) and json.dumps(t.dna, sort_keys=True) == key
            )
            if tries <= self.budget.max_retries:
                self.parts.queue.put(self.parts.space.dna_from_json(dead.dna))

    def _act(self, item: _InFlight, action: CacheAction) -> None:
        """Carry out the cache's action: serve, wait for a peer, or pay for an evaluation."""
        item.action = action
        if action.act == Act.SERVE:
            self._serve(item, action.entry)
        elif action.act == Act.WAIT:
            assert item.fhash is not None
            fut = self._waiters.submit(self.cache.wait, item.fhash, self._stop)
            self.inflight[fut] = item
        else:
            self._submit(item)

    def _submit(self, item: _InFlight) -> None:
        self.paid += 1
        self._submitting = item  # an in-process executor evaluates inside submit()
        fut = self.executor.submit(
            self.evaluator,
            item.proposal.candidate,
            item.trial.number,
            timeout_s=self.trial_timeout_s,
            should_prune=self.parts.pruner.callback(item.trial.number),
        )
        self._submitting = None
        self.inflight[fut] = item

    # -- outcomes ----------------------------------------------------------------------------

    def _settle(self, item: _InFlight, result: Outcome | CacheEntry | None) -> None:
        """Finish what came back: a wait asks the cache again with what it got; an audit serves
        the cached score; an evaluation is stored (and recorded in the cache)."""
        act = item.action.act
        if act == Act.WAIT:
            self._act(item, self.cache.decide(item.fhash, item.trial.id, entry=result, waited=True))
            return
        assert isinstance(result, Outcome)
        if act == Act.AUDIT:
            self._settle_audit(item, result)
        else:
            self._settle_evaluation(item, result)

    def _settle_evaluation(self, item: _InFlight, out: Outcome) -> None:
        meta = dict(out.result.metadata) if out.result else {}
        meta["eval_seconds"] = round(out.seconds, 6)
        values = list(out.values) if out.values else None
        cache = self.cache.update(item.fhash, item.action.claimed, out.state, values, out.seconds)
        record = self._finish_in_store(
            item,
            state=out.state,
            values=values,
            user_attrs={**out.user_attrs, **jsonable(meta)},  # set_user_attr checked JSON
            error=out.error,
            intermediate=out.intermediate or (out.result.intermediate if out.result else None),
            cache=cache,
        )
        if self.keep_artifacts is not None:
            self.keep_artifacts(record, out.artifacts)
        else:
            discard_staged(out.artifacts)
        self._finish(item, record, Feedback(out.state, out.values), out)

    def _finish_in_store(self, item: _InFlight, **outcome: Any) -> TrialRecord:
        """One transaction: finish the trial (and its cache entry), read the peers' news for the
        next ask, reserve the next trial when another launch follows."""
        seat = self.seat
        self.beats.untrack(item.trial.id)
        reserve = self._wants_reservation(launching=False, finishing=item)
        done = self.store.trials.finish_and_next(
            item.trial.id,
            lineage=(item.trial.parents, item.trial.mutation),
            started_at=item.trial.started_at,
            news_after=self.parts.peers.cursor,
            news_worker=seat.worker,
            reserve_for=seat.worker if reserve else None,
            count_budget=reserve and self.budget.total_trials is not None,
            **outcome,
        )
        self._news = done.news  # absorbed after the searcher is told of this trial
        self.reservations.keep(done.reserved, done.reserved_budget)
        return done.trial

    def _settle_audit(self, item: _InFlight, out: Outcome) -> None:
        cached = item.action.entry
        assert cached is not None and item.fhash is not None
        discard_staged(out.artifacts)  # the trial that paid keeps the function's artifacts
        attrs: dict[str, Any] = {"audit": True, "eval_seconds": round(out.seconds, 6)}
        if out.state == TrialState.COMPLETE:
            self.cache.audit(item.fhash, item.trial.id, list(cached.mean), list(out.values))
            attrs["audit_fresh"] = list(out.values)
        else:
            attrs["audit_error"] = (out.error or out.state).splitlines()[0]
        self._serve(item, cached, attrs)

    def _serve(self, item: _InFlight, entry: CacheEntry, attrs: dict[str, Any] | None = None):
        """Finish the trial as CACHED with the function's mean score; the searcher is told it."""
        values = list(entry.mean)
        record = self._finish_in_store(
            item,
            state=TrialState.CACHED,
            values=values,
            cached_from_trial_id=entry.first_trial_id,
            user_attrs={"cache_count": entry.count, **(attrs or {})},
        )
        self._finish(item, record, Feedback(TrialState.CACHED, tuple(values)))

    def _finish(
        self, item: _InFlight, record: TrialRecord, feedback: Feedback, out: Outcome | None = None
    ) -> None:
        self.parts.learn(item.proposal, feedback)
        if self._news is not None:
            self.parts.peers.absorb(self._news)
            self._news, self._news_fresh = None, True
        self.parts.pruner.finished(record)
        if self.reporter is not None:
            self.reporter.trial_finished(record)
        self.failures.trial_finished(record, out)  # may stop the call (see failures.py)
        for callback in self.callbacks:
            callback(record)

    def _abandon(self, reason: str, own: tuple[int, str] | None = None) -> None:
        """On interrupt: finish what is in flight as INTERRUPTED and release its cache claims,
        best effort; `own` is (trial number, reason) for the trial whose evaluator raised
        KeyboardInterrupt."""
        self.reservations.drop_spare()
        pending = [(i.trial, i) for i in self.inflight.values()]
        if self._submitting is not None:
            pending.append((self._submitting.trial, self._submitting))
        if self._reserved is not None:
            pending.append((self._reserved, None))
        for trial, item in pending:
            why = own[1] if own is not None and own[0] == trial.number else reason
            try:
                self.store.trials.finish(trial.id, state=TrialState.INTERRUPTED, error=why)
                if item is not None and item.action.claimed and item.fhash is not None:
                    self.cache.release(item.fhash, trial.id)
            except Exception as e:  # noqa: BLE001 - keep finishing the others
                log.warning(
                    "trial %s is left %s (the store refused to finish it: %s); the next run "
                    "marks it interrupted", trial.number, trial.state, str(e).splitlines()[0],
                )  # fmt: skip
        self.inflight.clear()


INTERRUPTED_RUN = "interrupted: the optimize call stopped before this trial finished"


def _own_reason(exc: BaseException) -> tuple[int, str] | None:
    """(trial number, error text) when the evaluator itself raised KeyboardInterrupt."""
    if isinstance(exc, EvaluatorInterrupt):
        return exc.number, f"interrupted: {exc}; the run stopped as on Ctrl-C"
    return None


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore Ctrl-C for the block (main thread only: signal handlers live there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
