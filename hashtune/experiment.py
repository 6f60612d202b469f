"""Experiment files: one YAML document that names a study and everything it is built from.

Validated with pydantic before anything runs; every error names the file, the field and the value.
Components are checked by building them (space, evaluator, searcher, pruner), so a typo in a
registered name or an argument fails here, not halfway through a run.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

log = logging.getLogger(__name__)

#: Component argument names that hold file paths: relative ones resolve against the experiment file.
PATH_KEYS = ("path", "file", "table", "dir")


class ExperimentError(ValueError):
    """A bad experiment file: the message names file, field and value."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Component(_Strict):
    """A registered name (or 'package.module:factory') and its keyword arguments."""

    name: str = Field(min_length=1)
    args: dict[str, Any] = Field(default_factory=dict)


class BudgetSpec(_Strict):
    """`trials` is the study's total: a resumed run only runs what is missing."""

    trials: int | None = Field(default=None, ge=1)
    timeout_s: float | None = Field(default=None, gt=0)
    trial_timeout_s: float | None = Field(default=None, gt=0)
    max_evaluations: int | None = Field(default=None, ge=1)
    #: Times a trial whose worker died is proposed again.
    max_retries: int = Field(default=0, ge=0)


class CacheSpec(_Strict):
    enabled: bool = True
    reevaluate: int = Field(default=1, ge=1)
    audit_fraction: float = Field(default=0.0, ge=0.0, le=1.0)
    wait_timeout_s: float = Field(default=3600.0, gt=0)


class LivenessSpec(_Strict):
    """How often this worker beats, and how many missed beats make a peer dead."""

    heartbeat_s: float = Field(default=5.0, gt=0)
    stale_beats: float = Field(default=4.0, ge=2)


class Experiment(_Strict):
    """The schema of an experiment file."""

    study: str = Field(min_length=1, max_length=255)
    storage: str | None = None
    seed: int = 0
    #: Declares the task the cache entries belong to (studies naming one task share them);
    #: by default the evaluator's content fingerprint.
    task: str | None = Field(default=None, min_length=1, max_length=255)
    space: Component
    evaluator: Component
    searcher: Component = Component(name="regularized_evolution")
    executor: Component = Component(name="inprocess")
    directions: list[Literal["maximize", "minimize"]] | None = None
    direction: Literal["maximize", "minimize"] | None = None
    budget: BudgetSpec = BudgetSpec(trials=20)
    cache: CacheSpec = CacheSpec()
    liveness: LivenessSpec = LivenessSpec()
    pruner: Component | None = None
    enqueue: list[Any] = Field(default_factory=list)

    @field_validator("space", "evaluator", "searcher", "executor", "pruner", mode="before")
    @classmethod
    def _name_shorthand(cls, v: Any) -> Any:
        """Allow `searcher: tpe` as shorthand for `searcher: {name: tpe}`."""
        return {"name": v} if isinstance(v, str) else v

    @field_validator("directions", mode="before")
    @classmethod
    def _one_direction(cls, v: Any) -> Any:
        """`directions: minimize` is one direction, as `[minimize]`."""
        return [v] if isinstance(v, str) else v

    @field_validator("executor")
    @classmethod
    def _workers_positive(cls, v: Component) -> Component:
        """Executors are built when a run starts: check their worker count before anything runs."""
        n = v.args.get("max_workers")
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise ValueError(f"`args.max_workers` must be an int >= 1, got {n!r}")
        return v


def _where(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate an experiment file; raises ExperimentError naming file, field, value."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ExperimentError(f"{path}: cannot read experiment file: {e.strerror}") from e
    except UnicodeDecodeError as e:
        raise ExperimentError(
            f"{path}: not a text (UTF-8) experiment file: byte {e.object[e.start]:#04x} at "
            f"offset {e.start}"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ExperimentError(f"{path}{where}: not valid YAML: {getattr(e, 'problem', e)}") from e
    if not isinstance(data, dict):
        raise ExperimentError(f"{path}: expected a mapping of fields, got {type(data).__name__}")
    try:
        exp = Experiment.model_validate(data)
    except ValidationError as e:
        lines = [
            f"{path}: field `{_where(err['loc'])}`: {err['msg']} (got {_short(err.get('input'))})"
            for err in e.errors()
        ]
        raise ExperimentError("\n".join(lines)) from None
    for component in (exp.space, exp.evaluator, exp.searcher, exp.executor, exp.pruner):
        if component is not None:
            component.args = resolve_paths(component.args, path.parent)
    return exp


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _is_path_key(key: str) -> bool:
    return key in PATH_KEYS or any(key.endswith(f"_{k}") for k in PATH_KEYS)


def resolve_paths(args: dict[str, Any], base: Path) -> dict[str, Any]:
    """Relative file arguments resolved against the experiment file's folder, so a file runs the
    same from any working directory (a path that exists only from the current folder is kept, with
    a warning, for files written before this rule)."""
    out = dict(args)
    for key, value in args.items():
        if not (_is_path_key(key) and isinstance(value, str) and value):
            continue
        given = Path(value).expanduser()
        if given.is_absolute() or "://" in value:
            continue
        beside = (base / given).resolve()
        if not beside.exists() and given.exists():
            log.warning("`%s: %s` found from the current folder, not beside the file", key, value)
            continue
        out[key] = str(beside)
    return out


def open_study(
    exp: Experiment,
    path: str | Path,
    storage: str | None = None,
    allow_config_change: bool = False,
):
    """Create or resume the experiment's study; component errors name the file and field.

    `Study.create` builds every component and checks every `enqueue` entry before it writes
    anything, so a bad file leaves the store as it was; resuming with a different space or
    searcher is refused unless `allow_config_change`.
    """
    from hashtune.hashing.cache_policy import CacheConfig
    from hashtune.study import DEFAULT_STORAGE, ComponentError, Study

    try:
        study = Study.create(
            exp.study,
            space=exp.space.name,
            space_args=exp.space.args,
            evaluator=exp.evaluator.name,
            evaluator_args=exp.evaluator.args,
            searcher=exp.searcher.name,
            searcher_args=exp.searcher.args,
            executor=exp.executor.name,
            executor_args=exp.executor.args,
            pruner=exp.pruner.name if exp.pruner else None,
            pruner_args=exp.pruner.args if exp.pruner else None,
            storage=storage or exp.storage or DEFAULT_STORAGE,
            directions=exp.directions,
            direction=exp.direction,
            seed=exp.seed,
            cache=CacheConfig(**exp.cache.model_dump()),
            enqueue=exp.enqueue,
            load_if_exists=True,
            allow_config_change=allow_config_change,
            task=exp.task,
            liveness=exp.liveness.model_dump(),
        )
    except ComponentError as e:
        raise ExperimentError(f"{path}: field {e}") from e
    except Exception as e:
        raise ExperimentError(f"{path}: study {exp.study!r}: {e}") from e
    study.catch = (BaseException,)  # a crashing candidate fails its trial, never the study
    return study
