"""Optuna samplers and pruners as recordable values: class path + constructor arguments.

Optuna objects do not keep their constructor arguments, so `object_spec` reads them back from the
instance (attributes named like the arguments, one level deep) and verifies the record: it builds
the class again from the JSON-round-tripped record and compares the two instances' state (random
generators and seeds aside). Only a record that rebuilds the same object is returned, so a resumed
study gets the sampler it was created with; anything else is reported as `UnrecordableError`.
Nested objects (a CMA-ES `independent_sampler`, a `PatientPruner`'s wrapped pruner, NSGA-II's
crossover) are recorded the same way; module-level functions by ``"module:qualname"``.
"""

from __future__ import annotations

import importlib
import inspect
import json
import random
import warnings
from collections.abc import Sequence
from typing import Any

from optuna.pruners import BasePruner
from optuna.samplers import BaseSampler

from hashtune.search.optuna_study import OptunaSearcher
from hashtune.search.registry import register_searcher
from hashtune.spaces.base import Space
from hashtune.vocabulary import Direction

_MISSING = object()
_SKIP_STATE = ("rng", "seed", "search_space", "cache")  # attribute names left out of the check
_MAX_DEPTH = 4


class UnrecordableError(ValueError):
    """An Optuna object whose constructor arguments cannot be read back and rebuilt."""


def class_path(cls: type) -> str:
    """The public import path of `cls` (``optuna.samplers.TPESampler``, not the private module)."""
    for public in ("optuna.samplers", "optuna.pruners", "optuna.samplers.nsgaii"):
        module = importlib.import_module(public)
        if getattr(module, cls.__name__, None) is cls:
            return f"{public}.{cls.__name__}"
    return f"{cls.__module__}:{cls.__qualname__}"


def _import(name: str, default_module: str) -> Any:
    """The object `name` names: ``Name`` (in `default_module`), ``pkg.mod.Name`` or
    ``pkg.mod:Qual.Name``; ValueError when it cannot be imported."""
    if ":" in name:
        module, _, attr = name.partition(":")
    elif "." in name:
        module, _, attr = name.rpartition(".")
    else:
        module, attr = default_module, name
    try:
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"cannot import {name!r}: {e}") from None
    return obj


def resolve_class(name: str, kind: str) -> type:
    """`name` as an Optuna sampler or pruner class (`kind`): ``TPESampler`` (looked up in
    ``optuna.samplers`` / ``optuna.pruners``), ``optuna.samplers.TPESampler`` or
    ``package.module:Class``; ValueError naming it."""
    base = BaseSampler if kind == "sampler" else BasePruner
    try:
        obj = _import(name, "optuna.samplers" if kind == "sampler" else "optuna.pruners")
    except ValueError as e:
        raise ValueError(f"unknown Optuna {kind} {name!r} ({e})") from None
    if not (isinstance(obj, type) and issubclass(obj, base)):
        raise ValueError(f"{name!r} is {obj!r}, not an optuna {base.__name__} subclass")
    return obj


# -- recording ---------------------------------------------------------------------------------


