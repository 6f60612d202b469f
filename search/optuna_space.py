"""PyGlove DNA specs ↔ Optuna distributions, so Optuna samplers can search hashtune spaces.

Every decision point becomes one Optuna parameter named by its PyGlove decision id, which spells
the full path including the parent choices, e.g. ``"a[=0/3].x"`` is `x` under candidate 0 of
`a`: a parameter name always means the same distribution, and conditional parameters are only
suggested when their parent choice is active.

- `oneof`: `CategoricalDistribution` over the literal values when they are simple and distinct,
  `IntDistribution(low, high, step)` when they are an ascending arithmetic run of ints (so
  CMA-ES/GP see them as ordinal), else over the candidate indices.
- `manyof` with `distinct`/`sorted`: one categorical over the valid selections (``"0,2"``) when
  there are at most `MAX_JOINT_CHOICES` of them, else one categorical per slot holding the index
  among the still-unpicked candidates (a Lehmer code: every code is a valid distinct selection, no
  repair), sorted afterwards when the space says `sorted`. Plain `manyof`: one per slot.
- `floatv`: `FloatDistribution`, `log=True` for ``scale='log'`` (``'rlog'`` is searched linearly).
- Custom decision points (`pg.evolve`, ...) have no distribution: `suggest_dna` draws them with
  their `random_dna_fn` and they travel beside the params as `custom` values.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import optuna
import pyglove as pg
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from hashtune.spaces.base import Genome, Space
from hashtune.spaces.fast_dna import PlainDNA, as_dna

#: Largest number of valid selections of a constrained `manyof` mapped to one joint categorical.
MAX_JOINT_CHOICES = 128

#: Prefix of the Optuna trial user attributes that hold custom decision values.
CUSTOM_ATTR_PREFIX = "hashtune_custom:"

_SIMPLE = (int, float, str, bool, type(None))


@dataclass
class Encoded:
    """The Optuna view of one DNA: active params, their distributions, custom decision values."""

    params: dict[str, Any] = field(default_factory=dict)
    distributions: dict[str, BaseDistribution] = field(default_factory=dict)
    custom: dict[str, Any] = field(default_factory=dict)


def _spec_of(space: Space | pg.geno.Space) -> pg.geno.Space:
    spec = space.dna_spec if isinstance(space, Space) else space
    if not isinstance(spec, pg.geno.Space):
        raise ValueError(f"`space` must be a hashtune Space or a pg.geno.Space, got {space!r}")
    return spec


def one_distribution(dp: pg.geno.Choices) -> BaseDistribution:
    """The Optuna distribution of a single-choice decision point (or one slot of a `manyof`)."""
    n = len(dp.candidates)
    literals = list(dp.literal_values)
    simple = all(not c.elements for c in dp.candidates) and all(
        isinstance(v, _SIMPLE) and not (isinstance(v, float) and math.isnan(v)) for v in literals
    )
    if (
        simple and len(set(literals)) == n
    ):  # `set` also merges 1 == 1.0 == True: those stay indices.
        if n >= 2 and all(type(v) is int for v in literals):
            step = literals[1] - literals[0]
            if step > 0 and all(b - a == step for a, b in itertools.pairwise(literals)):
                return IntDistribution(literals[0], literals[-1], step=step)
        return CategoricalDistribution(literals)
    return CategoricalDistribution(list(range(n)))


def _one_encode(dist: BaseDistribution, index: int) -> Any:
    if isinstance(dist, IntDistribution):
        return dist.low + index * dist.step
    return dist.choices[index]  # type: ignore[attr-defined]


def _one_decode(dist: BaseDistribution, name: str, value: Any) -> int:
    if isinstance(dist, IntDistribution):
        index, rem = divmod(int(value) - dist.low, dist.step)
        if rem or not dist.low <= int(value) <= dist.high:
            raise ValueError(f"param {name!r}: {value!r} is not in {dist!r}")
        return index
    try:
        return dist.to_internal_repr(value)  # type: ignore[return-value]
    except ValueError as e:
        raise ValueError(f"param {name!r}: {value!r} is not one of {dist!r}") from e


def float_distribution(dp: pg.geno.Float) -> FloatDistribution:
    """The Optuna distribution of a `floatv` decision point (log scale when the space says so)."""
    return FloatDistribution(dp.min_value, dp.max_value, log=dp.scale == "log")


def _joint_selections(dp: pg.geno.Choices) -> list[tuple[int, ...]] | None:
    """All valid selections of a constrained `manyof` when few enough, else None."""
    n, k = len(dp.candidates), dp.num_choices
    if dp.distinct and dp.sorted:
        count, make = math.comb(n, k), itertools.combinations
    elif dp.distinct:
        count, make = math.perm(n, k), itertools.permutations
    elif dp.sorted:
        count, make = math.comb(n + k - 1, k), itertools.combinations_with_replacement
    else:
        return None
    if count > MAX_JOINT_CHOICES:
        return None
    return list(make(range(n), k))


def _joint_key(selection: tuple[int, ...] | list[int]) -> str:
    return ",".join(str(i) for i in selection)


def _slot_distribution(dp: pg.geno.Choices, slot: int) -> BaseDistribution:
    if dp.distinct:  # Lehmer code: index among the candidates not picked by earlier slots.
        return CategoricalDistribution(list(range(len(dp.candidates) - slot)))
    return one_distribution(dp.subchoice(slot))


_FLOAT, _ONE, _MANY, _CUSTOM, _OTHER = range(5)


class _Node:
    """One decision point of a spec with what the walks need precomputed (name, distribution,
    the plans of its candidates): PyGlove's attribute access costs microseconds a call."""

    __slots__ = ("dp", "name", "kind", "dist", "subs")

    def __init__(self, dp: pg.geno.DecisionPoint):
        self.dp, self.name, self.dist, self.subs = dp, str(dp.id), None, ()
        if isinstance(dp, pg.geno.Float):
            self.kind, self.dist = _FLOAT, float_distribution(dp)
        elif isinstance(dp, pg.geno.Choices) and dp.num_choices == 1:
            self.kind, self.dist = _ONE, one_distribution(dp)
            self.subs = tuple(dp.candidates)
        elif isinstance(dp, pg.geno.Choices):
            self.kind = _MANY
        elif isinstance(dp, pg.geno.CustomDecisionPoint):
            self.kind = _CUSTOM
        else:
            self.kind = _OTHER


