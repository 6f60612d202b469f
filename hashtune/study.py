"""`Study`: a named search recorded in the store, resumable from it.

A study binds a space, a searcher, an evaluator and an executor to a row in the store. Components
given by registered name (as experiment files do) are recorded in the study's config, so
`Study.load(name)` rebuilds them; components given as Python objects must be passed again on load.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from hashtune.ask_tell import AskTellMixin
from hashtune.components import (
    ComponentError,
    build_component,
    candidate_dna,
    check_same_config,
    check_same_directions,
    clip_repr,
    component_spec,
    resolve_directions,
)
from hashtune.config_change import apply_config_change
from hashtune.equivalence_cache import CacheConfig, EquivalenceCache
from hashtune.evaluators.base import Evaluator
from hashtune.evaluators.executor_registry import executor_names, make_executor, require_ray
from hashtune.evaluators.executors import Executor
from hashtune.failures import FailureWatch
from hashtune.liveness import LivenessConfig, worker_seed
from hashtune.loop import Budget, OptimizeLoop
from hashtune.optuna_compat import (
    build_pruner,
    normalize_directions,
    optuna_searcher,
    pruner_spec,
    searcher_spec,
)
from hashtune.peer_sync import PeerSync
from hashtune.pruning import StudyPruning
from hashtune.recovery import new_worker_id, recover_dead_trials, was_interrupted
from hashtune.registry import make_evaluator, make_space
from hashtune.search.base import Feedback, Proposal, Searcher, StoredProposal
from hashtune.search.pruners import Pruner
from hashtune.search.registry import make_searcher
from hashtune.search.warm_start import WarmStartQueue, next_proposal
from hashtune.spaces.base import Space
from hashtune.store import Store, StudyExistsError, TrialRecord
from hashtune.task_identity import TaskIdentity, new_task, resumed_task
from hashtune.view import SCORED, StudyView

log = logging.getLogger(__name__)

DEFAULT_STORAGE = "sqlite:///hashtune.db"


class Study(AskTellMixin, StudyView):
    """A search over `space` scored by `evaluator`, proposed by `searcher`, kept in a store."""

    def __init__(
        self,
        *,
        store: Store,
        record: Any,
        space: Space,
        evaluator: Evaluator,
        searcher: Searcher,
        executor_factory: Callable[[], Executor],
        cache: CacheConfig,
        pruner: Pruner | None,
        task: str,
        owns_executor: bool = True,
        worker: str | None = None,
        slot: int = 0,
        liveness: LivenessConfig | None = None,
    ):
        self.store = store
        self.record = record
        self.space = space
        self.evaluator = evaluator
        self.searcher = searcher
        self.cache_config = cache
        self.pruner = pruner
        self.task = task
        #: This worker's run id (host + random token) and its slot in the study (0, 1, ...).
        self.worker = worker or new_worker_id()
        self.slot = slot
        self.liveness = liveness or LivenessConfig()
        self.cache = EquivalenceCache(
            store, self.task, cache, seed=searcher.seed, stale_after_s=self.liveness.stale_after_s
        )
        self.stop_requested = False
        #: `optimize`'s default `catch` (experiment files set `(BaseException,)`: never stop).
        self.catch: tuple[type[BaseException], ...] | None = None
        self._executor_factory = executor_factory
        self._owns_executor = owns_executor
        self._enqueued: set[str] = set()
        #: Warm-start DNA proposed before the searcher is asked (`enqueue`, retries).
        self.warm_start = WarmStartQueue(self.space)
        self._executor: Executor | None = None
        self.pruning = StudyPruning(pruner)
        dead = recover_dead_trials(
            store, self.study_id, self.worker,
            self.liveness.stale_after_s, self.liveness.stale_beats,
        )  # fmt: skip
        self.recovered = [t.number for t in dead]
        if self.recovered:
            log.warning(
                "study %r: marked %d interrupted trials FAILED", self.name, len(self.recovered)
            )
        self.peers = PeerSync(store, self.study_id, self.worker, space, searcher)
        self._restore_searcher()

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        name: str,
        *,
        space: Space | str,
        evaluator: Evaluator | str,
        searcher: Searcher | str | Any = "regularized_evolution",
        storage: str | Store = DEFAULT_STORAGE,
        directions: Sequence[str] | str | None = None,
        seed: int = 0,
        executor: Executor | str = "inprocess",
        cache: CacheConfig | dict[str, Any] | None = None,
        pruner: Pruner | str | Any = None,
        space_args: dict[str, Any] | None = None,
        evaluator_args: dict[str, Any] | None = None,
        searcher_args: dict[str, Any] | None = None,
        executor_args: dict[str, Any] | None = None,
        pruner_args: dict[str, Any] | None = None,
        enqueue: Sequence[Any] = (),
        load_if_exists: bool = False,
        allow_config_change: bool = False,
        task: str | None = None,
        liveness: LivenessConfig | dict[str, Any] | None = None,
        direction: str | None = None,
    ) -> Study:
        """Create the study `name` in `storage` (or load it when `load_if_exists`; any number of
        workers may do so at once on a new study).

        `searcher` is a registered name, a hashtune `Searcher` or any Optuna sampler instance;
        `pruner` a name, a hashtune `Pruner` or any Optuna pruner instance (both recorded by class
        and arguments, see `hashtune.optuna_compat`). `direction="minimize"` or `directions=`
        (a string or a list) give the objectives' directions (default: the evaluator's, else
        maximize).

        `enqueue` candidates are checked against the space before anything is written. Loading a
        study recorded with another space or searcher is refused unless `allow_config_change`.
        `task` names the task the cache entries belong to, so studies share them on purpose;
        by default it is the evaluator's content fingerprint (see `hashtune.task_identity`).
        """
        searcher, searcher_args = searcher_spec(searcher, searcher_args)  # TypeError first
        pruner, pruner_args = pruner_spec(pruner, pruner_args)
        try:
            directions = normalize_directions(direction, directions)
        except ValueError as e:
            raise ComponentError("direction" if direction else "directions", "", e) from None
        store = storage if isinstance(storage, Store) else Store(storage)
        existing = store.get_study(name)
        if existing is not None and not load_if_exists:
            raise StudyExistsError(name, store.url)
        # Build everything before writing to the store: a bad component creates no study.
        space_obj = build_component("space", space, space_args, make_space)
        evaluator_obj = build_component("evaluator", evaluator, evaluator_args, make_evaluator)
        dirs = resolve_directions(directions, evaluator_obj, searcher)
        if not isinstance(searcher, (str, Searcher)):  # an Optuna sampler used as given
            searcher = optuna_searcher(searcher, space_obj, dirs, seed)
        searcher_obj = build_component(
            "searcher",
            searcher,
            searcher_args,
            lambda n, **a: make_searcher(n, space_obj, dirs, seed, **a),
        )
        if pruner is not None and not isinstance(pruner, (str, Pruner)):
            pruner = build_pruner(pruner, dirs[0])
        pruner_obj = build_component(
            "pruner", pruner, pruner_args, lambda n, **a: build_pruner(n, dirs[0], **a)
        )
        queued = []
        for i, item in enumerate(enqueue):
            try:
                queued.append(candidate_dna(space_obj, item))
            except ValueError as e:
                raise ComponentError(f"enqueue.{i}", f"({clip_repr(item)})", e) from None
        if isinstance(executor, str) and executor not in executor_names():
            raise ComponentError(
                "executor",
                repr(executor),
                f"unknown executor; known: {', '.join(executor_names())}",
            )
        if executor == "ray":
            try:
                require_ray()
            except ValueError as e:
                raise ComponentError("executor", repr(executor), e) from None
        try:
            cache_cfg = cache if isinstance(cache, CacheConfig) else CacheConfig(**(cache or {}))
        except (TypeError, ValueError) as e:
            raise ComponentError("cache", repr(cache), e) from e
        if existing is None:
            identity = new_task(name, evaluator_obj, task)
        else:
            check_same_directions(existing, dirs)
            identity = resumed_task(existing, evaluator_obj, task)
        config = {
            "space": component_spec(space, space_args),
            "evaluator": component_spec(evaluator, evaluator_args),
            "searcher": component_spec(searcher, searcher_args),
            "executor": component_spec(executor, executor_args),
            "pruner": component_spec(pruner, pruner_args),
            "cache": asdict(cache_cfg),
            "seed": seed,
            "task": identity.task,
            "task_identity": identity.as_config(),
            "objectives": list(evaluator_obj.objectives),
        }
        try:
            live = LivenessConfig.of(liveness)
        except ValueError as e:
            raise ComponentError("liveness", repr(liveness), e) from e
        record, created = existing, False
        if record is None:
            try:
                record, created = store.create_study(name, list(dirs), config), True
            except StudyExistsError:  # a peer created it since we looked: load theirs
                if not load_if_exists:
                    raise
                record = store.require_study(name)
                check_same_directions(record, dirs)
                identity = resumed_task(record, evaluator_obj, task)
        if not created and not allow_config_change:
            check_same_config(record, config)
        elif not created:
            record = apply_config_change(store, record, config)
        study = cls._assemble(
            store, record, space_obj, evaluator_obj, searcher_obj, searcher_args, executor,
            executor_args, pruner_obj, None, cache_cfg, seed, identity, live, searcher,
        )  # fmt: skip
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
        evaluator: Evaluator | None = None,
        searcher: Searcher | Any = None,
        executor: Executor | str | None = None,
        pruner: Pruner | Any = None,
        task: str | None = None,
        liveness: LivenessConfig | dict[str, Any] | None = None,
    ) -> Study:
        """Open an existing study; components not given are rebuilt from its recorded config.

        The study keeps its recorded task; an evaluator whose fingerprint changed is refused
        unless `task` repeats the recorded one.
        """
        store = storage if isinstance(storage, Store) else Store(storage)
        record = store.require_study(name)
        cfg = record.config
        searcher_args_given = None
        if searcher is not None and not isinstance(searcher, Searcher):
            searcher, searcher_args_given = searcher_spec(searcher, None)
            if not isinstance(searcher, str):
                searcher = optuna_searcher(searcher, space, record.directions, cfg.get("seed", 0))
        if pruner is not None:
            pruner_name, pruner_given_args = pruner_spec(pruner, None)
            pruner = build_pruner(pruner_name, record.directions[0], **(pruner_given_args or {}))

        def rebuilt(kind: str, given: Any, build: Callable[..., Any]) -> Any:
            if given is not None:
                return given
            spec = cfg.get(kind)
            if not spec:
                raise ValueError(
                    f"study {name!r} was created with a Python {kind} object; pass `{kind}=` "
                    f"to Study.load"
                )
            return build(spec["name"], **spec.get("args", {}))

        space_obj = rebuilt("space", space, make_space)
        evaluator_obj = rebuilt("evaluator", evaluator, make_evaluator)
        seed = int(cfg.get("seed", 0))
        searcher_given = (
            searcher if searcher is not None else (cfg.get("searcher") or {}).get("name")
        )
        if searcher_given is None:
            raise ValueError(f"study {name!r} was created with a Python searcher; pass `searcher=`")
        exec_spec = cfg.get("executor") or {"name": "inprocess", "args": {}}
        pruner_cfg = cfg.get("pruner") or {}
        return cls._assemble(
            store, record, space_obj, evaluator_obj, searcher_given,
            searcher_args_given or (cfg.get("searcher") or {}).get("args"),
            executor if executor is not None else exec_spec["name"], exec_spec.get("args"),
            pruner if pruner is not None else pruner_cfg.get("name"), pruner_cfg.get("args"),
            CacheConfig(**cfg.get("cache", {})), seed, resumed_task(record, evaluator_obj, task),
            LivenessConfig.of(liveness),
        )  # fmt: skip

    @classmethod
    def _assemble(
        cls, store, record, space, evaluator, searcher, searcher_args, executor, executor_args,
        pruner, pruner_args, cache_cfg, seed, identity: TaskIdentity, liveness, searcher_name=None,
    ) -> Study:  # fmt: skip
        """Join the study as a worker (a slot of its own) and build what is still a name; the
        searcher is seeded from (study seed, slot), so parallel workers propose differently."""
        dirs = tuple(record.directions)
        worker = new_worker_id()
        slot = store.join_study(
            record.id, worker, heartbeat_s=liveness.heartbeat_s, stale_beats=liveness.stale_beats
        )
        own_seed = worker_seed(seed, slot)
        if isinstance(searcher_name, str) and own_seed != seed:
            searcher = searcher_name  # built for validation with the study seed: rebuild
        if isinstance(searcher, str):
            searcher = make_searcher(searcher, space, dirs, own_seed, **(searcher_args or {}))
        owns_executor = isinstance(executor, str)
        if isinstance(executor, str):
            name, args = executor, dict(executor_args or {})

            def factory() -> Executor:
                return make_executor(name, **args)
        else:
            exec_obj = executor

            def factory() -> Executor:
                return exec_obj

        if isinstance(pruner, str):
            pruner = build_pruner(pruner, dirs[0], **(pruner_args or {}))
        return cls(
            store=store,
            record=record,
            space=space,
            evaluator=evaluator,
            searcher=searcher,
            executor_factory=factory,
            cache=cache_cfg,
            pruner=pruner,
            task=identity.task,
            owns_executor=owns_executor,
            worker=worker,
            slot=slot,
            liveness=liveness,
        )

    def _restore_searcher(self) -> None:
        """Replay the stored trials into the searcher (resume without re-proposing).

        Only number, state, DNA JSON and values are read; proposals decode their DNA (and build
        their candidate) only if the searcher uses them (see `StoredProposal`).
        """
        history: list[tuple[Proposal, Feedback | None]] = [
            (
                StoredProposal(number, dna, self.space),
                Feedback(state, values if state in SCORED else None),  # type: ignore[arg-type]
            )
            for number, state, dna, values in self.store.history(self.study_id)
        ]
        if self.pruning.pruner is not None:  # pruners learn every finished trial, curves included
            self.pruning.restore(self.store.trials(self.study_id))
        self.searcher.restore(history)
        self.peers.mark_known(p.number for p, _ in history)

    # -- running -----------------------------------------------------------------------------

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
        self.stop_requested = False
        reporter = None
        if show_progress:
            from hashtune.progress import ProgressReporter

            reporter = ProgressReporter(self, n_trials)
        finished = False
        try:
            if reporter is not None:
                with reporter:
                    OptimizeLoop(self, budget, trial_timeout, reporter, watch, callbacks).run()
            else:
                OptimizeLoop(self, budget, trial_timeout, None, watch, callbacks).run()
            finished = True
        finally:
            self.close_executor(wait=finished)  # interrupted: kill what still runs

    def stop(self) -> None:
        """Ask a running `optimize` to stop launching trials (those in flight finish)."""
        self.stop_requested = True

    def enqueue(self, candidate: Any) -> bool:
        """Have `candidate` (a candidate, its DNA, or text the space parses) proposed next.

        Returns False, doing nothing, when the study already has a trial with that DNA or it is
        already queued.
        """
        dna = candidate_dna(self.space, candidate)
        key = json.dumps(self.space.dna_to_json(dna), sort_keys=True, default=repr)
        seen = {  # an interrupted trial did not evaluate its candidate: it may be queued again
            json.dumps(t.dna, sort_keys=True, default=repr)
            for t in self.trials()
            if not was_interrupted(t)
        }
        if key in seen or key in self._enqueued:
            return False
        self.warm_start.push(dna)
        self._enqueued.add(key)
        return True

    def propose(self, number: int) -> Proposal:
        """Trial `number`'s proposal: the next warm-start DNA if any, else the searcher's."""
        return next_proposal(self.warm_start, self.searcher, number)

    def pruning_callback(self, number: int = -1) -> Callable[..., bool] | None:
        """What the executor asks at each step reported by trial `number` (None: no pruner)."""
        return self.pruning.callback(number)

    def on_trial_finished(self, record: TrialRecord) -> None:
        """Bookkeeping after each finished trial (what the pruner learns)."""
        self.pruning.finished(record)

    def close(self) -> None:
        """Shut down this study's executor and free its worker slot for a later worker."""
        self.close_executor()
        beats = getattr(self, "_ask_beats", None)
        if beats is not None:  # asked trials left open keep their heartbeat no longer
            beats.__exit__()
        self.store.leave_study(self.study_id, self.worker)

    def close_executor(self, wait: bool = True) -> None:
        """Shut down the executor this study built (a given one is left to its owner);
        `wait=False` kills running evaluations instead of waiting for them."""
        if self._executor is not None and self._owns_executor:
            self._executor.shutdown(wait=wait)
            self._executor = None
