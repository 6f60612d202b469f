"""`Study.ask()` / `Study.tell()`: the user drives the loop, the study keeps the rest.

`ask()` does what one step of `optimize` does before evaluating: reserve a trial, let the
searcher propose (after learning what peers finished), hash the candidate and ask the
functional-equivalence cache. A candidate whose function already has a score comes back with
`trial.cached` set to it: tell it at once (`study.tell(trial)` with no values finishes it as
CACHED, pointing at the trial that paid) instead of evaluating again. Otherwise the trial holds
the cache claim for its function (peers proposing the same function wait for it) until `tell`.
Asked trials beat while they are open, so peers do not take them for a dead worker's. Audits
(`cache.audit_fraction`) are an `optimize` feature: `ask` serves every hit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hashtune.budget import proposal_fields
from hashtune.evaluators.base import TrialContext
from hashtune.hashing.cache_policy import Act
from hashtune.liveness import Heartbeat
from hashtune.parts import StudyParts
from hashtune.search.base import Feedback, Proposal
from hashtune.store import CacheEntry, TrialRecord
from hashtune.vocabulary import TrialState

_STATES = {
    "COMPLETE": TrialState.COMPLETE,
    "FAILED": TrialState.FAILED,
    "FAIL": TrialState.FAILED,
    "PRUNED": TrialState.PRUNED,
}
_UNSCORED = (TrialState.FAILED, TrialState.PRUNED)


@dataclass(eq=False)
class AskedTrial:
    """A trial handed out by `Study.ask()`: evaluate `candidate` (unless `cached`), then tell."""

    session: AskTell = field(repr=False)
    number: int
    id: int
    candidate: Any
    proposal: Proposal = field(repr=False)
    functional_hash: str | None = None
    #: The score the cache serves for this candidate's function (None: evaluate it).
    cached: tuple[float, ...] | None = None
    cached_entry: CacheEntry | None = field(default=None, repr=False)
    claimed: bool = False
    #: Taken from the warm-start queue (the searcher `observe`s it when told).
    intermediate: list[tuple[int, float]] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter, repr=False)

    @property
    def params(self) -> dict[str, Any]:
        """The candidate's decisions as a flat {name: value} dict."""
        return self.session.parts.space.flat_params(self.proposal.genome)

    def report(self, value: float, step: int) -> None:
        """Record an intermediate value (Optuna's argument order), stored at once."""
        self.intermediate.append((int(step), float(value)))
        self.session.store.trials.report_intermediate(self.id, int(step), float(value))

    def should_prune(self) -> bool:
        """Whether the study's pruner stops this trial at its last reported step."""
        ask = self.session.parts.pruner.callback(self.number)
        if ask is None or not self.intermediate:
            return False
        step, value = self.intermediate[-1]
        return bool(ask(step, value, list(self.intermediate)))

    def set_user_attr(self, key: str, value: Any) -> None:
        """Store `value` under `key` in the trial's `user_attrs`."""
        self.session.set_user_attr(self.number, key, value)


