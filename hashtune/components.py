"""How a study's components are built from names or objects, recorded, and checked on resume."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pyglove as pg

from hashtune.evaluators.base import Evaluator
from hashtune.registry import Component
from hashtune.search.base import Searcher
from hashtune.spaces.base import Space


class ComponentError(ValueError):
    """A component (space, evaluator, searcher, ...) that cannot be built; `field` names which."""

    def __init__(self, field: str, given: str, error: Any):
        self.field = field
        super().__init__(f"`{field}` {given}: {error}")


def build_component(
    field: str, given: Any, args: dict[str, Any] | None, factory: Callable[..., Any]
):
    """`factory(given, **args)` when `given` is a registered name; objects pass through."""
    if not isinstance(given, str):
        return given
    try:
        return factory(given, **(args or {}))
    except Exception as e:
        raise ComponentError(field, f"({given!r}, args {dict(args or {})!r})", e) from e


def component_spec(given: Any, args: dict[str, Any] | None) -> dict[str, Any] | None:
    """The config entry recording how a component was built (None for a Python object)."""
    if isinstance(given, str):
        return Component(given, dict(args or {})).spec()
    return None


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


def resolve_directions(
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


def clip_repr(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def check_same_config(existing: Any, config: dict[str, Any]) -> None:
    """Resuming with another space or searcher would mix two searches under one name: refuse."""
    for kind in ("space", "searcher"):
        old, new = existing.config.get(kind), config.get(kind)
        if old is None or new is None or old == new:
            continue
        raise ValueError(
            f"study {existing.name!r} was created with {kind} {clip_repr(old)}, not {clip_repr(new)}; "
            "use a new study name, or pass --allow-config-change (allow_config_change=True) "
            "to continue it with the new one"
        )


def check_same_directions(existing: Any, dirs: tuple[str, ...]) -> None:
    """Resuming must not silently change the directions of a study (the task: `resumed_task`)."""
    if tuple(existing.directions) != dirs:
        raise ValueError(
            f"study {existing.name!r} exists with directions {tuple(existing.directions)!r}, "
            f"not {dirs!r}; use a new study name"
        )