_PLAN_ATTR = "_hashtune_optuna_plan"


def _plan(spec: pg.geno.Space) -> tuple[_Node, ...]:
    """The nodes of `spec`'s top-level decision points, built once and kept on the spec."""
    plan = spec.__dict__.get(_PLAN_ATTR)
    if plan is None:
        plan = tuple(_Node(dp) for dp in spec.elements)
        object.__setattr__(spec, _PLAN_ATTR, plan)
    return plan


class _Walk:
    """Walks a DNA spec, taking each active decision from `decide_*`, collecting the encodings."""

    def __init__(self) -> None:
        self.out = Encoded()
        self.dna_values: dict[str, Any] = {}

    # Subclasses give the parameter value for `name`, or the custom value for `dp`.
    def param(self, name: str, dist: BaseDistribution, known: Any) -> Any:
        raise NotImplementedError

    def custom(self, dp: pg.geno.CustomDecisionPoint) -> Any:
        raise NotImplementedError

    def known(self, dp: pg.geno.DecisionPoint) -> Any:
        """The DNA's own value at `dp` when walking a DNA (else None)."""
        return None

    def record(self, name: str, dist: BaseDistribution, value: Any) -> None:
        self.out.params[name] = value
        self.out.distributions[name] = dist

    def space(self, spec: pg.geno.Space) -> None:
        for node in _plan(spec):
            self.point(node)

    def point(self, node: _Node) -> None:
        dp, name, kind, dist = node.dp, node.name, node.kind, node.dist
        if kind == _FLOAT:
            value = float(self.param(name, dist, self.known(dp)))
            if not dist.low <= value <= dist.high:
                raise ValueError(f"param {name!r}: {value!r} is outside {dist!r}")
            self.record(name, dist, value)
            self.dna_values[name] = value
        elif kind == _ONE:
            known = self.known(dp)
            value = self.param(name, dist, None if known is None else _one_encode(dist, known))
            index = _one_decode(dist, name, value)
            self.record(name, dist, _one_encode(dist, index))
            self.dna_values[name] = index
            self.space(node.subs[index])
        elif kind == _MANY:
            self.many(dp)
        elif kind == _CUSTOM:
            value = self.custom(dp)
            self.out.custom[name] = value
            self.dna_values[name] = value
        else:
            raise ValueError(f"decision point {name!r} has unsupported type {type(dp).__name__}")

    def many(self, dp: pg.geno.Choices) -> None:
        n, k = len(dp.candidates), dp.num_choices
        slots = [dp.subchoice(s) for s in range(k)]
        known = [self.known(s) for s in slots]
        have = None if any(v is None for v in known) else list(known)
        joint = _joint_selections(dp)
        if joint is not None:
            name = str(dp.id)
            dist = CategoricalDistribution([_joint_key(sel) for sel in joint])
            value = self.param(name, dist, None if have is None else _joint_key(have))
            selection = list(joint[_one_decode(dist, name, value)])
            self.record(name, dist, _joint_key(selection))
        else:
            codes = _lehmer(have, n) if dp.distinct and have is not None else have
            picked = []
            for s, sub in enumerate(slots):
                dist = _slot_distribution(dp, s)
                known_code = None if codes is None else _one_encode(dist, codes[s])
                picked.append(
                    _one_decode(dist, str(sub.id), self.param(str(sub.id), dist, known_code))
                )
                self.record(str(sub.id), dist, _one_encode(dist, picked[-1]))
            selection = _unlehmer(picked, n) if dp.distinct else picked
            if dp.sorted:
                selection = sorted(selection)
        for sub, index in zip(slots, selection, strict=True):
            self.dna_values[str(sub.id)] = index
            self.space(sub.candidates[index])