def _encode(value: Any, where: str, depth: int) -> Any:
    """A JSON-able record of one argument value; UnrecordableError naming `where` otherwise."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return {"float": repr(value)}
        return value
    if isinstance(value, (list, tuple)):
        return [_encode(v, f"{where}[{i}]", depth) for i, v in enumerate(value)]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"dict": {k: _encode(v, f"{where}.{k}", depth) for k, v in value.items()}}
    if inspect.isfunction(value) or inspect.isbuiltin(value):
        path = f"{value.__module__}:{value.__qualname__}"
        if "<" in path or _callable(path) is not value:
            raise UnrecordableError(f"`{where}` is {value!r}, not a module-level function")
        return {"callable": path}
    if depth < _MAX_DEPTH and type(value).__module__.startswith("optuna"):
        return object_spec(value, where, depth + 1)
    raise UnrecordableError(f"`{where}` is {value!r}, which cannot be recorded")


def _callable(path: str) -> Any:
    module, _, qual = path.partition(":")
    try:
        obj: Any = importlib.import_module(module)
        for part in qual.split("."):
            obj = getattr(obj, part)
        return obj
    except (ImportError, AttributeError):
        return None


def _found(obj: Any, name: str) -> Any:
    """The value `obj` keeps for constructor argument `name` (``_name`` or ``name``, directly or
    one level down in a helper object), or _MISSING."""
    state = vars(obj) if hasattr(obj, "__dict__") else {}
    for key in (f"_{name}", name):
        if key in state:
            return state[key]
    for inner in state.values():
        fields = inner._asdict() if hasattr(inner, "_asdict") else getattr(inner, "__dict__", None)
        if isinstance(fields, dict):
            for key in (f"_{name}", name):
                if key in fields:
                    return fields[key]
    return _MISSING


def object_spec(obj: Any, where: str = "sampler", depth: int = 0) -> dict[str, Any]:
    """``{"class": path, "args": {...}}`` that rebuilds `obj` (seed left out: the study seeds it);
    UnrecordableError naming the argument that could not be read back."""
    cls = type(obj)
    if type(obj).__name__ == "LazyRandomState" or isinstance(obj, random.Random):
        raise UnrecordableError(f"`{where}` is a random generator")
    args: dict[str, Any] = {}
    problems: list[str] = []
    for name, param in inspect.signature(cls).parameters.items():
        if name == "seed" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        value = _found(obj, name)
        if value is _MISSING or _same(value, param.default):
            continue
        try:
            args[name] = _encode(value, f"{where}.{name}", depth)
        except UnrecordableError as e:  # maybe derived from other arguments: verified below
            problems.append(str(e))
    spec = json.loads(json.dumps({"class": class_path(cls), "args": args}))
    return _minimal(obj, spec, where, problems)


def _minimal(obj: Any, spec: dict[str, Any], where: str, problems: list[str]) -> dict[str, Any]:
    """The shortest record that rebuilds `obj`'s state: read-back arguments the constructor
    derives anyway (NSGA-II's strategies with their own generators) are dropped."""
    target = _state(obj)

    def rebuilds(args: dict[str, Any]) -> bool:
        try:
            with warnings.catch_warnings():  # deprecated arguments read back, dropped below
                warnings.simplefilter("ignore")
                return _state(build_object({**spec, "args": args}, seed=0)) == target
        except Exception:  # noqa: BLE001 - a record that does not rebuild is no record
            return False

    args = dict(spec["args"])
    if not rebuilds(args):
        if problems:
            raise UnrecordableError(problems[0])
        try:
            diff = _diff(target, _state(build_object(spec, seed=0)))
            reason = f"keeps state its constructor arguments do not rebuild ({', '.join(diff[:4])})"
        except Exception as e:  # noqa: BLE001
            reason = f"cannot be rebuilt: {e}"
        raise UnrecordableError(f"`{where}` ({spec['class']}) {reason}")
    for name in reversed(list(args)):  # derived helpers come after what they derive from
        without = {k: v for k, v in args.items() if k != name}
        if rebuilds(without):
            args = without
    return {"class": spec["class"], "args": args}


def _same(a: Any, b: Any) -> bool:
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # noqa: BLE001 - arrays and other values without a plain ==
        return False


def _state(obj: Any, depth: int = 0) -> Any:
    """A comparable picture of an object's state, random generators and caches left out."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (list, tuple)):
        return [_state(v, depth) for v in obj]
    if isinstance(obj, dict):
        return {str(k): _state(v, depth) for k, v in obj.items()}
    if isinstance(obj, type) or callable(obj) and not hasattr(obj, "__dict__"):
        return f"<{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', obj)!s}>"
    if inspect.isfunction(obj) or inspect.ismethod(obj):
        return f"<fn {obj.__module__}.{obj.__qualname__}>"
    if depth >= _MAX_DEPTH or not hasattr(obj, "__dict__"):
        return f"<{type(obj).__qualname__}>"
    fields = obj._asdict() if hasattr(obj, "_asdict") else vars(obj)
    picture = {
        k: _state(v, depth + 1)
        for k, v in fields.items()
        if not any(skip in k.lower() for skip in _SKIP_STATE)
    }
    return {"<class>": type(obj).__qualname__, **picture}


def _diff(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _diff(a.get(k, _MISSING), b.get(k, _MISSING), f"{path}.{k}".lstrip("."))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _diff(x, y, path)]
    return [] if a == b else [path or "value"]


# -- building ----------------------------------------------------------------------------------


def _decode(value: Any, seed: int) -> Any:
    if isinstance(value, list):
        return [_decode(v, seed) for v in value]
    if isinstance(value, dict):
        if "class" in value and "args" in value:
            return build_object(value, seed)
        if "callable" in value:
            fn = _callable(value["callable"])
            if fn is None:
                raise ValueError(f"cannot import function {value['callable']!r}")
            return fn
        if "float" in value:
            return float(value["float"])
        if "dict" in value:
            return {k: _decode(v, seed) for k, v in value["dict"].items()}
    return value


def build_object(spec: dict[str, Any], seed: int | None) -> Any:
    """The object `spec` records, seeded with `seed` when its class takes one (nested samplers
    get seeds derived from it)."""
    cls = _import(spec["class"], "optuna.samplers")
    if not isinstance(cls, type):
        raise ValueError(f"{spec['class']!r} is {cls!r}, not a class")
    nested = random.Random(f"{seed}:nested")
    args = {k: _decode(v, nested.randrange(2**31)) for k, v in spec.get("args", {}).items()}
    if seed is not None and "seed" in inspect.signature(cls).parameters:
        args["seed"] = seed
    return cls(**args)


def sampler_spec(sampler_class: str, sampler_args: dict[str, Any] | None) -> dict[str, Any]:
    """The record of an Optuna sampler named by class and arguments (as an experiment file or
    a study config gives it); ValueError naming a bad class or argument."""
    cls = resolve_class(sampler_class, "sampler")
    spec = {"class": class_path(cls), "args": dict(sampler_args or {})}
    if "seed" in spec["args"]:
        raise ValueError(
            "`sampler_args.seed`: the sampler is seeded from the study's `seed` (and the worker "
            "slot); set `seed` on the study instead"
        )
    try:
        build_object(spec, seed=0)
    except TypeError as e:
        raise ValueError(f"{spec['class']} does not accept arguments {spec['args']!r}: {e}") from e
    return spec


@register_searcher("optuna")
class OptunaSamplerSearcher(OptunaSearcher):
    """Any Optuna sampler, named by class (``TPESampler``, ``optuna.samplers.NSGAIISampler``,
    ``package.module:MySampler``) with its constructor arguments; seeded from the study."""

    name = "optuna"

    def __init__(
        self,
        space: Space,
        directions: Sequence[Direction] = (Direction.MAXIMIZE,),
        seed: int = 0,
        sampler: str = "RandomSampler",
        sampler_args: dict[str, Any] | None = None,
    ):
        if not isinstance(sampler, str):
            raise ValueError(f"`sampler` must be an Optuna sampler class name, got {sampler!r}")
        self.spec = sampler_spec(sampler, sampler_args)
        super().__init__(space, directions, seed, sampler=self._build)

    def _build(self, seed: int) -> BaseSampler:
        return build_object(self.spec, seed)
