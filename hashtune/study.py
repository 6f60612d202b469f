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

import pyglove as pg

from hashtune.equivalence_cache import CacheConfig, EquivalenceCache
from hashtune.evaluators.base import Evaluator
from hashtune.evaluators.executor_registry import executor_names, make_executor
from hashtune.evaluators.executors import Executor
from hashtune.liveness import LivenessConfig, worker_seed
from hashtune.loop import Budget, OptimizeLoop
from hashtune.peer_sync import PeerSync
from hashtune.recovery import new_worker_id, recover_dead_trials, was_interrupted
from hashtune.registry import make_evaluator, make_space
from hashtune.search.base import Feedback, Proposal, Searcher, StoredProposal
from hashtune.search.pruners import Pruner, make_pruner
from hashtune.search.registry import make_searcher
from hashtune.spaces.base import Space
from hashtune.store import Store, StudyExistsError, TrialRecord
from hashtune.task_identity import TaskIdentity, new_task, resumed_task
from hashtune.view import SCORED, StudyView

log = logging.getLogger(__name__)

DEFAULT_STORAGE = "sqlite:///hashtune.db"


class ComponentError(ValueError):
    """A component (space, evaluator, searcher, ...) that cannot be built; `field` names which."""

    def __init__(self, field: str, given: str, error: Any):
        self.field = field
        super().__init__(f"`{field}` {given}: {error}")


def _build(field: str, given: Any, args: dict[str, Any] | None, factory: Callable[..., Any]):
    """`factory(given, **args)` when `given` is a registered name; objects pass through."""
    if not isinstance(given, str):
        return given
    try:
        return factory(given, **(args or {}))
    except Exception as e:
        raise ComponentError(field, f"({given!r}, args {dict(args or {})!r})", e) from e


def _spec(given: Any, args: dict[str, Any] | None) -> dict[str, Any] | None:
    """The config entry recording how a component was built (None for a Python object)."""
    if isinstance(given, str):
        return {"name": given, "args": dict(args or {})}
    return None