def _lehmer(selection: list[int], n: int) -> list[int]:
    remaining = list(range(n))
    codes = []
    for i in selection:
        codes.append(remaining.index(i))
        remaining.remove(i)
    return codes


def _unlehmer(codes: list[int], n: int) -> list[int]:
    remaining = list(range(n))
    return [remaining.pop(c) for c in codes]


class _FromDNA(_Walk):
    def __init__(self, values: Mapping[str, Any]):
        super().__init__()
        self.values = values

    def known(self, dp: pg.geno.DecisionPoint) -> Any:
        return self.values.get(str(dp.id))

    def param(self, name: str, dist: BaseDistribution, known: Any) -> Any:
        if known is None:
            raise ValueError(f"DNA has no value for decision point {name!r}")
        return known

    def custom(self, dp: pg.geno.CustomDecisionPoint) -> Any:
        return self.param(str(dp.id), None, self.values.get(str(dp.id)))  # type: ignore[arg-type]


class _FromParams(_Walk):
    def __init__(self, params: Mapping[str, Any], custom: Mapping[str, Any]):
        super().__init__()
        self.params, self.custom_values = params, custom

    def param(self, name: str, dist: BaseDistribution, known: Any) -> Any:
        if name not in self.params:
            raise ValueError(f"`params` has no value for active parameter {name!r}")
        return self.params[name]

    def custom(self, dp: pg.geno.CustomDecisionPoint) -> Any:
        if str(dp.id) not in self.custom_values:
            raise ValueError(f"`custom` has no value for custom decision point {str(dp.id)!r}")
        return self.custom_values[str(dp.id)]


class _FromTrial(_Walk):
    def __init__(self, trial: optuna.trial.Trial, seed: int):
        super().__init__()
        self.trial, self.seed = trial, seed

    def param(self, name: str, dist: BaseDistribution, known: Any) -> Any:
        if isinstance(dist, CategoricalDistribution):
            return self.trial.suggest_categorical(name, dist.choices)
        if isinstance(dist, IntDistribution):
            return self.trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
        assert isinstance(dist, FloatDistribution)
        return self.trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)

    def custom(self, dp: pg.geno.CustomDecisionPoint) -> Any:
        name = str(dp.id)
        fixed = self.trial.user_attrs.get(CUSTOM_ATTR_PREFIX + name)
        if fixed is not None:
            return fixed
        if dp.random_dna_fn is None:
            raise ValueError(f"custom decision point {name!r} has no random_dna_fn to sample it")
        rng = random.Random(f"{self.seed}:{self.trial.number}:{name}")
        value = dp.random_dna_fn(rng, None).value
        self.trial.set_user_attr(CUSTOM_ATTR_PREFIX + name, value)
        return value


