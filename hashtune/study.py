"""`Study`: a named search recorded in the store, resumable from it.

A study binds a space, a searcher, an evaluator and an executor to a row in the store. Components
given by registered name (as experiment files do) are recorded in the study's config, so
`Study.load(name)` rebuilds them; components given as Python objects must be passed again on load.

`Study` is the facade: it builds the parts (`hashtune.parts`: searcher, warm-start queue, cache
policy, pruner monitor, peer sync) and hands them to the optimize loop (`hashtune.loop`) and to
ask/tell (`hashtune.ask_tell`), which do not know `Study`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from hashtune.artifacts import keep_artifacts
from hashtune.ask_tell import AskedTrial, AskTell
from hashtune.budget import Budget
from hashtune.components import ComponentError, candidate_dna
from hashtune.dataframe import paused_gc
from hashtune.evaluators.executors import Executor
from hashtune.failures import FailureWatch
from hashtune.hashing.cache_policy import CacheConfig, CachePolicy
from hashtune.loop import OptimizeLoop
from hashtune.parts import StudyParts, TrialSeat
from hashtune.peer_sync import PeerSync, stored_feedback
from hashtune.pruning import PrunerMonitor
from hashtune.recovery import recover_dead_trials
from hashtune.search.base import Feedback, Proposal, Searcher, StoredProposal
from hashtune.spaces.base import Space
from hashtune.store import Store, StudyRecord, TrialRecord
from hashtune.study_build import (
    DEFAULT_STORAGE,
    Joined,
    Recipe,
    StudySpec,
    join,
    open_store,
    prepare_create,
    prepare_load,
)
from hashtune.view import StudyView
from hashtune.vocabulary import TrialState
from hashtune.warm_start import WarmStartQueue, dna_json_key

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_STORAGE", "ComponentError", "Study", "StudySpec"]


class Study(StudyView):
    """A search over `space` scored by `evaluator`, proposed by `searcher`, kept in a store."""

    def __init__(self, store: Store, record: StudyRecord, recipe: Recipe, joined: Joined):
        """Built by `create` / `load`: `recipe` says what the study is made of, `joined` is this
        worker's seat (see `hashtune.study_build`). Recovers dead workers' trials, then replays
        the stored trials into the searcher."""
        self.store = store
        self.record = record
        self.space: Space = recipe.space
        self.evaluator = recipe.evaluator
        self.searcher: Searcher = joined.searcher
        self.cache_config: CacheConfig = recipe.cache
        self.task = recipe.identity.task
        #: This worker's run id (host + random token) and its slot in the study (0, 1, ...).
        self.worker = joined.worker
        self.slot = joined.slot
        self.liveness = recipe.liveness
        #: `optimize`'s default `catch` (experiment files set `(BaseException,)`: never stop).
        self.catch: tuple[type[BaseException], ...] | None = None
        self._executor_factory = joined.executor_factory
        self._owns_executor = joined.owns_executor
        self._executor: Executor | None = None
        seat = TrialSeat(store, record.id, record.name, self.worker, self.task, self.liveness)
        self.cache = CachePolicy(
            store.cache, self.task, recipe.cache,
            seed=self.searcher.seed, stale_after_s=self.liveness.stale_after_s,
        )  # fmt: skip
        dead = recover_dead_trials(
            store, self.study_id, self.worker,
            self.liveness.stale_after_s, self.liveness.stale_beats,
        )  # fmt: skip
        self.recovered = [t.number for t in dead]
        if self.recovered:
            log.warning(
                "study %r: marked %d trials of dead workers INTERRUPTED",
                self.name,
                len(self.recovered),
            )
        self.peers = PeerSync(store, self.study_id, self.worker, self.space, self.searcher)
        self.parts = StudyParts(
            seat, self.space, self.searcher, self.cache, PrunerMonitor(joined.pruner),
            self.peers, WarmStartQueue(self.space),
        )  # fmt: skip
        self._ask_tell = AskTell(self.parts, self.directions)
        self._restore_searcher()

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        name: str,
        spec: StudySpec | None = None,
        *,
        storage: str | Store = DEFAULT_STORAGE,
        load_if_exists: bool = False,
        allow_config_change: bool = False,
        **fields: Any,
    ) -> Study:
        """Create the study `name` in `storage` (or load it when `load_if_exists`; any number of
        workers may do so at once on a new study), built from `spec` and/or the `StudySpec`
        fields given as keywords: `space=`, `evaluator=` (required), `searcher=`, `executor=`,
        `pruner=`, each with its `*_args=`, `direction(s)=`, `seed=`, `cache=`, `enqueue=`,
        `task=`, `liveness=`.

        Components are a registered name (with `*_args`), a `Component` (name and args) or an
        object. `searcher` may be a hashtune `Searcher` or any Optuna sampler instance;
        `pruner` a name, a hashtune `Pruner` or any Optuna pruner instance (both recorded by class
        and arguments, see `hashtune.optuna_compat`). `direction="minimize"` or `directions=`
        (a string or a list) give the objectives' directions (default: the evaluator's, else
        maximize).

        `enqueue` candidates are checked against the space before anything is written. Loading a
        study recorded with another space or searcher is refused unless `allow_config_change`.
        `task` names the task the cache entries belong to, so studies share them on purpose;
        by default it is the evaluator's content fingerprint (see `hashtune.task_identity`).
        """
        kw = StudySpec.of(spec, fields)
        store = open_store(storage)
        record, recipe, queued = prepare_create(
            name, store, kw, load_if_exists, allow_config_change
        )
        study = cls(store, record, recipe, join(store, record, recipe))
        for dna in queued:
            study.enqueue(dna)
        return study

    @classmethod
    def load(
        cls,
        name: str,
        *,
        storage: str | Store = DEFAULT_STORAGE,
        space: Space | None = None,
        evaluator: Any = None,
        searcher: Searcher | Any = None,
        executor: Executor | str | None = None,
        pruner: Any = None,
        task: str | None = None,
        liveness: Any = None,
    ) -> Study:
        """Open an existing study; components not given are rebuilt from its recorded config.

        The study keeps its recorded task; an evaluator whose fingerprint changed is refused
        unless `task` repeats the recorded one.
        """
        store = open_store(storage)
        record = store.studies.require(name)
        given = {"space": space, "evaluator": evaluator, "searcher": searcher}
        given |= {"executor": executor, "pruner": pruner, "task": task, "liveness": liveness}
        recipe = prepare_load(record, given)
        return cls(store, record, recipe, join(store, record, recipe))

    def _restore_searcher(self) -> None:
        """Replay the stored trials into the searcher (resume without re-proposing).

        Only number, state, DNA JSON and values are read; proposals decode their DNA (and build
        their candidate) only if the searcher uses them (see `StoredProposal`).
        """
        with paused_gc():  # a 10k-trial history is ~10^5 objects: no cyclic GC passes over them
            history: list[tuple[Proposal, Feedback | None]] = [
                (StoredProposal(number, dna, self.space), stored_feedback(state, values))
                for number, state, dna, values in self.store.queries.history(self.study_id)
            ]
            monitor = self.parts.pruner
            if monitor.pruner is not None:  # pruners learn every finished trial, curves too
                monitor.restore(self.store.trials.list(self.study_id))
            self.searcher.restore(history)
            self.peers.mark_known(p.number for p, _ in history)

    # -- running -----------------------------------------------------------------------------

    @property
    def pruner(self) -> Any:
        """The study's pruner (None: no pruning)."""
        return self.parts.pruner.pruner

    @property
    def stop_requested(self) -> bool:
        """Whether `stop()` was called during the current `optimize`."""
        return self.parts.stop.is_set()

    @property
    def executor(self) -> Executor:
        """The executor (built on first use)."""
        if self._executor is None:
            self._executor = self._executor_factory()
        return self._executor

    def optimize(
        self,
        n_trials: int | None = None,
        timeout: float | None = None,
        *,
        max_evaluations: int | None = None,
        trial_timeout: float | None = None,
        total_trials: int | None = None,
        max_retries: int = 0,
        show_progress: bool = False,
        catch: Sequence[type[BaseException]] | type[BaseException] | None = None,
        callbacks: Sequence[Callable[[Study, TrialRecord], Any]] = (),
    ) -> None:
        """Propose and score up to `n_trials` more candidates (or until `timeout` seconds pass,
        or `max_evaluations` paid evaluations were started, or the study holds `total_trials`
        counted across every worker sharing it); cached trials cost no evaluation. A trial whose
        worker died is proposed again up to `max_retries` times.

        `catch` as in Optuna (see `hashtune.failures`: by default only an exception raised by
        each of the call's first 3 evaluations stops it); each `callbacks` entry is called as
        `fn(study, trial)` after every finished trial."""
        budget = Budget(n_trials, max_evaluations, timeout, total_trials, max_retries)
        watch = FailureWatch(self.name, catch if catch is not None else self.catch)
        for fn in callbacks:
            if not callable(fn):
                raise TypeError(f"`callbacks` entries must be fn(study, trial), got {fn!r}")
        self.parts.stop.clear()
        reporter = None
        if show_progress:
            from hashtune.cli.progress import ProgressReporter

            reporter = ProgressReporter(self, n_trials)
        loop = OptimizeLoop(
            self.parts,
            self.executor,
            self.evaluator,
            budget,
            trial_timeout_s=trial_timeout,
            reporter=reporter,
            failures=watch,
            callbacks=[partial(fn, self) for fn in callbacks],
            keep_artifacts=partial(keep_artifacts, self),
        )
        finished = False
        try:
            if reporter is not None:
                with reporter:
                    loop.run()
            else:
                loop.run()
            finished = True
        finally:
            self.close_executor(wait=finished)  # interrupted: kill what still runs

    def stop(self) -> None:
        """Ask a running `optimize` to stop launching trials (those in flight finish)."""
        self.parts.stop.set()

    def enqueue(self, candidate: Any, *, skip_if_exists: bool = True) -> bool:
        """Have `candidate` (a candidate, its DNA, or text the space parses) proposed next, before
        the searcher is asked (the searcher learns it when it finishes, as any trial).

        Returns False, doing nothing, when the study already has a trial with that DNA or it is
        already queued, unless `skip_if_exists` is False (then it is queued again).
        """
        dna = candidate_dna(self.space, candidate)
        key = dna_json_key(self.space.dna_to_json(dna))
        queue = self.parts.queue
        if skip_if_exists:  # an interrupted trial did not evaluate its candidate: queue it again
            if key in queue.keys or self.store.queries.has_dna(
                self.study_id, self.space.dna_to_json(dna), skip_states=(TrialState.INTERRUPTED,)
            ):
                return False
        queue.put(dna, key)
        return True

    # -- ask / tell --------------------------------------------------------------------------

    def ask(self) -> AskedTrial:
        """Propose the next candidate as a RUNNING trial (see `hashtune.ask_tell`)."""
        return self._ask_tell.ask()

    def tell(
        self,
        trial: AskedTrial | int,
        values: float | Sequence[float] | None = None,
        state: Any = None,
    ) -> TrialRecord:
        """Finish an asked trial: with `values` (COMPLETE), `state` ("FAILED"/"PRUNED" or
        Optuna's `TrialState`), or nothing for a cached one (CACHED, served from the cache).
        The searcher and the pruner learn it; the score enters the cache."""
        return self._ask_tell.tell(trial, values, state)

    def set_trial_user_attr(self, number: int, key: str, value: Any) -> None:
        """Store `value` (JSON) under `key` in trial `number`'s `user_attrs`, finished or not."""
        self._ask_tell.set_user_attr(number, key, value)

    def pruning_callback(self, number: int = -1) -> Callable[..., bool] | None:
        """What the executor asks at each step reported by trial `number` (None: no pruner)."""
        return self.parts.pruner.callback(number)

    # -- closing -----------------------------------------------------------------------------

    def close(self) -> None:
        """Shut down this study's executor and free its worker slot for a later worker."""
        self.close_executor()
        self._ask_tell.close()  # asked trials left open keep their heartbeat no longer
        self.store.workers.leave(self.study_id, self.worker)

    def close_executor(self, wait: bool = True) -> None:
        """Shut down the executor this study built (a given one is left to its owner);
        `wait=False` kills running evaluations instead of waiting for them."""
        if self._executor is not None and self._owns_executor:
            self._executor.shutdown(wait=wait)
            self._executor = None