class AskTell:
    """`Study.ask` / `Study.tell` over the study's parts; asked trials beat while open."""

    def __init__(self, parts: StudyParts, directions: Sequence[str]):
        self.parts = parts
        self.store = parts.seat.store
        self.directions = tuple(directions)
        self.open: dict[int, AskedTrial] = {}
        self._beats: Heartbeat | None = None

    def ask(self) -> AskedTrial:
        """Propose the next candidate as a RUNNING trial (see the module docstring)."""
        parts, seat, store = self.parts, self.parts.seat, self.store
        trial = store.trials.reserve(seat.study_id, worker=seat.worker)
        try:
            parts.peers.sync()
            proposal = parts.propose(trial.number)
        except BaseException as e:
            store.trials.finish(
                trial.id, state=TrialState.FAILED, error=f"searcher.ask failed: {e!r}"
            )
            raise
        fhash = parts.cache.key(proposal.candidate)
        store.trials.set_proposal(
            trial.id, **proposal_fields(parts.space, proposal, fhash, seat.task)
        )
        asked = AskedTrial(self, trial.number, trial.id, proposal.candidate, proposal, fhash)
        action = parts.cache.decide(fhash, trial.id, audit=False)  # ask serves every hit
        if action.act == Act.SERVE:
            asked.cached, asked.cached_entry = tuple(action.entry.mean), action.entry
        asked.claimed = action.claimed
        self._heartbeat().track(trial.id)
        self.open[trial.number] = asked
        return asked

    def tell(
        self, trial: AskedTrial | int, values: float | Sequence[float] | None, state: Any
    ) -> TrialRecord:
        """Finish an asked trial (see `Study.tell`); the searcher and the pruner learn it."""
        number = trial.number if isinstance(trial, AskedTrial) else trial
        asked = self.open.get(number) if isinstance(number, int) else None
        if asked is None:
            raise ValueError(f"trial {number!r} was not asked by this study or is already told")
        kind, vals, error = self._outcome(asked, values, state)
        record = self._finish(asked, kind, vals, error)
        del self.open[number]
        beats = self._heartbeat()
        beats.untrack(asked.id)
        if not self.open:
            self.close()
        self.parts.learn(asked.proposal, Feedback(kind, vals))
        self.parts.pruner.finished(record)
        return record

    def set_user_attr(self, number: int, key: str, value: Any) -> None:
        """Store `value` (JSON) under `key` in trial `number`'s `user_attrs`, finished or not."""
        check = TrialContext(number)
        check.set_user_attr(key, value)  # the same checks as an evaluator's
        record = self.store.trials.by_number(self.parts.seat.study_id, number)
        self.store.trials.set_user_attrs(record.id, check.user_attrs)

    def close(self) -> None:
        """Stop beating for asked trials (those left open are reclaimed as interrupted)."""
        if self._beats is not None:
            self._beats.__exit__()
            self._beats = None

    def _heartbeat(self) -> Heartbeat:
        if self._beats is None:
            seat = self.parts.seat
            self._beats = Heartbeat(self.store, seat.study_id, seat.worker, seat.liveness)
            self._beats.__enter__()
        return self._beats

    def _outcome(
        self, asked: AskedTrial, values: Any, state: Any
    ) -> tuple[TrialState, tuple[float, ...] | None, str | None]:
        """(state, values, error) of a tell; ValueError naming what does not fit."""
        name = getattr(state, "name", state)
        if name is not None and str(name).upper() not in _STATES:
            raise ValueError(f"`state` must be COMPLETE, FAILED or PRUNED, got {state!r}")
        kind = _STATES[str(name).upper()] if name is not None else None
        if values is None:
            if kind in _UNSCORED:
                return kind, None, "told FAILED" if kind == TrialState.FAILED else None
            if asked.cached is not None and kind is None:
                return TrialState.CACHED, asked.cached, None
            raise ValueError(
                f"tell(trial {asked.number}) needs `values` (or state='FAILED'/'PRUNED'); only "
                "a cached trial (trial.cached is set) may be told without them"
            )
        if kind in _UNSCORED:
            raise ValueError(f"`values` {values!r} cannot be told with state {kind}")
        vals = (values,) if isinstance(values, (int, float)) else tuple(values)
        try:
            vals = tuple(float(v) for v in vals)
        except (TypeError, ValueError):
            raise ValueError(
                f"`values` must be a number or a list of numbers, got {values!r}"
            ) from None
        n = len(self.directions)
        if len(vals) != n:
            raise ValueError(f"`values` {values!r}: expected {n} value(s) for {self.directions!r}")
        if not all(math.isfinite(v) for v in vals):
            return TrialState.FAILED, None, f"invalid result: non-finite values {vals!r}"
        return TrialState.COMPLETE, vals, None

    def _finish(
        self, asked: AskedTrial, kind: TrialState, vals: Any, error: str | None
    ) -> TrialRecord:
        if kind == TrialState.CACHED:
            entry = asked.cached_entry
            return self.store.trials.finish(
                asked.id,
                state=TrialState.CACHED,
                values=list(vals),
                cached_from_trial_id=entry.first_trial_id if entry else None,
                user_attrs={"cache_count": entry.count if entry else 1},
            )
        seconds = time.perf_counter() - asked.started
        record = self.store.trials.finish(
            asked.id,
            state=kind,
            values=list(vals) if vals else None,
            user_attrs={"eval_seconds": round(seconds, 6)},
            error=error,
            intermediate=asked.intermediate or None,
        )
        cache = self.parts.cache
        update = cache.update(asked.functional_hash, asked.claimed, kind, vals, seconds)
        cache.apply(update, asked.id)
        return record
