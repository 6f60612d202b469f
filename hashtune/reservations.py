"""Trial reservations of one optimize call: a trial number is reserved before its proposal, and
the next one is reserved ahead inside the transaction that starts or finishes a trial (one
reservation at a time), so a launch costs one transaction. A study's shared total is checked
against the store's count as each reservation is taken."""

from __future__ import annotations

import logging
import time

from hashtune.liveness import Heartbeat
from hashtune.parts import TrialSeat
from hashtune.store import TrialRecord
from hashtune.vocabulary import TrialState

log = logging.getLogger(__name__)


class Reservations:
    """This worker's reservation ahead, and whether the study's total is reached."""

    def __init__(self, seat: TrialSeat, beats: Heartbeat, total_trials: int | None):
        self.seat = seat
        self.store = seat.store
        self.beats = beats
        self.total = total_trials
        #: The next trial's reservation, made in an earlier transaction, and its budget count.
        self.next: tuple[TrialRecord, int] | None = None
        #: The shared total is reached (reservations beyond it are dropped).
        self.full = False

    def take(self) -> TrialRecord | None:
        """The reservation made ahead, or a new one; None (dropped) when it is beyond the
        study's total because other workers took the last trials."""
        if self.next is not None:
            trial, counted = self.next
            self.next = None
        else:
            trial = self.store.trials.reserve(self.seat.study_id, worker=self.seat.worker)
            self.beats.track(trial.id)
            counted = 0
            if self.total is not None:
                counted = self.store.trials.count_budget(self.seat.study_id, trial.number)
        if self.total is not None and counted > self.total:
            self.store.trials.drop_reservation(trial.id)  # another worker took the last slot
            self.beats.untrack(trial.id)
            self.full = True
            return None
        return trial

    def keep(self, trial: TrialRecord | None, counted: int | None) -> None:
        """Hold the reservation a transaction made ahead (if it made one)."""
        if trial is not None:
            self.beats.track(trial.id)
            self.next = (trial, counted or 0)

    def drop_spare(self) -> None:
        """The run ends: the reservation made for a launch that did not come is deleted."""
        if self.next is None:
            return
        trial, _ = self.next
        self.next = None
        try:
            self.store.trials.drop_reservation(trial.id)
        except Exception as e:  # noqa: BLE001 - recovery finishes it as interrupted later
            log.warning("could not drop reservation %d: %s", trial.number, e)
        self.beats.untrack(trial.id)

    def peers_may_fail(self, stop_requested: bool) -> bool:
        """The shared total is reached but peers' trials are unfinished: wait a beat, since a
        dead peer's trial is reclaimed and no longer counts (True: go on launching)."""
        seat = self.seat
        if not self.full or self.total is None or stop_requested:
            return False
        unfinished = (TrialState.RUNNING, TrialState.PENDING)
        if not self.store.trials.list(seat.study_id, states=unfinished):
            return False
        time.sleep(seat.liveness.heartbeat_s)
        if self.store.trials.count_budget(seat.study_id) < self.total:
            self.full = False
        return True
