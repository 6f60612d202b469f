"""How `Study.create` / `Study.load` turn what they are given into a study's parts.

Everything is built and checked before anything is written (a bad component creates no study);
then the study row is created or loaded, and `join` takes this worker's slot and builds what is
still a name (the searcher seeded from the study seed and the slot, the executor, the pruner).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import pyglove as pg

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
from hashtune.evaluators.base import Evaluator
from hashtune.evaluators.executors import Executor
from hashtune.evaluators.executors.registry import executor_names, make_executor, require_ray
from hashtune.evaluators.registry import make_evaluator
from hashtune.hashing.cache_policy import CacheConfig
from hashtune.liveness import LivenessConfig, worker_seed
from hashtune.optuna_compat import (
    build_pruner,
    normalize_directions,
    optuna_searcher,
    pruner_spec,
    searcher_spec,
)
from hashtune.recovery import new_worker_id
from hashtune.registry import Component
from hashtune.search.base import Searcher
from hashtune.search.pruners import Pruner
from hashtune.search.registry import make_searcher
from hashtune.space_registry import make_space
from hashtune.spaces.base import Space
from hashtune.store import Store, StudyExistsError, StudyRecord
from hashtune.task_identity import TaskIdentity, new_task, resumed_task

DEFAULT_STORAGE = "sqlite:///hashtune.db"


@dataclass(frozen=True)
class StudySpec:
    """What `Study.create` builds a study from (its keyword arguments, see there).

    Each component is a registered name (recorded in the study's config with its `*_args`, so
    `Study.load` rebuilds it) or an object (passed again on load).
    """

    space: Space | str | Component
    evaluator: Evaluator | str | Component
    searcher: Searcher | str | Component | Any = "regularized_evolution"
    directions: Sequence[str] | str | None = None
    direction: str | None = None
    seed: int = 0
    executor: Executor | str | Component = "inprocess"
    cache: CacheConfig | dict[str, Any] | None = None
    pruner: Pruner | str | Component | Any = None
    space_args: dict[str, Any] | None = None
    evaluator_args: dict[str, Any] | None = None
    searcher_args: dict[str, Any] | None = None
    executor_args: dict[str, Any] | None = None
    pruner_args: dict[str, Any] | None = None
    enqueue: Sequence[Any] = ()
    task: str | None = None
    liveness: LivenessConfig | dict[str, Any] | None = None

    @classmethod
    def of(cls, spec: StudySpec | None, fields: dict[str, Any]) -> StudySpec:
        """`spec` with `fields` replacing its values (or a spec of `fields` alone); a
        `Component` given for a part becomes its name and `*_args`."""
        spec = cls(**fields) if spec is None else (replace(spec, **fields) if fields else spec)
        unpacked: dict[str, Any] = {}
        for part in _PARTS:
            given = getattr(spec, part)
            if isinstance(given, Component):
                name, args = Component.unpack(given, getattr(spec, f"{part}_args"))
                unpacked |= {part: name, f"{part}_args": args}
        return replace(spec, **unpacked) if unpacked else spec


#: The parts of a study that are components (a name and arguments, or an object).
_PARTS = ("space", "evaluator", "searcher", "executor", "pruner")


@dataclass(frozen=True)
class Given:
    """A component as given: a registered name or an object, and the name's arguments."""

    value: Any
    args: dict[str, Any] | None = None


@dataclass(frozen=True)
class Recipe:
    """What a worker of a study is built from (see `join`)."""

    space: Space
    evaluator: Evaluator
    #: The searcher built with the study seed (or its name); `searcher_name` rebuilds it with
    #: another worker's seed.
    searcher: Given
    executor: Given
    pruner: Given
    cache: CacheConfig
    seed: int
    identity: TaskIdentity
    liveness: LivenessConfig
    searcher_name: Any = None


@dataclass(frozen=True)
class Joined:
    """This worker's seat in a study and the components built for it."""

    worker: str
    slot: int
    searcher: Searcher
    pruner: Pruner | None
    executor_factory: Callable[[], Executor]
    owns_executor: bool


def open_store(storage: str | Store) -> Store:
    """The store `storage` names (or is)."""
    return storage if isinstance(storage, Store) else Store(storage)


