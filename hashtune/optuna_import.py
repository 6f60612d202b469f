"""Bring an Optuna study into the hashtune store: its trials become hashtune trials.

A new hashtune study is searched in a flat space built from the Optuna distributions (registered
as `optuna_distributions`, so `Study.load(name, evaluator=...)` rebuilds it): a float becomes
`pg.floatv` (log scale kept), an int `pg.oneof` over its range, a categorical `pg.oneof` over its
choices. Into an existing study the params are mapped back through its space (decision ids, as
`hashtune export --format optuna` names them). Loading the study replays the imported trials
into its searcher, as a resume does, so they warm-start the search.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import optuna
import pyglove as pg
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
    json_to_distribution,
)
from optuna.trial import FrozenTrial
from optuna.trial import TrialState as OptunaState

from hashtune.optuna_export import optuna_storage
from hashtune.optuna_trials import ATTR, IMPORTED_SPACE, union_distributions
from hashtune.search.optuna_space import custom_values_of_trial, dna_from_optuna_params
from hashtune.space_registry import make_space
from hashtune.spaces.base import Space
from hashtune.store import Store
from hashtune.store.engine import safe_url
from hashtune.vocabulary import TrialState

#: Largest int range imported as a `pg.oneof` of its values.
MAX_INT_CHOICES = 10_000
_STATES = {
    OptunaState.COMPLETE: TrialState.COMPLETE,
    OptunaState.PRUNED: TrialState.PRUNED,
    OptunaState.FAIL: TrialState.FAILED,
}


@dataclass(frozen=True)
class ImportResult:
    """What an import did: the hashtune study, trials added, Optuna trials left out and why."""

    study: str
    imported: int
    skipped: dict[str, int]


def _hyper(name: str, d: BaseDistribution) -> Any:
    if isinstance(d, FloatDistribution):
        return pg.floatv(d.low, d.high, scale="log" if d.log else None)
    if isinstance(d, IntDistribution):
        values = list(range(d.low, d.high + 1, d.step))
        if len(values) > MAX_INT_CHOICES:
            raise ValueError(
                f"param {name!r}: {d!r} has {len(values)} values, more than {MAX_INT_CHOICES}"
            )
        return pg.oneof(values)
    if isinstance(d, CategoricalDistribution):
        return pg.oneof(list(d.choices))
    raise ValueError(f"param {name!r}: unsupported distribution {d!r}")


def imported_space(distributions: dict[str, str]) -> Space:
    """The flat space of an imported Optuna study (`distributions`: name → Optuna JSON)."""
    dists = {k: json_to_distribution(v) for k, v in sorted(distributions.items())}
    return Space(pg.Dict({k: _hyper(k, d) for k, d in dists.items()}), name=IMPORTED_SPACE)


def _flat_dna(space: Space, dists: dict[str, BaseDistribution], params: dict[str, Any]) -> pg.DNA:
    """DNA of the flat imported space selecting Optuna's `params` (in sorted name order)."""
    genes: list[Any] = []
    for k, d in sorted(dists.items()):
        v = params[k]
        if isinstance(d, FloatDistribution):
            genes.append(float(v))
        elif isinstance(d, IntDistribution):
            genes.append((int(v) - d.low) // d.step)
        else:
            genes.append(int(d.to_internal_repr(v)))
    dna = pg.DNA(genes)
    dna.use_spec(space.dna_spec)
    return dna


def _local_to_utc(ts: dt.datetime | None) -> dt.datetime | None:
    """Optuna's naive local time → naive UTC (hashtune's stored form)."""
    return None if ts is None else ts.astimezone(dt.UTC).replace(tzinfo=None)


def _row(space: Space, flat: dict[str, BaseDistribution] | None, t: FrozenTrial) -> dict[str, Any]:
    attrs = dict(t.user_attrs)
    if flat is not None:
        dna = _flat_dna(space, flat, t.params)
    else:
        dna = dna_from_optuna_params(space, t.params, custom_values_of_trial(t))
    state = _STATES[t.state]
    if state == TrialState.COMPLETE and attrs.get(ATTR + "state") == TrialState.CACHED:
        state = TrialState.CACHED
    return {
        "state": state,
        "dna": space.dna_to_json(dna),
        "candidate": space.candidate_to_json(space.materialize(dna)),
        "params": dict(t.params) if flat is not None else space.flat_params(dna),
        "values": t.values,
        "user_attrs": {**attrs, "optuna.number": t.number},
        "error": attrs.get(ATTR + "error")
        or ("FAIL in Optuna" if state == TrialState.FAILED else None),
        "worker": attrs.get(ATTR + "worker"),
        "started_at": _local_to_utc(t.datetime_start),
        "finished_at": _local_to_utc(t.datetime_complete),
        "functional_hash": attrs.get(ATTR + "functional_hash"),
        "intermediate": dict(t.intermediate_values),
    }


def import_from_optuna(
    url: str,
    optuna_study: str,
    storage: str | Store,
    *,
    name: str | None = None,
    searcher: str = "tpe",
) -> ImportResult:
    """Copy the finished trials of Optuna study `optuna_study` at `url` into hashtune study
    `name` (default: the same name) in `storage`, creating it when it does not exist."""
    source = optuna.load_study(study_name=optuna_study, storage=optuna_storage(url))
    trials = source.get_trials(deepcopy=False)
    store = storage if isinstance(storage, Store) else Store(storage)
    name = name or optuna_study
    record = store.studies.get(name)
    if record is None:
        record = store.studies.create(name, [d.name.lower() for d in source.directions], _config(
            source, union_distributions(trials), url, searcher
        ))  # fmt: skip
    elif len(record.directions) != len(source.directions):
        raise ValueError(
            f"hashtune study {name!r} has {len(record.directions)} objective(s), Optuna study "
            f"{optuna_study!r} {len(source.directions)}"
        )
    spec = record.config.get("space") or {}
    if not spec.get("name"):
        raise ValueError(f"hashtune study {name!r} was created with a Python space object")
    space = make_space(spec["name"], **spec.get("args", {}))
    flat = None
    if spec["name"] == IMPORTED_SPACE:
        flat = {k: json_to_distribution(v) for k, v in spec["args"]["distributions"].items()}
    rows, skipped = [], {}
    for t in trials:
        why = _why_skipped(t, flat)
        if why is None:
            try:
                rows.append(_row(space, flat, t))
            except (ValueError, KeyError, IndexError) as e:
                why = f"params do not fit the study's space ({e})"
        if why is not None:
            skipped[why] = skipped.get(why, 0) + 1
    store.trials.add_finished(record.id, rows)
    return ImportResult(name, len(rows), skipped)


def _why_skipped(t: FrozenTrial, flat: dict[str, BaseDistribution] | None) -> str | None:
    if t.state not in _STATES:
        return f"state {t.state.name} (not finished)"
    if flat is not None and set(t.params) != set(flat):
        return "a conditional trial (its params differ from the union of the study's)"
    return None


def _config(
    source: optuna.Study, dists: dict[str, BaseDistribution], url: str, searcher: str
) -> dict[str, Any]:
    """The study config of an imported study: its flat space, searcher, task and objectives."""
    n = len(source.directions)
    names = source.metric_names or [f"value_{i}" for i in range(n)]
    return {
        "space": {
            "name": IMPORTED_SPACE,
            "args": {"distributions": {k: distribution_to_json(d) for k, d in dists.items()}},
        },
        "evaluator": None,
        "searcher": {"name": searcher, "args": {}},
        "executor": None,
        "pruner": None,
        "seed": 0,
        "task": f"optuna:{source.study_name}",
        "task_identity": {"source": "explicit", "fingerprint": None, "undigestable": []},
        "objectives": list(names),
        "imported_from": {"url": safe_url(url), "study": source.study_name},
    }
