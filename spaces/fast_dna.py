"""A fast path for DNA on flat and conditional specs (single choices and floats only).

PyGlove builds, clones and compares DNA and candidates through its generic symbolic machinery:
milliseconds per call. A `DnaCodec`, built once per space, holds the spec as plain nodes and a
decoder compiled from the hyper value, and works on *plain values*: a tuple with one entry per
decision point of a space, a float for `floatv`, the index for `oneof` (or `(index, subvalues)`
when the chosen candidate has decision points of its own). It draws, mutates, decodes and names
DNA with the same random draws and the same results as `pg.random_dna`, PyGlove's `Uniform`
mutator and `pg.materialize`; specs it does not cover (`manyof`, custom decision points, ...)
get no codec and keep PyGlove's path.
"""

from __future__ import annotations

import ast
import json
import random
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pyglove as pg

Plain = tuple[Any, ...]
_DNA_TYPE = "pyglove.core.geno.base.DNA"


class _Float:
    __slots__ = ("id", "lo", "hi")

    def __init__(self, dp: pg.geno.Float):
        self.id, self.lo, self.hi = str(dp.id), dp.min_value, dp.max_value


class _Choice:
    __slots__ = ("id", "n", "distinct", "subs", "params")

    def __init__(self, dp: pg.geno.Choices, subs: list[tuple[Any, ...]]):
        self.id, self.n, self.distinct, self.subs = (
            str(dp.id),
            len(dp.candidates),
            dp.distinct,
            subs,
        )
        self.params = [_param_value(lit, i, self.n) for i, lit in enumerate(dp.literal_values)]


def _param_value(literal: Any, index: int, n: int) -> Any:
    """What `Space.flat_params` shows for candidate `index`: its scalar literal, else 'i/n'."""
    value = literal
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            value = None
    return value if isinstance(value, (int, float, str, bool)) else f"{index}/{n}"


def _nodes(spec: pg.geno.Space) -> tuple[Any, ...] | None:
    out = []
    for dp in spec.elements:
        if isinstance(dp, pg.geno.Float):
            out.append(_Float(dp))
        elif isinstance(dp, pg.geno.Choices) and dp.num_choices == 1:
            subs = [_nodes(c) for c in dp.candidates]
            if any(s is None for s in subs):
                return None
            out.append(_Choice(dp, subs))  # type: ignore[arg-type]
        else:
            return None
    return tuple(out)


Builder = Callable[[Iterator[Any]], Any]


def _compile(node: Any) -> Builder | None:
    """A function building `node` materialised from an iterator over its decision values."""
    if isinstance(node, pg.hyper.OneOf):
        cands = [_compile(c) for c in node.candidates]
        if any(c is None for c in cands):
            return None

        def one_of(it: Iterator[Any]) -> Any:
            v = next(it)
            i, subs = v if isinstance(v, tuple) else (v, ())
            return cands[i](iter(subs))  # type: ignore[misc]

        return one_of
    if isinstance(node, pg.hyper.Float):
        return next
    if isinstance(node, pg.hyper.HyperValue):
        return None  # manyof, custom hyper values, ...
    if not isinstance(node, pg.Symbolic):
        return lambda it: node
    if not pg.is_abstract(node):
        return lambda it: node.clone(deep=True)
    if isinstance(node, pg.Dict):
        return _compile_fields(
            list(node.sym_items()), lambda kw: pg.Dict(kw, value_spec=node.value_spec)
        )
    if isinstance(node, pg.List):
        return _compile_fields(
            list(node.sym_items()),
            lambda kw: pg.List(list(kw.values()), value_spec=node.value_spec),
        )
    if isinstance(node, pg.Object):
        cls = type(node)
        return _compile_fields(list(node.sym_init_args.sym_items()), lambda kw: cls(**kw))
    return None


def _compile_fields(items: list[tuple[Any, Any]], make: Callable[[dict], Any]) -> Builder | None:
    fields = [(k, _compile(v)) for k, v in items]
    if any(b is None for _, b in fields):
        return None

    def build(it: Iterator[Any]) -> Any:
        return make({k: b(it) for k, b in fields})  # type: ignore[misc]

    return build


class PlainDNA:
    """A DNA of a codec's space held as plain values; `dna` builds its `pg.DNA` on first use.

    Searchers and proposals carry these on spaces the codec covers, so a trial that never needs
    a `pg.DNA` (random search, evolution, storing, hashing) never builds one."""

    __slots__ = ("codec", "values", "_dna")

    def __init__(self, codec: DnaCodec, values: Plain):
        self.codec = codec
        self.values = values
        self._dna: pg.DNA | None = None

    @property
    def dna(self) -> pg.DNA:
        """The `pg.DNA` of these values (spec attached), built once."""
        if self._dna is None:
            self._dna = self.codec.dna(self.values)
        return self._dna

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PlainDNA):
            return self.values == other.values and self.codec.spec is other.codec.spec
        if isinstance(other, pg.DNA):
            return self.dna == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.values)

    def __repr__(self) -> str:
        return f"PlainDNA({self.values!r})"


