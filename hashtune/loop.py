"""The optimize loop: ask → hash → cache decision → evaluate (or serve) → store → tell.

One driver thread owns the searcher and the store writes; evaluations run on the executor and
waits for a peer's in-flight evaluation of the same function run on a small thread pool. A
heartbeat thread (liveness.py) keeps every in-flight trial alive in the store and reclaims the
trials of dead peers while the loop runs; reclaimed trials may be retried here.
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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from hashtune.artifacts import discard_staged, keep_artifacts
from hashtune.budget import Budget, jsonable, proposal_fields
from hashtune.evaluators.executors import Outcome
from hashtune.evaluators.interrupts import EvaluatorInterrupt
from hashtune.failures import FailureWatch
from hashtune.liveness import Heartbeat
from hashtune.recovery import was_interrupted
from hashtune.search.base import Feedback, Proposal
from hashtune.store import CacheEntry, PeerNews, TrialRecord

if TYPE_CHECKING:
    from hashtune.study import Study

log = logging.getLogger(__name__)

Kind = Literal["evaluate", "audit", "wait"]


@dataclass
class _InFlight:
    """A proposal whose trial is RUNNING: what it waits for and what it holds."""

    trial: TrialRecord
    proposal: Proposal
    fhash: str | None
    kind: Kind
    claimed: bool = False
    cached: CacheEntry | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class OptimizeLoop:
    """Runs one `Study.optimize` call; see the module docstring."""

    def __init__(
        self,
        study: Study,
        budget: Budget,
        trial_timeout_s: float | None,
        reporter: Any,
        failures: FailureWatch | None = None,
        callbacks: Sequence[Callable[[Any, TrialRecord], Any]] = (),
    ):
        self.study = study
        self.failures = failures or FailureWatch(study.name, None)
        self.callbacks = tuple(callbacks)
        self.budget = budget
        self.trial_timeout_s = trial_timeout_s
        self.reporter = reporter
        self.executor = study.executor
        self.capacity = max(1, int(getattr(self.executor, "max_workers", 1)))
        self.inflight: dict[cf.Future, _InFlight] = {}
        self.launched = 0
        self.paid = 0
        self.t0 = time.monotonic()
        self._stop = threading.Event()
        self._submitting: _InFlight | None = None
        self._reserved: TrialRecord | None = None  # between reserve and submit
        #: The next trial's reservation, made in an earlier transaction, and its budget count.
        self._next: tuple[TrialRecord, int] | None = None
        self._news_fresh = False  # the peers' news was read by the last finishing transaction
        self._news: PeerNews | None = None
        self._retries: queue.SimpleQueue[TrialRecord] = queue.SimpleQueue()
        self.beats = Heartbeat(
            study.store, study.study_id, study.worker, study.liveness, self._retries.put
        )
        self._study_full = False  # the shared total is reached (reservations beyond it dropped)
        self._waiters = cf.ThreadPoolExecutor(max_workers=4, thread_name_prefix="hashtune-wait")

    # -- driver ------------------------------------------------------------------------------

    def run(self) -> None:
        """Launch until the budget is spent, then drain what is in flight."""
        try:
            self.beats.__enter__()
            while True:
                while self._can_launch():
                    self._launch()
                if not self.inflight:
                    if self.failures.stop_with is None and self._peers_may_fail():
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
            self._drop_spare_reservation()
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

    def _peers_may_fail(self) -> bool:
        """The shared total is reached but peers' trials are unfinished: wait a beat, since a
        dead peer's trial is reclaimed and no longer counts (True: go on launching)."""
        st = self.study
        total = self.budget.total_trials
        if not self._study_full or total is None or st.stop_requested:
            return False
        if not st.store.trials(st.study_id, states=("RUNNING", "PENDING")):
            return False
        time.sleep(st.liveness.heartbeat_s)
        if st.store.count_budget_trials(st.study_id) < total:
            self._study_full = False
        return True

    def _can_launch(self) -> bool:
        b = self.budget
        if self.study.stop_requested or self.failures.stop_with is not None:
            return False
        if b.n_trials is not None and self.launched >= b.n_trials:
            return False
        if b.max_evaluations is not None and self.paid >= b.max_evaluations:
            return False
        if b.timeout_s is not None and time.monotonic() - self.t0 >= b.timeout_s:
            return False
        evaluating = sum(1 for f in self.inflight.values() if f.kind != "wait")
        if evaluating >= self.capacity or len(self.inflight) >= 3 * self.capacity:
            return False
        return not self._study_full

    def _launch(self) -> None:
        """Take a reservation, ask the searcher, hash, and start whatever the cache decides."""
        st = self.study
        self._requeue_retries()
        trial, counted = self._take_reservation()
        self._reserved = trial
        total = self.budget.total_trials
        if total is not None and counted > total:
            st.store.drop_reservation(trial.id)  # another worker took the last slot
            self.beats.untrack(trial.id)
            self._reserved = None
            self._study_full = True
            return
        self.launched += 1
        try:
            if not self._news_fresh:  # learn what the other workers finished, see what they run
                st.peers.sync()
            self._news_fresh = False
            proposal = st.propose(trial.number)
        except KeyboardInterrupt:
            raise  # Ctrl-C: the trial stays reserved, and is failed as interrupted by `run`
        except BaseException as e:
            self._reserved = None
            st.store.finish_trial(trial.id, state="FAILED", error=f"searcher.ask failed: {e!r}")
            raise
        fhash = st.cache.key(proposal.candidate) if st.cache.config.enabled else None
        reserve = self._wants_reservation(launching=True)
        started = st.store.begin_trial(
            trial.id,
            **proposal_fields(st.space, proposal, fhash, st.task),
            claim=None if fhash is None else st.cache.claim(fhash),
            reserve_for=st.worker if reserve else None,
            count_budget=reserve and total is not None,
        )
        self._keep_reservation(started.reserved, started.reserved_budget)
        if self.reporter is not None:
            self.reporter.trial_started(trial.number)
        item = _InFlight(started.trial, proposal, fhash, "evaluate")
        if fhash is None:
            self._submit(item)
        else:
            self._act(item, *st.cache.decision(started.entry, started.claimed))
        self._reserved = None

    def _take_reservation(self) -> tuple[TrialRecord, int]:
        """The reservation made by an earlier transaction, or a new one; and its budget count."""
        st = self.study
        if self._next is not None:
            trial, counted = self._next
            self._next = None
            return trial, counted
        trial = st.store.reserve_trial(st.study_id, worker=st.worker)
        self.beats.track(trial.id)
        counted = 0
        if self.budget.total_trials is not None:
            counted = st.store.count_budget_trials(st.study_id, trial.number)
        return trial, counted

    def _keep_reservation(self, trial: TrialRecord | None, counted: int | None) -> None:
        if trial is not None:
            self.beats.track(trial.id)
            self._next = (trial, counted or 0)

    def _wants_reservation(self, launching: bool, finishing: _InFlight | None = None) -> bool:
        """Whether to reserve the next trial in the transaction under way: only when another
        launch is expected soon (one reservation at a time; a spare one is dropped at the end)."""
        if self._next is not None or self._study_full or self.study.stop_requested:
            return False
        b = self.budget
        launched = self.launched
        if b.n_trials is not None and launched >= b.n_trials:
            return False
        if b.max_evaluations is not None and self.paid >= b.max_evaluations:
            return False
        if b.timeout_s is not None and time.monotonic() - self.t0 >= b.timeout_s:
            return False
        busy = [f for f in self.inflight.values() if f.kind != "wait" and f is not finishing]
        return len(busy) + launching < self.capacity

    def _drop_spare_reservation(self) -> None:
        """The run ends: the reservation made for a launch that did not come is deleted."""
        if self._next is None:
            return
        trial, _ = self._next
        self._next = None
        try:
            self.study.store.drop_reservation(trial.id)
        except Exception as e:  # noqa: BLE001 - recovery fails it as interrupted later
            log.warning("could not drop reservation %d: %s", trial.number, e)
        self.beats.untrack(trial.id)

    def _requeue_retries(self) -> None:
        """Have the searcher propose again the reclaimed trials that have retries left."""
        st = self.study
        while not self._retries.empty():
            dead = self._retries.get()
            if self.budget.max_retries <= 0 or dead.dna is None:
                continue
            key = json.dumps(dead.dna, sort_keys=True)
            tries = sum(
                1
                for t in st.store.trials(st.study_id, states=("FAILED",))
                if was_interrupted(t) and json.dumps(t.dna, sort_keys=True) == key
            )
            if tries > self.budget.max_retries:
                continue
            st.warm_start.push(st.space.dna_from_json(dead.dna))

    def _route(self, item: _InFlight, steal_after_s: float | None = None) -> None:
        """Serve from the cache, wait for a peer, or pay for an evaluation."""
        st = self.study
        if item.fhash is None:
            self._submit(item)
            return
        self._act(item, *st.cache.decide(item.fhash, item.trial.id, steal_after_s))

    def _act(self, item: _InFlight, decision: str, entry: CacheEntry | None) -> None:
        st = self.study
        if decision == "hit":
            assert entry is not None and item.fhash is not None
            if st.cache.should_audit():
                item.kind, item.cached = "audit", entry
                self._submit(item)
            else:
                self._serve(item, entry)
        elif decision == "wait":
            assert item.fhash is not None
            item.kind = "wait"
            fut = self._waiters.submit(st.cache.wait, item.fhash, self._stop)
            self.inflight[fut] = item
        else:
            item.kind, item.claimed = "evaluate", entry is None
            self._submit(item)

    def _submit(self, item: _InFlight) -> None:
        st = self.study
        self.paid += 1
        self._submitting = item  # an in-process executor evaluates inside submit()
        fut = self.executor.submit(
            st.evaluator,
            item.proposal.candidate,
            item.trial.number,
            timeout_s=self.trial_timeout_s,
            should_prune=st.pruning_callback(item.trial.number),
        )
        self._submitting = None
        self.inflight[fut] = item

    # -- outcomes ----------------------------------------------------------------------------

    def _settle(self, item: _InFlight, result: Outcome | CacheEntry | None) -> None:
        if item.kind == "wait":
            needed = self.study.cache.config.reevaluate
            if result is None:  # the peer failed or died, or outlived our patience: take it
                patience = self.study.cache.config.wait_timeout_s
                steal = min(patience, self.study.liveness.stale_after_s)
                self._route(item, steal_after_s=steal)
            elif result.count < needed:  # a noisy task needs more evaluations than it has
                self._route(item)
            else:
                self._serve(item, result)
            return
        assert isinstance(result, Outcome)
        if item.kind == "audit":
            self._settle_audit(item, result)
        else:
            self._settle_evaluation(item, result)

    def _settle_evaluation(self, item: _InFlight, out: Outcome) -> None:
        st = self.study
        meta = dict(out.result.metadata) if out.result else {}
        meta["eval_seconds"] = round(out.seconds, 6)
        cache = None
        if item.fhash is not None:
            if out.state == "COMPLETE":
                cache = st.cache.recorded(item.fhash, list(out.values), out.seconds)
            elif item.claimed:
                cache = st.cache.released(item.fhash)
        record = self._finish_in_store(
            item,
            state=out.state,
            values=list(out.values) if out.values else None,
            user_attrs={**out.user_attrs, **jsonable(meta)},  # set_user_attr checked JSON
            error=out.error,
            intermediate=out.intermediate or (out.result.intermediate if out.result else None),
            cache=cache,
        )
        keep_artifacts(st, record, out.artifacts)
        self._finish(item, record, Feedback(out.state, out.values), out)

    def _finish_in_store(self, item: _InFlight, **outcome: Any) -> TrialRecord:
        """One transaction: finish the trial (and its cache entry), read the peers' news for the
        next ask, reserve the next trial when another launch follows."""
        st = self.study
        self.beats.untrack(item.trial.id)
        reserve = self._wants_reservation(launching=False, finishing=item)
        done = st.store.finish_and_next(
            item.trial.id,
            lineage=(item.trial.parents, item.trial.mutation),
            news_after=st.peers.cursor,
            news_worker=st.worker,
            reserve_for=st.worker if reserve else None,
            count_budget=reserve and self.budget.total_trials is not None,
            **outcome,
        )
        self._news = done.news  # absorbed after the searcher is told of this trial
        self._keep_reservation(done.reserved, done.reserved_budget)
        return done.trial

    def _settle_audit(self, item: _InFlight, out: Outcome) -> None:
        st = self.study
        cached = item.cached
        assert cached is not None and item.fhash is not None
        discard_staged(out.artifacts)  # the trial that paid keeps the function's artifacts
        attrs: dict[str, Any] = {"audit": True, "eval_seconds": round(out.seconds, 6)}
        if out.state == "COMPLETE":
            st.cache.audit(item.fhash, item.trial.id, list(cached.mean), list(out.values))
            attrs["audit_fresh"] = list(out.values)
        else:
            attrs["audit_error"] = (out.error or out.state).splitlines()[0]
        self._serve(item, cached, attrs)

    def _serve(self, item: _InFlight, entry: CacheEntry, attrs: dict[str, Any] | None = None):
        """Finish the trial as CACHED with the function's mean score; the searcher is told it."""
        values = list(entry.mean)
        record = self._finish_in_store(
            item,
            state="CACHED",
            values=values,
            cached_from_trial_id=entry.first_trial_id,
            user_attrs={"cache_count": entry.count, **(attrs or {})},
        )
        self._finish(item, record, Feedback("CACHED", tuple(values)))

    def _finish(
        self, item: _InFlight, record: TrialRecord, feedback: Feedback, out: Outcome | None = None
    ) -> None:
        self.study.searcher.tell(item.proposal, feedback)
        if self._news is not None:
            self.study.peers.absorb(self._news)
            self._news, self._news_fresh = None, True
        self.study.on_trial_finished(record)
        if self.reporter is not None:
            self.reporter.trial_finished(record)
        self.failures.trial_finished(record, out)  # may stop the call (see failures.py)
        for callback in self.callbacks:
            callback(self.study, record)

    def _abandon(self, reason: str, own: tuple[int, str] | None = None) -> None:
        """On interrupt: fail what is in flight and release its cache claims, best effort;
        `own` is (trial number, reason) for the trial whose evaluator raised KeyboardInterrupt."""
        st = self.study
        self._drop_spare_reservation()
        pending = [(i.trial, i) for i in self.inflight.values()]
        if self._submitting is not None:
            pending.append((self._submitting.trial, self._submitting))
        if self._reserved is not None:
            pending.append((self._reserved, None))
        for trial, item in pending:
            why = own[1] if own is not None and own[0] == trial.number else reason
            try:
                st.store.finish_trial(trial.id, state="FAILED", error=why)
                if item is not None and item.claimed and item.fhash is not None:
                    st.cache.release(item.fhash, trial.id)
            except Exception as e:  # noqa: BLE001 - keep failing the others
                log.warning(
                    "trial %s is left %s (the store refused to mark it failed: %s); the next run "
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
