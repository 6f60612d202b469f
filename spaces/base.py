"""The contract every search space honours: a PyGlove hyper value plus how to mutate and execute it.

A `Space` wraps a PyGlove hyper value (built with `pg.oneof`, `pg.floatv`, `pg.manyof`, ...). Searchers
only see DNA (`pg.DNA`, or `PlainDNA` where the space's codec covers it) and `Space`; evaluators only see materialised candidates. Candidates that the
functional hash can probe expose `executable() -> Executable` (see below).
"""

from __future__ import annotations

import ast
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyglove as pg

from hashtune.spaces.fast_dna import DnaCodec, PlainDNA, as_dna

#: A DNA as searchers carry it: a `pg.DNA`, or plain values on spaces the codec covers.
Genome = pg.DNA | PlainDNA

#: The methods that must keep their `Space` definitions for a space to carry `PlainDNA`.
_PLAIN_METHODS = (
    "random_dna",
    "mutate",
    "materialize",
    "dna_key",
    "dna_to_json",
    "dna_from_json",
    "flat_params",
)

# A callback through which an executable form obtains the parameters of a parametric op.
# Called as `param_fn(op_name, shape, x)`, where `x` is the value flowing into the op. The functional
# hash supplies one that derives parameters from (op_name, shape, content of x), so that equivalent
# graphs compute the same function wherever the op sits in the graph.
ParamFn = Callable[[str, tuple[int, ...], Any], Any]


#: `Executable.meta` key of an optional batched form `(batched_fn, data)`: `batched_fn(param_fn,
#: data, *inputs)` equals `fn(param_fn, *inputs)` and `data` is a pytree of arrays (e.g. op
#: indices), so the hash can jit once and vmap over many candidates sharing `batched_fn`.
BATCHED_META_KEY = "batched"


#: `InputSpec.scale` values: uniform in [low, high]; magnitudes log-uniform in [low, high] with
#: random signs ("log") or positive ("log+").
SCALES: tuple[str, ...] = ("linear", "log", "log+")