def as_dna(dna: pg.DNA | PlainDNA) -> pg.DNA:
    """The `pg.DNA` of a DNA held either way."""
    return dna.dna if isinstance(dna, PlainDNA) else dna


class DnaCodec:
    """Plain-value DNA operations for one space; `DnaCodec.of` gives None when not covered."""

    def __init__(self, spec: pg.geno.Space, nodes: tuple[Any, ...], decoder: Builder | None):
        self.spec = spec
        self.nodes = nodes
        self._decoder = decoder

    @classmethod
    def of(cls, hyper_value: Any, spec: pg.geno.Space) -> DnaCodec | None:
        """The codec of a space, or None when its spec has decision points it does not cover."""
        nodes = _nodes(spec) if isinstance(spec, pg.geno.Space) else None
        if not nodes:
            return None
        return cls(spec, nodes, _compile(hyper_value))

    @property
    def can_decode(self) -> bool:
        """Whether `materialize` is covered (the hyper value has only oneof/floatv in it)."""
        return self._decoder is not None

    # -- conversions -------------------------------------------------------------------------

    def values(self, dna: pg.DNA) -> Plain:
        """The plain values of `dna`."""
        if len(self.nodes) == 1:
            return (_value_of(self.nodes[0], dna),)
        return tuple(_value_of(n, d) for n, d in zip(self.nodes, dna.children, strict=True))

    def from_decisions(self, decisions: Mapping[str, Any]) -> Plain:
        """The plain values of a decision id → value (float) or candidate index (choice) map
        naming the active decision points (as `DNA.to_dict(key_type="id")` gives them)."""
        return _from_decisions(self.nodes, decisions)

    def decisions(self, values: Plain) -> dict[str, Any]:
        """Inverse of `from_decisions`: active decision id → float value or candidate index."""
        out: dict[str, Any] = {}
        _decisions(self.nodes, values, out)
        return out

    def dna(self, values: Plain) -> pg.DNA:
        """The `pg.DNA` (spec attached) of plain values, built as `pg.random_dna` builds it."""
        with pg.symbolic.enable_type_check(False):  # the values come from the spec itself
            dna = _dna_of_space(self.nodes, values)
            dna.use_spec(self.spec)
        return dna

    def materialize(self, values: Plain) -> Any:
        """The candidate `pg.materialize` gives for these values."""
        assert self._decoder is not None
        return self._decoder(iter(values))

    def flat_params(self, values: Plain) -> dict[str, Any]:
        """`Space.flat_params` of these values: decision id → chosen value (or 'i/n')."""
        out: dict[str, Any] = {}
        _params(self.nodes, values, out)
        return out

    def key(self, values: Plain) -> str:
        """The canonical string of the DNA (json of its compact form, sorted keys)."""
        return json.dumps(self.to_json(values), sort_keys=True)

    def to_json(self, values: Plain) -> dict[str, Any]:
        """`dna.to_json(compact=True)` of the DNA of these values (the same object, key order
        included, so the store writes the same bytes)."""
        return {"_type": _DNA_TYPE, "format": "compact", "value": _compact(self.nodes, values)}

    def from_json(self, data: Any) -> Plain:
        """Inverse of `to_json` (ValueError when `data` is not a compact DNA of this space)."""
        if not (isinstance(data, Mapping) and data.get("_type") == _DNA_TYPE):
            raise ValueError(f"not a DNA's JSON: {data!r}")
        if data.get("format") != "compact" or set(data) != {"_type", "format", "value"}:
            raise ValueError(f"not a compact DNA without metadata: {data!r}")
        return _from_compact(self.nodes, data["value"])

    # -- random draws ------------------------------------------------------------------------

    def random(self, rng: random.Random) -> Plain:
        """Values drawn as `pg.random_dna(spec, rng)` draws them (same stream, same result)."""
        return tuple(_draw(n, rng) for n in self.nodes)

    def mutate_once(self, values: Plain, rng: random.Random) -> Plain:
        """PyGlove's `Uniform` mutator with generator `rng`: one active decision point, picked
        uniformly in the DNA's pre-order, is drawn again with everything below it."""
        points: list[tuple[int, ...]] = []
        _active(self.nodes, values, (), points)
        path = rng.choice(points)
        return _redraw(self.nodes, values, path, rng)


