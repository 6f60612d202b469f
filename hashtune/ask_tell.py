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
from typing import TYPE_CHECKING, Any

from hashtune.budget import proposal_fields
from hashtune.liveness import Heartbeat
from hashtune.search.base import Feedback, Proposal
from hashtune.store import CacheEntry, TrialRecord

if TYPE_CHECKING:
    from hashtune.study import Study

_STATES = {"COMPLETE": "COMPLETE", "FAILED": "FAILED", "FAIL": "FAILED", "PRUNED": "PRUNED"}


@dataclass(eq=False)
class AskedTrial:
    """A trial handed out by `Study.ask()`: evaluate `candidate` (unless `cached`), then tell."""

    study: Study = field(repr=False)
    number: int
    id: int
    candidate: Any
    proposal: Proposal = field(repr=False)
    functional_hash: str | None = None
    #: The score the cache serves for this candidate's function (None: evaluate it).
    cached: tuple[float, ...] | None = None
    cached_entry: CacheEntry | None = field(default=None, repr=False)
    claimed: bool = False
    intermediate: list[tuple[int, float]] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter, repr=False)

    @property
    def params(self) -> dict[str, Any]:
        """The candidate's decisions as a flat {name: value} dict."""
        return self.study.space.flat_params(self.proposal.dna)

    def report(self, value: float, step: int) -> None:
        """Record an intermediate value (Optuna's argument order), stored at once."""
        self.intermediate.append((int(step), float(value)))
        self.study.store.report_intermediate(self.id, int(step), float(value))

    def should_prune(self) -> bool:
        """Whether the study's pruner stops this trial at its last reported step."""
        ask = self.study.pruning_callback(self.number)
        if ask is None or not self.intermediate:
            return False
        step, value = self.intermediate[-1]
        return bool(ask(step, value, list(self.intermediate)))

    def set_user_attr(self, key: str, value: Any) -> None:
        """Store `value` under `key` in the trial's `user_attrs`."""
        self.study.set_trial_user_attr(self.number, key, value)


class AskTellMixin:
    """`ask`, `tell` and `set_trial_user_attr` for `Study`."""

    def ask(self: Study) -> AskedTrial:  # type: ignore[misc]
        """Propose the next candidate as a RUNNING trial (see the module docstring)."""
        st = self
        trial = st.store.reserve_trial(st.study_id, worker=st.worker)
        try:
            st.peers.sync()
            proposal = st.propose(trial.number)
        except BaseException as e:
            st.store.finish_trial(trial.id, state="FAILED", error=f"searcher.ask failed: {e!r}")
            raise
        fhash = st.cache.key(proposal.candidate) if st.cache.config.enabled else None
        st.store.set_proposal(trial.id, **proposal_fields(st.space, proposal, fhash, st.task))
        asked = AskedTrial(st, trial.number, trial.id, proposal.candidate, proposal, fhash)
        if fhash is not None:
            decision, entry = st.cache.decide(fhash, trial.id)
            if decision == "hit":
                asked.cached, asked.cached_entry = tuple(entry.mean), entry
            asked.claimed = decision == "evaluate" and entry is None
        _beats(st).track(trial.id)
        _asked(st)[trial.number] = asked
        return asked

    def tell(
        self: Study,  # type: ignore[misc]
        trial: AskedTrial | int,
        values: float | Sequence[float] | None = None,
        state: Any = None,
    ) -> TrialRecord:
        """Finish an asked trial: with `values` (COMPLETE), `state` ("FAILED"/"PRUNED" or
        Optuna's `TrialState`), or nothing for a cached one (CACHED, served from the cache).
        The searcher and the pruner learn it; the score enters the cache."""
        open_ = _asked(self)
        number = trial.number if isinstance(trial, AskedTrial) else trial
        asked = open_.get(number) if isinstance(number, int) else None
        if asked is None:
            raise ValueError(f"trial {number!r} was not asked by this study or is already told")
        kind, vals, error = _outcome(self, asked, values, state)
        record = _finish(self, asked, kind, vals, error)
        del open_[number]
        beats = _beats(self)
        beats.untrack(asked.id)
        if not open_:
            beats.__exit__()
            self._ask_beats = None
        self.searcher.tell(asked.proposal, Feedback(kind, vals))
        self.on_trial_finished(record)
        return record

    def set_trial_user_attr(self: Study, number: int, key: str, value: Any) -> None:  # type: ignore[misc]
        """Store `value` (JSON) under `key` in trial `number`'s `user_attrs`, finished or not."""
        from hashtune.evaluators.base import TrialContext

        check = TrialContext(number)
        check.set_user_attr(key, value)  # the same checks as an evaluator's
        record = self.store.trial_by_number(self.study_id, number)
        self.store.set_trial_user_attrs(record.id, check.user_attrs)


