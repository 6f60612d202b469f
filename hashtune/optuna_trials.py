"""A hashtune study's trials as Optuna `FrozenTrial`s: params and distributions from the space.

Each trial's params are the Optuna encoding of its DNA (`search.optuna_space`: one parameter per
active decision point, named by its decision id), so they mean the same as when an Optuna sampler
searches the space. Without a space (a study built from a Python object that cannot be rebuilt)
the stored flat params are used with distributions inferred from the values seen.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import optuna
import pyglove as pg
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    json_to_distribution,
)
from optuna.trial import FrozenTrial, TrialState

from hashtune.search.optuna_space import (
    CUSTOM_ATTR_PREFIX,
    encode_dna,
    float_distribution,
    one_distribution,
)
from hashtune.space_registry import make_space
from hashtune.spaces.base import Space
from hashtune.store import TrialRecord

#: hashtune trial state → Optuna state (CACHED trials are COMPLETE, marked by `hashtune.state`).
STATES = {
    "COMPLETE": TrialState.COMPLETE,
    "CACHED": TrialState.COMPLETE,
    "FAILED": TrialState.FAIL,
    "PRUNED": TrialState.PRUNED,
    "RUNNING": TrialState.RUNNING,
    "PENDING": TrialState.WAITING,
}
_VALUED = (TrialState.COMPLETE, TrialState.PRUNED)  # Optuna keeps a pruned trial's last value
#: Registered name of the flat space an imported Optuna study is searched in.
IMPORTED_SPACE = "optuna_distributions"
#: Prefix of the user attributes carrying hashtune's extras (hash, cache source, lineage, ...).
ATTR = "hashtune."


def study_space(view: Any) -> Space | None:
    """The study's space: the live one of a `Study`, else rebuilt from the recorded config."""
    space = getattr(view, "space", None)
    if isinstance(space, Space):
        return space
    spec = view.record.config.get("space") or {}
    if not spec.get("name"):
        return None
    try:
        return make_space(spec["name"], **spec.get("args", {}))
    except Exception:  # noqa: BLE001 - an unimportable user space: fall back to stored params
        return None


def _naive_local(ts: dt.datetime | None) -> dt.datetime | None:
    """Aware time → naive local time, as Optuna stores `datetime_start`/`datetime_complete`."""
    return None if ts is None else ts.astimezone().replace(tzinfo=None)


def _encoded(space: Space | None, t: TrialRecord, memo: dict[str, Any]) -> tuple[dict, dict, dict]:
    """(params, custom decision values, distributions) of a trial, in Optuna's encoding when a
    space is known (memoised by DNA: parsing DNA is PyGlove's slow part)."""
    if space is None or t.dna is None:
        return dict(t.params), {}, {}
    key = json.dumps(t.dna, sort_keys=True)
    if key not in memo:
        enc = encode_dna(space, space.dna_from_json(t.dna))
        memo[key] = (enc.params, enc.custom, enc.distributions)
    return memo[key]


def inferred_distributions(params: list[dict[str, Any]]) -> dict[str, BaseDistribution]:
    """Distributions covering the values seen: int/float ranges, categories for the rest."""
    seen: dict[str, list[Any]] = {}
    for p in params:
        for k, v in p.items():
            seen.setdefault(k, []).append(v)
    out: dict[str, BaseDistribution] = {}
    for k, vals in sorted(seen.items()):
        if all(type(v) is int for v in vals):
            out[k] = IntDistribution(min(vals), max(vals))
        elif all(type(v) in (int, float) and math.isfinite(v) for v in vals):
            out[k] = FloatDistribution(float(min(vals)), float(max(vals)))
        else:
            uniq = list(dict.fromkeys(vals))
            simple = all(isinstance(v, (int, float, str, bool, type(None))) for v in uniq)
            out[k] = CategoricalDistribution(uniq if simple else [str(v) for v in uniq])
    return out


def recorded_distributions(view: Any) -> dict[str, BaseDistribution] | None:
    """The distributions of a study imported from Optuna (its params are Optuna's own)."""
    spec = view.record.config.get("space") or {}
    if spec.get("name") != IMPORTED_SPACE:
        return None
    raw = spec.get("args", {}).get("distributions", {})
    return {k: json_to_distribution(v) for k, v in raw.items()}