class Study(StudyView):
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
        self._executor_factory = executor_factory
        self._owns_executor = owns_executor
        self._enqueued: set[str] = set()
        self._executor: Executor | None = None
        self._curves: list[tuple[tuple[int, float], ...]] = []
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
        searcher: Searcher | str = "regularized_evolution",
        storage: str | Store = DEFAULT_STORAGE,
        directions: Sequence[str] | None = None,
        seed: int = 0,
        executor: Executor | str = "inprocess",
        cache: CacheConfig | dict[str, Any] | None = None,
        pruner: Pruner | str | None = None,
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
    ) -> Study:
        """Create the study `name` in `storage` (or load it when `load_if_exists`; any number of
        workers may do so at once on a new study).

        `enqueue` candidates are checked against the space before anything is written. Loading a
        study recorded with another space or searcher is refused unless `allow_config_change`.
        `task` names the task the cache entries belong to, so studies share them on purpose;
        by default it is the evaluator's content fingerprint (see `hashtune.task_identity`).
        """
        store = storage if isinstance(storage, Store) else Store(storage)
        existing = store.get_study(name)
        if existing is not None and not load_if_exists:
            raise StudyExistsError(name, store.url)
        # Build everything before writing to the store: a bad component creates no study.
        space_obj = _build("space", space, space_args, make_space)
        evaluator_obj = _build("evaluator", evaluator, evaluator_args, make_evaluator)
        dirs = _directions(directions, evaluator_obj, searcher)
        searcher_obj = _build(
            "searcher",
            searcher,
            searcher_args,
            lambda n, **a: make_searcher(n, space_obj, dirs, seed, **a),
        )
        pruner_obj = _build(
            "pruner", pruner, pruner_args, lambda n, **a: make_pruner(n, dirs[0], **a)
        )
        queued = []
        for i, item in enumerate(enqueue):
            try:
                queued.append(candidate_dna(space_obj, item))
            except ValueError as e:
                raise ComponentError(f"enqueue.{i}", f"({_clip(item)})", e) from None
        if isinstance(executor, str) and executor not in executor_names():
            raise ComponentError(
                "executor",
                repr(executor),
                f"unknown executor; known: {', '.join(executor_names())}",
            )
        try:
            cache_cfg = cache if isinstance(cache, CacheConfig) else CacheConfig(**(cache or {}))
        except (TypeError, ValueError) as e:
            raise ComponentError("cache", repr(cache), e) from e
        if existing is None:
            identity = new_task(name, evaluator_obj, task)
        else:
            _check_same_directions(existing, dirs)
            identity = resumed_task(existing, evaluator_obj, task)
        config = {
            "space": _spec(space, space_args),
            "evaluator": _spec(evaluator, evaluator_args),
            "searcher": _spec(searcher, searcher_args),
            "executor": _spec(executor, executor_args),
            "pruner": _spec(pruner, pruner_args),
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
                _check_same_directions(record, dirs)
                identity = resumed_task(record, evaluator_obj, task)
        if not created and not allow_config_change:
            _check_same_config(record, config)
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
        searcher: Searcher | None = None,
        executor: Executor | str | None = None,
        pruner: Pruner | None = None,
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
        pruner_spec = cfg.get("pruner") or {}
        return cls._assemble(
            store, record, space_obj, evaluator_obj, searcher_given,
            (cfg.get("searcher") or {}).get("args"),
            executor if executor is not None else exec_spec["name"], exec_spec.get("args"),
            pruner if pruner is not None else pruner_spec.get("name"), pruner_spec.get("args"),
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
            pruner = make_pruner(pruner, dirs[0], **(pruner_args or {}))
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
        if self.pruner is not None:
            self._curves.extend(self.store.complete_curves(self.study_id))
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
    ) -> None:
        """Propose and score up to `n_trials` more candidates (or until `timeout` seconds pass,
        or `max_evaluations` paid evaluations were started, or the study holds `total_trials`
        counted across every worker sharing it); cached trials cost no evaluation. A trial whose
        worker died is proposed again up to `max_retries` times."""
        budget = Budget(n_trials, max_evaluations, timeout, total_trials, max_retries)
        self.stop_requested = False
        reporter = None
        if show_progress:
            from hashtune.progress import ProgressReporter

            reporter = ProgressReporter(self, n_trials)
        finished = False
        try:
            if reporter is not None:
                with reporter:
                    OptimizeLoop(self, budget, trial_timeout, reporter).run()
            else:
                OptimizeLoop(self, budget, trial_timeout, None).run()
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
        self.searcher.enqueue(dna)
        self._enqueued.add(key)
        return True

    def pruning_callback(self) -> Callable[[int, float, list[tuple[int, float]]], bool] | None:
        """What the executor asks at each reported step (None: no pruner)."""
        if self.pruner is None:
            return None
        pruner, curves = self.pruner, self._curves
        return lambda step, value, _own: pruner.should_prune(step, value, curves)

    def on_trial_finished(self, record: TrialRecord) -> None:
        """Bookkeeping after each finished trial (curves for the pruner)."""
        if record.state == "COMPLETE" and record.intermediate:
            self._curves.append(record.intermediate)

    def close(self) -> None:
        """Shut down this study's executor and free its worker slot for a later worker."""
        self.close_executor()
        self.store.leave_study(self.study_id, self.worker)

    def close_executor(self, wait: bool = True) -> None:
        """Shut down the executor this study built (a given one is left to its owner);
        `wait=False` kills running evaluations instead of waiting for them."""
        if self._executor is not None and self._owns_executor:
            self._executor.shutdown(wait=wait)
            self._executor = None


def candidate_dna(space: Space, candidate: Any) -> pg.DNA:
    """The DNA of `candidate` in `space` (a candidate, its DNA, a DNA value list, or text the
    space parses); ValueError naming the candidate when it is not in the space."""
    try:
        if isinstance(candidate, str):
            candidate = space.candidate_from_text(candidate)
        if isinstance(candidate, (list, int, float)):
            candidate = pg.DNA.parse(candidate)
        if isinstance(candidate, pg.DNA):
            dna = space.dna_from_json(space.dna_to_json(candidate))
            space.materialize(dna)  # values outside the space fail here, not at ask time
            return dna
        if hasattr(space, "dna_of"):
            return space.dna_of(candidate)
        return pg.template(space.hyper_value).encode(candidate)
    except Exception as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"not a candidate of space {space.name!r}: {reason[:300]}") from None


def _directions(
    directions: Sequence[str] | None, evaluator: Evaluator, searcher: Any
) -> tuple[str, ...]:
    n = len(evaluator.objectives)
    if directions is None:
        if isinstance(searcher, Searcher):
            directions = searcher.directions
        else:
            directions = getattr(evaluator, "directions", None) or ("maximize",) * n
    dirs = tuple(directions)
    if len(dirs) != n:
        raise ComponentError(
            "directions",
            repr(list(dirs)),
            f"{len(dirs)} entries but evaluator {evaluator.name!r} has {n} objectives "
            f"{list(evaluator.objectives)!r}",
        )
    if isinstance(searcher, Searcher) and tuple(searcher.directions) != dirs:
        raise ValueError(f"searcher directions {searcher.directions!r} differ from {dirs!r}")
    return dirs


def _clip(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _check_same_config(existing: Any, config: dict[str, Any]) -> None:
    """Resuming with another space or searcher would mix two searches under one name: refuse."""
    for kind in ("space", "searcher"):
        old, new = existing.config.get(kind), config.get(kind)
        if old is None or new is None or old == new:
            continue
        raise ValueError(
            f"study {existing.name!r} was created with {kind} {_clip(old)}, not {_clip(new)}; "
            "use a new study name, or pass --allow-config-change (allow_config_change=True) "
            "to continue it with the new one"
        )


def _check_same_directions(existing: Any, dirs: tuple[str, ...]) -> None:
    """Resuming must not silently change the directions of a study (the task: `resumed_task`)."""
    if tuple(existing.directions) != dirs:
        raise ValueError(
            f"study {existing.name!r} exists with directions {tuple(existing.directions)!r}, "
            f"not {dirs!r}; use a new study name"
        )