def _genome(space: Space | pg.geno.Space, walk: _Walk) -> Genome:
    """The DNA `walk` decides: `PlainDNA` where the space carries it, else a `pg.DNA`."""
    spec = _spec_of(space)
    walk.space(spec)
    if isinstance(space, Space):
        plain = space.plain_codec
        if plain is not None:
            return PlainDNA(plain, plain.from_decisions(walk.dna_values))
        codec = space.codec
        if codec is not None:  # the space's precomputed map: no `DNA.from_dict`
            return codec.dna(codec.from_decisions(walk.dna_values))
    dna = pg.DNA.from_dict(walk.dna_values, spec)
    dna.use_spec(spec)
    return dna


def encode_dna(space: Space | pg.geno.Space, dna: Genome) -> Encoded:
    """The active Optuna params of `dna` (either kind), their distributions and custom values."""
    spec = _spec_of(space)
    if isinstance(dna, PlainDNA):
        walk = _FromDNA(dna.codec.decisions(dna.values))
        walk.space(spec)
        return walk.out
    dna.use_spec(spec)
    codec = space.codec if isinstance(space, Space) else None
    if codec is not None:
        walk = _FromDNA(codec.decisions(codec.values(dna)))
    else:
        walk = _FromDNA(dna.to_dict(key_type="id", value_type="value"))
    walk.space(spec)
    return walk.out


def optuna_params_from_dna(space: Space | pg.geno.Space, dna: pg.DNA) -> dict[str, Any]:
    """Optuna parameter name → value for the active decision points of `dna`."""
    return encode_dna(space, dna).params


def dna_from_optuna_params(
    space: Space | pg.geno.Space,
    params: Mapping[str, Any],
    custom: Mapping[str, Any] | None = None,
) -> pg.DNA:
    """The DNA that `params` (plus `custom` decision values, if the space has any) select."""
    return as_dna(_genome(space, _FromParams(params, custom or {})))


def suggest_genome(space: Space | pg.geno.Space, trial: optuna.Trial, seed: int = 0) -> Genome:
    """`suggest_dna`, the DNA as the space carries it (`PlainDNA` where it can: no `pg.DNA`)."""
    return _genome(space, _FromTrial(trial, seed))


def suggest_dna(space: Space | pg.geno.Space, trial: optuna.trial.Trial, seed: int = 0) -> pg.DNA:
    """Suggest the active decision points of `space` on `trial` (ask side) and return the DNA."""
    return as_dna(suggest_genome(space, trial, seed))


def custom_values_of_trial(trial: optuna.trial.FrozenTrial | optuna.trial.Trial) -> dict[str, Any]:
    """The custom decision values `suggest_dna` stored on `trial`, by decision id."""
    n = len(CUSTOM_ATTR_PREFIX)
    return {k[n:]: v for k, v in trial.user_attrs.items() if k.startswith(CUSTOM_ATTR_PREFIX)}


def grid_in_space(sampler: optuna.samplers.BaseSampler, space: Space, seed: int) -> Any:
    """A `GridSampler` whose grid names choices as the user wrote them (``"relu"``) re-expressed
    in this module's encoding (non-numeric choices are PyGlove's literal strings, ``"'relu'"``);
    any other sampler as it is. Optuna keeps the grid only in `_search_space` (no public name)."""
    if not isinstance(sampler, optuna.samplers.GridSampler):
        return sampler
    dists = {
        str(dp.id): one_distribution(dp)
        for dp in _spec_of(space).decision_points
        if isinstance(dp, pg.geno.Choices) and dp.num_choices == 1
    }
    grid, changed = {}, False
    for name, values in sampler._search_space.items():
        choices = getattr(dists.get(name), "choices", ())
        grid[name] = [repr(v) if v not in choices and repr(v) in choices else v for v in values]
        changed = changed or grid[name] != list(values)
    return optuna.samplers.GridSampler(grid, seed=seed) if changed else sampler