def _asked(study: Any) -> dict[int, AskedTrial]:
    if getattr(study, "_asked_trials", None) is None:
        study._asked_trials = {}
    return study._asked_trials


def _beats(study: Any) -> Heartbeat:
    beats = getattr(study, "_ask_beats", None)
    if beats is None:
        beats = Heartbeat(study.store, study.study_id, study.worker, study.liveness)
        beats.__enter__()
        study._ask_beats = beats
    return beats


def _outcome(
    study: Study, asked: AskedTrial, values: Any, state: Any
) -> tuple[str, tuple[float, ...] | None, str | None]:
    """(state, values, error) of a tell; ValueError naming what does not fit."""
    name = getattr(state, "name", state)
    if name is not None and str(name).upper() not in _STATES:
        raise ValueError(f"`state` must be COMPLETE, FAILED or PRUNED, got {state!r}")
    kind = _STATES[str(name).upper()] if name is not None else None
    if values is None:
        if kind in ("FAILED", "PRUNED"):
            return kind, None, "told FAILED" if kind == "FAILED" else None
        if asked.cached is not None and kind is None:
            return "CACHED", asked.cached, None
        raise ValueError(
            f"tell(trial {asked.number}) needs `values` (or state='FAILED'/'PRUNED'); only a "
            "cached trial (trial.cached is set) may be told without them"
        )
    if kind in ("FAILED", "PRUNED"):
        raise ValueError(f"`values` {values!r} cannot be told with state {kind}")
    vals = (values,) if isinstance(values, (int, float)) else tuple(values)
    try:
        vals = tuple(float(v) for v in vals)
    except (TypeError, ValueError):
        raise ValueError(
            f"`values` must be a number or a list of numbers, got {values!r}"
        ) from None
    n = len(study.directions)
    if len(vals) != n:
        raise ValueError(f"`values` {values!r}: expected {n} value(s) for {study.directions!r}")
    if not all(math.isfinite(v) for v in vals):
        return "FAILED", None, f"invalid result: non-finite values {vals!r}"
    return "COMPLETE", vals, None


def _finish(
    study: Study, asked: AskedTrial, kind: str, vals: Any, error: str | None
) -> TrialRecord:
    cache, store = study.cache, study.store
    if kind == "CACHED":
        entry = asked.cached_entry
        return store.finish_trial(
            asked.id,
            state="CACHED",
            values=list(vals),
            cached_from_trial_id=entry.first_trial_id if entry else None,
            user_attrs={"cache_count": entry.count if entry else 1},
        )
    seconds = time.perf_counter() - asked.started
    record = store.finish_trial(
        asked.id,
        state=kind,
        values=list(vals) if vals else None,
        user_attrs={"eval_seconds": round(seconds, 6)},
        error=error,
        intermediate=asked.intermediate or None,
    )
    if asked.functional_hash is not None:
        if kind == "COMPLETE":
            cache.record(asked.functional_hash, list(vals), asked.id, seconds)
        elif asked.claimed:
            cache.release(asked.functional_hash, asked.id)
    return record