def _value_of(node: Any, dna: pg.DNA) -> Any:
    if isinstance(node, _Float):
        return dna.value
    i = dna.value
    sub = node.subs[i]
    if not sub:
        return i
    children = dna.children
    if len(sub) == 1:
        return (i, (_value_of(sub[0], children[0]),))
    return (i, tuple(_value_of(n, d) for n, d in zip(sub, children, strict=True)))


def _from_decisions(nodes: tuple[Any, ...], decisions: Mapping[str, Any]) -> Plain:
    out = []
    for node in nodes:
        v = decisions[node.id]
        if isinstance(node, _Choice):
            i = int(v)
            sub = node.subs[i]
            v = (i, _from_decisions(sub, decisions)) if sub else i
        out.append(v)
    return tuple(out)


def _decisions(nodes: tuple[Any, ...], values: Plain, out: dict[str, Any]) -> None:
    for node, v in zip(nodes, values, strict=True):
        i, subs = v if isinstance(v, tuple) else (v, ())
        out[node.id] = i
        if subs:
            _decisions(node.subs[i], subs, out)


def _dna_of_space(nodes: tuple[Any, ...], values: Plain) -> pg.DNA:
    """The DNA `pg.random_dna` builds, normalised as PyGlove normalises it, built directly
    (PyGlove builds three nodes per choice and collapses two of them)."""
    if len(nodes) == 1:
        return _dna_of(nodes[0], values[0])
    return pg.DNA(None, [_dna_of(n, v) for n, v in zip(nodes, values, strict=True)])


def _dna_of(node: Any, value: Any) -> pg.DNA:
    if isinstance(node, _Float) or not isinstance(value, tuple):
        return pg.DNA(value)
    i, subs = value
    sub = node.subs[i]
    return pg.DNA(i, [_dna_of(n, v) for n, v in zip(sub, subs, strict=True)])


def _params(nodes: tuple[Any, ...], values: Plain, out: dict[str, Any]) -> None:
    for node, v in zip(nodes, values, strict=True):
        if isinstance(node, _Float):
            out[node.id] = v
            continue
        i, subs = v if isinstance(v, tuple) else (v, ())
        out[node.id] = node.params[i]
        if subs:
            _params(node.subs[i], subs, out)


def _compact(nodes: tuple[Any, ...], values: Plain) -> Any:
    items = []
    for node, v in zip(nodes, values, strict=True):
        if isinstance(node, _Choice) and isinstance(v, tuple):
            items.append(["__tuple__", v[0], _compact(node.subs[v[0]], v[1])])
        else:
            items.append(v)
    return items[0] if len(items) == 1 else items


def _from_compact(nodes: tuple[Any, ...], body: Any) -> Plain:
    items = [body] if len(nodes) == 1 else body
    if not isinstance(items, list) or len(items) != len(nodes):
        raise ValueError(f"{body!r} does not fit {len(nodes)} decision point(s)")
    out: list[Any] = []
    for node, item in zip(nodes, items, strict=True):
        if isinstance(node, _Float):
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                raise ValueError(f"{item!r} is no float value")
            out.append(item)
            continue
        tupled = isinstance(item, list) and len(item) == 3 and item[0] == "__tuple__"
        i = item[1] if tupled else item
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < node.n:
            raise ValueError(f"{item!r} is no candidate of a {node.n}-way choice")
        sub = node.subs[i]
        if bool(sub) != tupled:
            raise ValueError(f"{item!r} does not fit candidate {i}'s decision points")
        out.append((i, _from_compact(sub, item[2])) if sub else i)
    return tuple(out)


def _draw(node: Any, rng: random.Random) -> Any:
    if isinstance(node, _Float):
        return rng.uniform(node.lo, node.hi)
    if node.distinct:
        i = rng.sample(list(range(node.n)), 1)[0]
    else:
        i = rng.randint(0, node.n - 1)
    sub = node.subs[i]
    return (i, tuple(_draw(n, rng) for n in sub)) if sub else i


def _active(nodes: tuple[Any, ...], values: Plain, at: tuple[int, ...], out: list) -> None:
    """Paths of the active decision points in pre-order (a node before what hangs below it)."""
    for k, (node, v) in enumerate(zip(nodes, values, strict=True)):
        out.append((*at, k))
        if isinstance(node, _Choice) and isinstance(v, tuple):
            _active(node.subs[v[0]], v[1], (*at, k), out)


def _redraw(nodes: tuple[Any, ...], values: Plain, path: tuple[int, ...], rng: random.Random):
    k, rest = path[0], path[1:]
    node, v = nodes[k], values[k]
    if rest:
        i, subs = v
        new = (i, _redraw(node.subs[i], subs, rest, rng))
    else:
        new = _draw(node, rng)
    return (*values[:k], new, *values[k + 1 :])
