"""Stored DNA JSON → Optuna params without decoding a `pg.DNA`, for resuming Optuna searchers.

On a flat space (every decision point at the top level: single choices among literals, floats)
the compact DNA JSON is one value per decision point, so the Optuna params of a stored trial are
a lookup per decision point. `FlatEncoder.of(space)` returns None for other spaces (callers then
decode the DNA and use `encode_dna`), and `encode` returns None for JSON it does not recognise.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyglove as pg
from optuna.distributions import BaseDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from hashtune.search.optuna_space import Encoded, float_distribution, one_distribution
from hashtune.spaces.base import Space


class FlatEncoder:
    """Optuna params of compact DNA JSON on a flat space (see the module docstring)."""

    def __init__(self, points: list[tuple[str, BaseDistribution, bool]]):
        self.points = points  # (param name, distribution, is_float) per decision point
        self.distributions = {name: dist for name, dist, _ in points}

    @classmethod
    def of(cls, space: Space) -> FlatEncoder | None:
        """The encoder of `space`, or None when the space is not flat."""
        points = []
        for dp in space.dna_spec.elements:
            if isinstance(dp, pg.geno.Float):
                points.append((str(dp.id), float_distribution(dp), True))
            elif (
                isinstance(dp, pg.geno.Choices)
                and dp.num_choices == 1
                and all(not c.elements for c in dp.candidates)
            ):
                points.append((str(dp.id), one_distribution(dp), False))
            else:
                return None
        return cls(points) if points else None

    def encode(self, dna_json: Any) -> Encoded | None:
        """The Optuna view of stored compact DNA JSON (None when it is not of that form)."""
        if not isinstance(dna_json, dict) or dna_json.get("format") != "compact":
            return None
        value = dna_json.get("value")
        values = value if isinstance(value, list) else [value]
        if len(values) != len(self.points):
            return None
        params: dict[str, Any] = {}
        for (name, dist, is_float), v in zip(self.points, values, strict=True):
            if is_float:
                params[name] = float(v)
            elif type(v) is not int:
                return None
            elif isinstance(dist, IntDistribution):
                params[name] = dist.low + v * dist.step
            else:
                params[name] = dist.choices[v]  # type: ignore[attr-defined]
        return Encoded(params=params, distributions=dict(self.distributions))


class TrialTemplate(FrozenTrial):
    """A finished trial to add to an in-memory Optuna study: Optuna deep-copies each template it
    is given, and a generic deep copy of a trial costs most of a resume; this one copies its
    dicts and shares the distributions (immutable), giving an equal plain `FrozenTrial`."""

    @classmethod
    def make(
        cls,
        state: TrialState,
        values: list[float] | None,
        params: dict[str, Any],
        distributions: dict[str, BaseDistribution],
        user_attrs: dict[str, Any],
    ) -> TrialTemplate:
        """The trial `create_trial(state=..., values=..., ...)` gives, built without its
        validation (the caller's params come from their own distributions)."""
        now = datetime.now()
        return cls(
            number=-1, trial_id=-1, state=state, value=None, values=values,
            datetime_start=None if state == TrialState.WAITING else now,
            datetime_complete=now if state.is_finished() else None,
            params=params, distributions=distributions, user_attrs=user_attrs,
            system_attrs={}, intermediate_values={},
        )  # fmt: skip

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenTrial:
        return FrozenTrial(**_fields(self))


def _fields(t: FrozenTrial) -> dict[str, Any]:
    return {
        "number": t.number,
        "state": t.state,
        "value": None,
        "values": None if t.values is None else list(t.values),
        "datetime_start": t.datetime_start,
        "datetime_complete": t.datetime_complete,
        "params": dict(t.params),
        "distributions": dict(t.distributions),
        "user_attrs": dict(t.user_attrs),
        "system_attrs": dict(t.system_attrs),
        "intermediate_values": dict(t.intermediate_values),
        "trial_id": -1,
    }