def prepare_create(
    name: str, store: Store, kw: StudySpec, load_if_exists: bool, allow_change: bool
) -> tuple[StudyRecord, Recipe, list[pg.DNA]]:
    """Check and build `kw`, then create (or load) the study row; the row, the recipe, and
    the DNA to enqueue."""
    searcher, searcher_args = searcher_spec(kw.searcher, kw.searcher_args)  # TypeError first
    pruner, pruner_args = pruner_spec(kw.pruner, kw.pruner_args)
    direction, seed, executor = kw.direction, kw.seed, kw.executor
    try:
        directions = normalize_directions(direction, kw.directions)
    except ValueError as e:
        raise ComponentError("direction" if direction else "directions", "", e) from None
    existing = store.studies.get(name)
    if existing is not None and not load_if_exists:
        raise StudyExistsError(name, store.url)
    space, space_args = kw.space, kw.space_args
    evaluator, evaluator_args = kw.evaluator, kw.evaluator_args
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
    for i, item in enumerate(kw.enqueue):
        try:
            queued.append(candidate_dna(space_obj, item))
        except ValueError as e:
            raise ComponentError(f"enqueue.{i}", f"({clip_repr(item)})", e) from None
    _check_executor(executor)
    cache = kw.cache
    try:
        cache_cfg = cache if isinstance(cache, CacheConfig) else CacheConfig(**(cache or {}))
    except (TypeError, ValueError) as e:
        raise ComponentError("cache", repr(cache), e) from e
    task = kw.task
    if existing is None:
        identity = new_task(name, evaluator_obj, task)
    else:
        check_same_directions(existing, dirs)
        identity = resumed_task(existing, evaluator_obj, task)
    executor_args = kw.executor_args
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
        live = LivenessConfig.of(kw.liveness)
    except ValueError as e:
        raise ComponentError("liveness", repr(kw.liveness), e) from e
    record, created = existing, False
    if record is None:
        try:
            record, created = store.studies.create(name, list(dirs), config), True
        except StudyExistsError:  # a peer created it since we looked: load theirs
            if not load_if_exists:
                raise
            record = store.studies.require(name)
            check_same_directions(record, dirs)
            identity = resumed_task(record, evaluator_obj, task)
    if not created and not allow_change:
        check_same_config(record, config)
    elif not created:
        record = apply_config_change(store, record, config)
    recipe = Recipe(
        space_obj, evaluator_obj, Given(searcher_obj, searcher_args), Given(executor, executor_args),
        Given(pruner_obj), cache_cfg, seed, identity, live, searcher_name=searcher,
    )  # fmt: skip
    return record, recipe, queued


def _check_executor(executor: Any) -> None:
    if isinstance(executor, str) and executor not in executor_names():
        raise ComponentError(
            "executor", repr(executor), f"unknown executor; known: {', '.join(executor_names())}"
        )
    if executor == "ray":
        try:
            require_ray()
        except ValueError as e:
            raise ComponentError("executor", repr(executor), e) from None


def prepare_load(record: StudyRecord, given: dict[str, Any]) -> Recipe:
    """The recipe of the stored study `record`: components in `given` (`Study.load`'s keyword
    arguments) win, the others are rebuilt from its recorded config."""
    cfg, name = record.config, record.name
    searcher, pruner = given["searcher"], given["pruner"]
    space = given["space"]
    searcher_args_given = None
    if searcher is not None and not isinstance(searcher, Searcher):
        searcher, searcher_args_given = searcher_spec(searcher, None)
        if not isinstance(searcher, str):
            searcher = optuna_searcher(searcher, space, record.directions, cfg.get("seed", 0))
    if pruner is not None:
        pruner_name, pruner_given_args = pruner_spec(pruner, None)
        pruner = build_pruner(pruner_name, record.directions[0], **(pruner_given_args or {}))

    def rebuilt(kind: str, obj: Any, build: Callable[..., Any]) -> Any:
        if obj is not None:
            return obj
        spec = cfg.get(kind)
        if not spec:
            raise ValueError(
                f"study {name!r} was created with a Python {kind} object; pass `{kind}=` "
                f"to Study.load"
            )
        return build(spec["name"], **spec.get("args", {}))

    space_obj = rebuilt("space", space, make_space)
    evaluator_obj = rebuilt("evaluator", given["evaluator"], make_evaluator)
    searcher_cfg = cfg.get("searcher") or {}
    searcher_given = searcher if searcher is not None else searcher_cfg.get("name")
    if searcher_given is None:
        raise ValueError(f"study {name!r} was created with a Python searcher; pass `searcher=`")
    exec_spec = cfg.get("executor") or {"name": "inprocess", "args": {}}
    executor = given["executor"]
    pruner_cfg = cfg.get("pruner") or {}
    return Recipe(
        space_obj,
        evaluator_obj,
        Given(searcher_given, searcher_args_given or searcher_cfg.get("args")),
        Given(executor if executor is not None else exec_spec["name"], exec_spec.get("args")),
        Given(pruner if pruner is not None else pruner_cfg.get("name"), pruner_cfg.get("args")),
        CacheConfig(**cfg.get("cache", {})),
        int(cfg.get("seed", 0)),
        resumed_task(record, evaluator_obj, given["task"]),
        LivenessConfig.of(given["liveness"]),
    )


def join(store: Store, record: StudyRecord, recipe: Recipe) -> Joined:
    """Join the study as a worker (a slot of its own) and build what is still a name; the
    searcher is seeded from (study seed, slot), so parallel workers propose differently."""
    dirs = tuple(record.directions)
    worker, live = new_worker_id(), recipe.liveness
    slot = store.workers.join(
        record.id, worker, heartbeat_s=live.heartbeat_s, stale_beats=live.stale_beats
    )
    own_seed = worker_seed(recipe.seed, slot)
    searcher = recipe.searcher.value
    if isinstance(recipe.searcher_name, str) and own_seed != recipe.seed:
        searcher = recipe.searcher_name  # built for validation with the study seed: rebuild
    if isinstance(searcher, str):
        args = recipe.searcher.args or {}
        searcher = make_searcher(searcher, recipe.space, dirs, own_seed, **args)
    executor = recipe.executor.value
    if isinstance(executor, str):
        exec_name, exec_args = executor, dict(recipe.executor.args or {})

        def factory() -> Executor:
            return make_executor(exec_name, **exec_args)
    else:

        def factory() -> Executor:
            return executor

    pruner = recipe.pruner.value
    if isinstance(pruner, str):
        pruner = build_pruner(pruner, dirs[0], **(recipe.pruner.args or {}))
    return Joined(worker, slot, searcher, pruner, factory, isinstance(executor, str))
