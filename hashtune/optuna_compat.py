"""Optuna's objects and spellings accepted where a study is created.

- an `optuna.samplers.BaseSampler` instance as `searcher=` becomes the registered ``optuna``
  searcher, recorded by class path and constructor arguments (so `Study.load` and every worker
  rebuild it, seeded from the study seed and the worker slot); a sampler whose arguments cannot
  be read back (a lambda `gamma`, say) is used as given, with a warning: it keeps its own seed
  and `Study.load` needs `searcher=` again;
- an `optuna.pruners.BasePruner` instance as `pruner=` likewise (the ``optuna`` pruner);
- `direction=` / `directions=` as a string or a list (``directions="minimize"`` is one
  direction), Optuna's `StudyDirection` too.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from hashtune.search.base import Searcher
from hashtune.search.pruners import Pruner, make_pruner, pruner_names
from hashtune.vocabulary import Direction

_DIRECTIONS = tuple(d.value for d in Direction)


class UnrecordedOptunaObjectWarning(UserWarning):
    """An Optuna sampler or pruner whose constructor arguments could not be recorded."""


def _is_sampler(obj: Any) -> bool:
    mro = [f"{c.__module__}.{c.__qualname__}" for c in type(obj).__mro__]
    return any(m.startswith("optuna.samplers.") and m.endswith(".BaseSampler") for m in mro)


def _is_pruner(obj: Any) -> bool:
    mro = [f"{c.__module__}.{c.__qualname__}" for c in type(obj).__mro__]
    return any(m.startswith("optuna.pruners.") and m.endswith(".BasePruner") for m in mro)


def _given(obj: Any) -> str:
    text = repr(obj)
    return f"{type(obj).__module__}.{type(obj).__qualname__} ({text[:80]})"


def searcher_spec(searcher: Any, args: dict[str, Any] | None) -> tuple[Any, dict[str, Any] | None]:
    """(`searcher`, `args`) with an Optuna sampler instance turned into the ``optuna`` searcher's
    name and recorded arguments; an unrecordable sampler comes back as itself (with a warning).
    TypeError, naming what was given and what is accepted, for anything else."""
    if isinstance(searcher, (str, Searcher)):
        return searcher, args
    if not _is_sampler(searcher):
        raise TypeError(
            f"`searcher` must be a registered searcher name (e.g. 'tpe'), a hashtune Searcher or "
            f"an optuna.samplers.BaseSampler instance; got {_given(searcher)}"
        )
    from hashtune.search.optuna_objects import UnrecordableError, object_spec

    if args:
        raise TypeError(f"`searcher_args` {args!r} cannot be combined with a sampler instance")
    try:
        spec = object_spec(searcher)
    except UnrecordableError as e:
        warnings.warn(
            f"{type(searcher).__name__} cannot be recorded in the study config ({e}): it is used "
            "as given, keeps its own seed, and Study.load needs `searcher=` again",
            UnrecordedOptunaObjectWarning,
            stacklevel=3,
        )
        return searcher, None
    return "optuna", {"sampler": spec["class"], "sampler_args": spec["args"]}


def optuna_searcher(sampler: Any, space: Any, directions: Sequence[str], seed: int) -> Searcher:
    """A searcher driving the given (unrecordable) sampler instance as it is."""
    from hashtune.search.optuna_study import OptunaSearcher

    return OptunaSearcher(space, tuple(directions), seed, sampler=sampler)


def pruner_spec(pruner: Any, args: dict[str, Any] | None) -> tuple[Any, dict[str, Any] | None]:
    """(`pruner`, `args`) with an Optuna pruner instance turned into the ``optuna`` pruner's name
    and recorded arguments (an unrecordable one comes back as itself); TypeError otherwise."""
    if pruner is None or isinstance(pruner, (str, Pruner)):
        return pruner, args
    if not _is_pruner(pruner):
        raise TypeError(
            f"`pruner` must be None, a pruner name ({', '.join(pruner_names())}, 'optuna'), a "
            f"hashtune Pruner or an optuna.pruners.BasePruner instance; got {_given(pruner)}"
        )
    from hashtune.search.optuna_objects import UnrecordableError, object_spec

    try:
        spec = object_spec(pruner, "pruner")
    except UnrecordableError as e:
        warnings.warn(
            f"{type(pruner).__name__} cannot be recorded in the study config ({e}): "
            "Study.load needs `pruner=` again",
            UnrecordedOptunaObjectWarning,
            stacklevel=3,
        )
        return pruner, None
    return "optuna", {"pruner": spec["class"], "pruner_args": spec["args"]}


def build_pruner(name_or_obj: Any, direction: str, **args: Any) -> Pruner:
    """A pruner by name (``optuna`` takes `pruner`: an Optuna class name, and `pruner_args`),
    or an Optuna pruner instance wrapped as it is."""
    from hashtune.search.optuna_pruning import OptunaPruner

    if isinstance(name_or_obj, Pruner):
        return name_or_obj
    if not isinstance(name_or_obj, str):
        return OptunaPruner(direction, name_or_obj)
    if name_or_obj != "optuna":
        return make_pruner(name_or_obj, direction, **args)
    from hashtune.search.optuna_objects import resolve_class

    extra = sorted(set(args) - {"pruner", "pruner_args"})
    if extra:
        raise ValueError(f"pruner 'optuna' takes `pruner` and `pruner_args`, not {extra}")
    cls = resolve_class(str(args.get("pruner", "MedianPruner")), "pruner")
    spec = {"class": f"{cls.__module__}:{cls.__qualname__}", "args": args.get("pruner_args") or {}}
    try:
        return OptunaPruner(direction, spec)
    except TypeError as e:
        raise ValueError(f"{cls.__name__} does not accept arguments {spec['args']!r}: {e}") from e


def normalize_directions(direction: Any, directions: Any) -> tuple[str, ...] | None:
    """`direction=` / `directions=` as a tuple of 'maximize'/'minimize' (None: not given);
    ValueError naming a bad value, TypeError when both are given."""
    if direction is not None and directions is not None:
        raise TypeError("give `direction` (one objective) or `directions`, not both")
    if direction is not None:
        if not isinstance(direction, str) and not hasattr(direction, "name"):
            raise ValueError(
                f"`direction` must be 'maximize' or 'minimize', got {direction!r} "
                "(several objectives: `directions=[...]`)"
            )
        return (_one_direction(direction, "direction"),)
    if directions is None:
        return None
    if isinstance(directions, str) or hasattr(directions, "name"):
        return (_one_direction(directions, "directions"),)
    try:
        items = list(directions)
    except TypeError:
        raise ValueError(
            f"`directions` must be 'maximize', 'minimize' or a list of them, got {directions!r}"
        ) from None
    if not items:
        raise ValueError("`directions` must name at least one direction, got []")
    return tuple(_one_direction(d, f"directions[{i}]") for i, d in enumerate(items))


def _one_direction(value: Any, field: str) -> str:
    text = value.name if hasattr(value, "name") and not isinstance(value, str) else value
    text = text.lower() if isinstance(text, str) else text
    if text not in _DIRECTIONS:
        raise ValueError(f"`{field}` must be 'maximize' or 'minimize', got {value!r}")
    return text