def frozen_trials(view: Any, space: Space | None = None) -> list[FrozenTrial]:
    """Every trial of the study as an Optuna FrozenTrial (numbers, params, values, states,
    intermediate values, start/complete times; hashtune's extras as `hashtune.*` user attrs)."""
    inferred = recorded_distributions(view) if space is None else None
    space = space if space is not None or inferred is not None else study_space(view)
    trials = view.trials()
    number_of = {t.id: t.number for t in trials}
    memo: dict[str, Any] = {}
    encoded = [_encoded(space, t, memo) for t in trials]
    if inferred is None and (space is None or any(t.dna is None for t in trials)):
        # no space, or trials without DNA (bulk-loaded): distributions from the stored params
        inferred = inferred_distributions(
            [t.params for t in trials if space is None or t.dna is None]
        )
    out = []
    for t, (params, custom, dists) in zip(trials, encoded, strict=True):
        if space is None or t.dna is None:
            dists = {k: inferred[k] for k in params} if inferred else {}
            params = {k: _in(dists[k], v) for k, v in params.items()}
        state = STATES[t.state]
        finished = state.is_finished()
        # Optuna needs both times of a finished trial; bulk-loaded trials may have neither.
        complete = t.finished_at or t.started_at or view.record.created_at
        start = t.started_at or (complete if finished else None)
        values = list(t.values) if t.values and state in _VALUED else None
        attrs = {f"{CUSTOM_ATTR_PREFIX}{k}": v for k, v in custom.items()}
        attrs.update(t.user_attrs or {})
        attrs.update(_extras(t, number_of))
        out.append(
            FrozenTrial(
                number=t.number,
                state=state,
                value=None,
                values=values,
                datetime_start=_naive_local(start),
                datetime_complete=_naive_local(complete) if finished else None,
                params=params,
                distributions=dists,
                user_attrs=attrs,
                system_attrs={},
                intermediate_values=dict(t.intermediate),
                trial_id=t.id,
            )
        )
    return out


def _in(dist: BaseDistribution, value: Any) -> Any:
    """`value` as the inferred distribution holds it (non-simple categories as text)."""
    if isinstance(dist, CategoricalDistribution) and value not in dist.choices:
        return str(value)
    return value


def _extras(t: TrialRecord, number_of: dict[int, int]) -> dict[str, Any]:
    """hashtune's own facts about a trial, for Optuna user attrs (None values left out)."""
    extras = {
        "state": t.state,
        "functional_hash": t.functional_hash,
        "cached_from": number_of.get(t.cached_from_trial_id) if t.cached_from_trial_id else None,
        "parents": list(t.parents) or None,
        "mutation": t.mutation,
        "worker": t.worker,
        "task": t.task,
        "error": t.error,
        "candidate": t.candidate,
    }
    return {ATTR + k: v for k, v in extras.items() if v is not None}


def space_distributions(space: Space) -> dict[str, BaseDistribution] | None:
    """Every decision point's distribution, conditional ones included, read from the spec alone
    (None when the space has `manyof` or custom decision points: use the trials' encodings)."""
    out: dict[str, BaseDistribution] = {}

    def walk(spec: Any) -> bool:
        for dp in spec.elements:
            if isinstance(dp, pg.geno.Float):
                out[str(dp.id)] = float_distribution(dp)
            elif isinstance(dp, pg.geno.Choices) and dp.num_choices == 1:
                out[str(dp.id)] = one_distribution(dp)
                if not all(walk(c) for c in dp.candidates):
                    return False
            else:
                return False
        return True

    return dict(sorted(out.items())) if walk(space.dna_spec) else None


def union_distributions(trials: list[FrozenTrial]) -> dict[str, BaseDistribution]:
    """Every parameter's distribution over all trials (a conditional one from where it is active)."""
    out: dict[str, BaseDistribution] = {}
    for t in trials:
        for k, d in t.distributions.items():
            out.setdefault(k, d)
    return dict(sorted(out.items()))


def optuna_directions(view: Any) -> list[optuna.study.StudyDirection]:
    """The study's directions as Optuna's enum."""
    return [optuna.study.StudyDirection[d.upper()] for d in view.directions]