@dataclass(frozen=True)
class InputSpec:
    """One probe input: name, shape, dtype and the distribution probe values are drawn from.

    `scale="linear"`: uniform in [low, high]. `"log"` / `"log+"`: magnitudes log-uniform in
    [low, high] (0 < low <= high) with random / positive signs, so probes cover the decades real
    inputs span (gradients 1e-8 .. 1e3); `zeros` is the fraction of values that are exactly 0.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str = "float64"
    low: float = -1.0
    high: float = 1.0
    scale: str = "linear"
    zeros: float = 0.0


@dataclass(frozen=True)
class Executable:
    """The pure-JAX form of a candidate that the functional hash runs on probe inputs.

    `fn(param_fn, *inputs)` returns a pytree of arrays; it must be traceable by `jax.jit`. `inputs`
    describes the probe inputs in call order. `static_key` groups executables that share one traced
    shape signature so the hash can batch them (`None`: no batching).
    """

    fn: Callable[..., Any]
    inputs: tuple[InputSpec, ...]
    static_key: Any = None
    meta: dict[str, Any] = field(default_factory=dict)


class Space:
    """A named search space over a PyGlove hyper value.

    Subclasses may override `mutate` to give mutations that know the structure (program-aware,
    graph-aware); the default changes one decision point uniformly at random.
    """

    name: str = "space"

    def __init__(self, hyper_value: Any, name: str | None = None):
        if not pg.is_abstract(hyper_value):
            raise ValueError(f"Space {name or self.name!r} has no decision points: {hyper_value!r}")
        self.hyper_value = hyper_value
        if name is not None:
            self.name = name
        self._spec = pg.dna_spec(hyper_value)
        self._codec: DnaCodec | None | bool = False  # False: not built yet
        self._plain: DnaCodec | None | bool = False

    @property
    def codec(self) -> DnaCodec | None:
        """The plain-value fast path of this space's DNA (None when its spec is not covered)."""
        if self._codec is False:
            self._codec = DnaCodec.of(self.hyper_value, self._spec)
        return self._codec  # type: ignore[return-value]

    @property
    def plain_codec(self) -> DnaCodec | None:
        """The codec when this space carries `PlainDNA`: covered, and none of the DNA methods
        overridden (a subclass that mutates or decodes its own way gets `pg.DNA` throughout)."""
        if self._plain is False:
            cls = type(self)
            own = all(getattr(cls, m) is getattr(Space, m) for m in _PLAIN_METHODS)
            self._plain = self.codec if own else None
        return self._plain  # type: ignore[return-value]

    def random_genome(self, rng: random.Random) -> Genome:
        """`random_dna`'s draw (same stream, same DNA), as `PlainDNA` where the space carries it."""
        codec = self.plain_codec
        if codec is not None:
            return PlainDNA(codec, codec.random(rng))
        return self.random_dna(rng)

    def genome_from_json(self, data: Any) -> Genome:
        """`dna_from_json`, as `PlainDNA` where the space carries it and `data` is compact."""
        codec = self.plain_codec
        if codec is not None:
            try:
                return PlainDNA(codec, codec.from_json(data))
            except (ValueError, TypeError, KeyError, IndexError):
                pass  # metadata, another format or another shape: PyGlove reads it
        return self.dna_from_json(data)

    def as_dna(self, dna: Genome) -> pg.DNA:
        """The `pg.DNA` of a genome (spec attached)."""
        out = as_dna(dna)
        out.use_spec(self._spec)
        return out

    @property
    def dna_spec(self) -> pg.DNASpec:
        """The PyGlove DNA spec of this space (decision points, their choices and ranges)."""
        return self._spec

    def random_dna(self, rng: random.Random) -> pg.DNA:
        """A uniformly random DNA of this space, drawn with `rng`."""
        codec = self.codec
        if codec is not None:
            return codec.dna(codec.random(rng))
        return pg.random_dna(self._spec, rng)

    def materialize(self, dna: Genome) -> Any:
        """The concrete candidate that `dna` selects."""
        if isinstance(dna, PlainDNA) and dna.codec.can_decode:
            return dna.codec.materialize(dna.values)
        dna = self.as_dna(dna)
        codec = self.codec
        if codec is not None and codec.can_decode:
            return codec.materialize(codec.values(dna))
        return pg.materialize(self.hyper_value, dna)

    def mutate(self, dna: Genome, rng: random.Random) -> tuple[Genome, str]:
        """A child of `dna` and the name of the mutation that made it (default: one point);
        the child of a `PlainDNA` is one too."""
        from pyglove.ext.evolution import mutators

        plain = isinstance(dna, PlainDNA)
        dna = dna if plain else self.as_dna(dna)
        codec = self.codec
        if codec is not None:  # the same draws as below, on plain values
            values = dna.values if plain else codec.values(dna)
            new = values
            for _ in range(32):
                new = codec.mutate_once(values, random.Random(rng.randrange(2**31)))
                if new != values:
                    break
            return (PlainDNA(codec, new) if plain else codec.dna(new)), "uniform_point"
        child = dna
        for _ in range(32):  # PyGlove's Uniform may redraw the same value; insist on a change.
            child = mutators.Uniform(seed=rng.randrange(2**31))([dna.clone(deep=True)])[0]
            if child != dna:
                break
        child.use_spec(self._spec)
        return child, "uniform_point"

    def candidate_from_text(self, text: str) -> Any:
        """Parse a candidate written as text (experiment files' `enqueue`); spaces opt in."""
        raise ValueError(
            f"space {self.name!r} cannot read candidates from text ({text!r}); enqueue DNA values"
        )

    def dna_key(self, dna: Genome) -> str:
        """A canonical string for `dna` (equal DNA give equal keys): the JSON of its compact
        form with sorted keys, computed from plain values when the space has a codec."""
        if isinstance(dna, PlainDNA):
            return dna.codec.key(dna.values)
        codec = self.codec
        if codec is not None and not dna.metadata:
            try:
                return codec.key(codec.values(dna))
            except (ValueError, IndexError, TypeError, AttributeError):
                pass  # a DNA of another shape: PyGlove says what it is
        return json.dumps(dna.to_json(compact=True), sort_keys=True, default=repr)

    def dna_to_json(self, dna: Genome) -> Any:
        """A JSON-able form of `dna` (round-trips through `dna_from_json`): its compact form."""
        if isinstance(dna, PlainDNA):
            return dna.codec.to_json(dna.values)
        return dna.to_json(compact=True)

    def dna_from_json(self, data: Any) -> pg.DNA:
        """Inverse of `dna_to_json`, with this space's spec attached."""
        dna = pg.DNA.from_json(data) if isinstance(data, dict) else pg.DNA.parse(data)
        dna.use_spec(self._spec)
        return dna

    def candidate_to_json(self, candidate: Any) -> str:
        """The candidate serialised with `pg.to_json_str` (stored with each trial)."""
        return pg.to_json_str(candidate)

    def flat_params(self, dna: Genome) -> dict[str, Any]:
        """Decision-point id → chosen value (or 'i/n' for a choice among non-scalar options)."""
        if isinstance(dna, PlainDNA):
            return dna.codec.flat_params(dna.values)
        dna = self.as_dna(dna)
        codec = self.codec
        if codec is not None:
            return codec.flat_params(codec.values(dna))
        literals = dna.to_dict(key_type="id", value_type="literal")
        choices = dna.to_dict(key_type="id", value_type="choice")
        out: dict[str, Any] = {}
        for key, value in literals.items():
            if isinstance(value, str):
                try:
                    value = ast.literal_eval(value)
                except (ValueError, SyntaxError):  # the repr of a non-scalar option
                    value = None
            scalar = isinstance(value, (int, float, str, bool))
            out[str(key)] = value if scalar else str(choices[key])
        return out
