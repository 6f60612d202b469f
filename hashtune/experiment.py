"""Experiment files: one YAML document that names a study and everything it is built from.

Validated with pydantic before anything runs; every error names the file, the field and the value.
Components are checked by building them (space, evaluator, searcher, pruner), so a typo in a
registered name or an argument fails here, not halfway through a run.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from hashtune.budget import Budget
from hashtune.hashing.cache_policy import CacheConfig
from hashtune.liveness import LivenessConfig
from hashtune.registry import Component

log = logging.getLogger(__name__)

#: Component argument names that hold file paths: relative ones resolve against the experiment file.
PATH_KEYS = ("path", "file", "table", "dir")
_WHOLE = TypeAdapter(int)


class ExperimentError(ValueError):
    """A bad experiment file: the message names file, field and value."""


class Experiment(BaseModel):
    """The schema of an experiment file; its sections are the runtime types themselves."""

    model_config = ConfigDict(extra="forbid")

    study: str = Field(min_length=1, max_length=255)
    storage: str | None = None
    seed: int = 0
    #: Declares the task the cache entries belong to (studies naming one task share them);
    #: by default the evaluator's content fingerprint.
    task: str | None = Field(default=None, min_length=1, max_length=255)
    space: Component
    evaluator: Component
    searcher: Component = Component("regularized_evolution")
    executor: Component = Component("inprocess")
    directions: list[Literal["maximize", "minimize"]] | None = None
    direction: Literal["maximize", "minimize"] | None = None
    #: `trials` is the study's total (`Budget.total_trials`): a resumed run only runs what is missing.
    budget: Budget = Budget(total_trials=20)
    cache: CacheConfig = CacheConfig()
    liveness: LivenessConfig = LivenessConfig()
    pruner: Component | None = None
    enqueue: list[Any] = Field(default_factory=list)

    @field_validator("directions", mode="before")
    @classmethod
    def _one_direction(cls, v: Any) -> Any:
        """`directions: minimize` is one direction, as `[minimize]`."""
        return [v] if isinstance(v, str) else v

    @field_validator("budget", mode="before")
    @classmethod
    def _file_budget(cls, v: Any) -> Any:
        """A file counts whole trials: `trials` (>= 1) is the study's total, and a file that sets
        `max_evaluations` wants at least one."""
        if not isinstance(v, dict):
            return v
        for key in ("n_trials", "total_trials"):
            if key in v:
                raise ValueError(
                    f"`budget.{key}`: experiment files give `trials` (the study's total)"
                )
        out = dict(v)
        for key in ("trials", "max_evaluations"):
            if out.get(key) is None:
                continue
            try:
                out[key] = _WHOLE.validate_python(out[key])
            except ValidationError:
                out[key] = -1
            if out[key] < 1:
                raise ValueError(f"`budget.{key}` must be a whole number >= 1, got {v[key]!r}")
        typo = set(out) - {f.name for f in dataclasses.fields(Budget)} - {"trials"}
        if not typo and all(out.get(k) is None for k in ("trials", "timeout_s", "max_evaluations")):
            raise ValueError("`budget` must give `trials`, `timeout_s` or `max_evaluations`")
        if "trials" in out:
            out["total_trials"] = out.pop("trials")
        return out

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


def _located(err: dict[str, Any]) -> tuple[str, str, Any]:
    """(field, message, value) of one pydantic error. A runtime type's own check (`CacheConfig`,
    `Budget`, ...) names the field it rejects in backticks: the error is placed on that field."""
    where, msg, value = _where(err["loc"]), err["msg"], err.get("input")
    if err["type"] != "value_error":
        return where, msg, value
    msg = msg.removeprefix("Value error, ")
    named = re.match(r"`([\w.]+)`:? (.*)", msg, re.DOTALL)
    if named is None or not err["loc"]:
        return where, msg, value
    name, msg = named.groups()
    if name != where and not name.startswith(f"{where}."):
        name = f"{where}.{name}"
    last = name.rpartition(".")[2]
    if isinstance(value, dict) and last in value:
        value = value[last]
    return name, msg, value


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
            f"{path}: field `{where}`: {msg}"
            + ("" if ", got " in msg else f" (got {_short(value)})")
            for where, msg, value in map(_located, e.errors())
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
    from hashtune.study import DEFAULT_STORAGE, ComponentError, Study

    try:
        study = Study.create(
            exp.study,
            space=exp.space,
            evaluator=exp.evaluator,
            searcher=exp.searcher,
            executor=exp.executor,
            pruner=exp.pruner,
            storage=storage or exp.storage or DEFAULT_STORAGE,
            directions=exp.directions,
            direction=exp.direction,
            seed=exp.seed,
            cache=exp.cache,
            enqueue=exp.enqueue,
            load_if_exists=True,
            allow_config_change=allow_config_change,
            task=exp.task,
            liveness=exp.liveness,
        )
    except ComponentError as e:
        raise ExperimentError(f"{path}: field {e}") from e
    except Exception as e:
        raise ExperimentError(f"{path}: study {exp.study!r}: {e}") from e
    study.catch = (BaseException,)  # a crashing candidate fails its trial, never the study
    return study
