"""Any Optuna pruner behind hashtune's `Pruner`: a private Optuna study mirrors the trials.

Each hashtune trial that reports gets a RUNNING trial in a private in-memory Optuna study; its
intermediate values are written there and `pruner.prune(study, trial)` decides, exactly as
`optuna.Trial.should_prune` would. Finished trials (COMPLETE, CACHED as COMPLETE, PRUNED, FAILED)
are finished there with their curves, so Median/Percentile see completed curves, successive
halving and Hyperband their rungs (kept as Optuna system attributes), Wilcoxon the best trial.
Calls may come from several threads (the process pool's pruning desk): a lock serialises them.
"""

from __future__ import annotations

import logging
import math
import threading
import warnings
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.pruners import BasePruner
from optuna.trial import TrialState

from hashtune.search.optuna_objects import build_object
from hashtune.search.pruners import Curve, Pruner
from hashtune.vocabulary import TrialState as State

_STATES = {
    State.COMPLETE: TrialState.COMPLETE,
    State.CACHED: TrialState.COMPLETE,
    State.PRUNED: TrialState.PRUNED,
    State.FAILED: TrialState.FAIL,
}


class OptunaPruner(Pruner):
    """`pruner` (an `optuna.pruners.BasePruner`, or a recorded ``{"class", "args"}`` spec)
    deciding on hashtune trials; single-objective, in the study's first direction."""

    def __init__(self, direction: str = "maximize", pruner: BasePruner | dict | None = None):
        super().__init__(direction)
        if isinstance(pruner, dict):
            pruner = build_object(pruner, seed=None)
        if not isinstance(pruner, BasePruner):
            raise ValueError(f"`pruner` must be an optuna.pruners.BasePruner, got {pruner!r}")
        self.pruner = pruner
        self._lock = threading.Lock()
        self._storage = optuna.storages.InMemoryStorage()
        logger = logging.getLogger("optuna")
        level = logger.level
        logger.setLevel(max(level, logging.WARNING))
        try:
            self.study = optuna.create_study(
                storage=self._storage,
                study_name="hashtune-pruning",
                direction=direction,
                pruner=pruner,
            )
        finally:
            logger.setLevel(level)
        self._study_id = self._storage.get_study_id_from_name("hashtune-pruning")
        self._ids: dict[int, int] = {}  # hashtune trial number -> Optuna trial id

    def _trial_id(self, number: int) -> int:
        tid = self._ids.get(number)
        if tid is None:
            tid = self._storage.create_new_trial(self._study_id)
            self._ids[number] = tid
        return tid

    def _write_curve(self, tid: int, curve: Curve) -> None:
        known = self._storage.get_trial(tid).intermediate_values
        for step, value in curve:
            if int(step) not in known:  # Optuna keeps the first value reported at a step
                self._storage.set_trial_intermediate_value(tid, int(step), float(value))

    def should_prune(self, step: int, value: float, completed: Sequence[Curve]) -> bool:
        """Optuna pruners judge a trial by its own curve: use `prune_trial`."""
        raise NotImplementedError("OptunaPruner decides per trial: call prune_trial")

    def prune_trial(
        self, number: int, step: int, value: float, own: Curve, completed: Sequence[Curve]
    ) -> bool:
        with self._lock:
            tid = self._trial_id(number)
            if self._storage.get_trial(tid).state != TrialState.RUNNING:
                return False  # a late report of a finished trial
            self._write_curve(tid, [*own, (step, value)])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return bool(self.pruner.prune(self.study, self._storage.get_trial(tid)))

    def trial_finished(
        self, number: int, state: str, values: Sequence[float] | None, curve: Curve
    ) -> None:
        optuna_state = _STATES.get(state)
        if optuna_state is None:
            return
        first = float(values[0]) if values else None
        if optuna_state == TrialState.COMPLETE and (first is None or not math.isfinite(first)):
            optuna_state = TrialState.FAIL
        with self._lock:
            tid = self._trial_id(number)
            if self._storage.get_trial(tid).state != TrialState.RUNNING:
                return
            self._write_curve(tid, curve)
            done = [first] if optuna_state == TrialState.COMPLETE else None
            self._storage.set_trial_state_values(tid, optuna_state, done)

    def __repr__(self) -> str:
        return f"OptunaPruner({type(self.pruner).__name__}, direction={self.direction!r})"


def is_optuna_pruner(obj: Any) -> bool:
    """Whether `obj` is an Optuna pruner instance."""
    return isinstance(obj, BasePruner)
