"""What an optimize call may spend (`Budget`), and trial data as the store keeps it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hashtune.spaces.base import Space


@dataclass
class Budget:
    """When to stop launching: trials proposed, paid evaluations, wall seconds (None: no limit)."""

    n_trials: int | None = None
    max_evaluations: int | None = None
    timeout_s: float | None = None
    #: The study's total, counted in the store: workers sharing a study stop together.
    total_trials: int | None = None
    #: Times a trial interrupted by its worker's death is proposed again (by whoever noticed).
    max_retries: int = 0
    #: Seconds one trial may run before it is stopped (None: no limit).
    trial_timeout_s: float | None = None

    def __post_init__(self) -> None:
        for name in ("n_trials", "max_evaluations", "total_trials", "max_retries"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v < 0):
                raise ValueError(f"`{name}` must be a non-negative int or None, got {v!r}")
        for name in ("timeout_s", "trial_timeout_s"):
            v = getattr(self, name)
            if v is not None and not v > 0:
                raise ValueError(f"`{name}` must be a positive number of seconds, got {v!r}")
        limits = (self.n_trials, self.max_evaluations, self.timeout_s, self.total_trials)
        if all(v is None for v in limits):
            raise ValueError(
                "give at least one of `n_trials`, `max_evaluations`, `timeout` or `total_trials`"
            )


def candidate_json(space: Space, candidate: Any) -> str:
    """The candidate as stored with its trial (its repr when it cannot be serialised)."""
    try:
        return space.candidate_to_json(candidate)
    except Exception:  # noqa: BLE001 - a candidate that cannot be serialised is still a trial
        return repr(candidate)


def proposal_fields(space: Space, proposal: Any, fhash: str | None, task: str | None) -> dict:
    """What a trial stores of its proposal (the store's `set_proposal` / `begin_trial` fields)."""
    return {
        "dna": space.dna_to_json(proposal.genome),
        "candidate": candidate_json(space, proposal.candidate),
        "params": space.flat_params(proposal.genome),
        "parents": proposal.parents,
        "mutation": proposal.mutation,
        "functional_hash": fhash,
        "task": task,
    }


def jsonable(attrs: dict[str, Any]) -> dict[str, Any]:
    """Metadata values as JSON-safe scalars/lists (numpy scalars become floats, others repr)."""
    out: dict[str, Any] = {}
    for k, v in attrs.items():
        if isinstance(v, (str, int, bool)) or v is None:
            out[k] = v
        elif isinstance(v, float):
            out[k] = v if v == v and abs(v) != float("inf") else repr(v)
        elif isinstance(v, (list, tuple)):
            out[k] = [jsonable({"x": x})["x"] for x in v]
        elif hasattr(v, "item"):
            out[k] = jsonable({"x": v.item()})["x"]
        else:
            out[k] = repr(v)
    return out
