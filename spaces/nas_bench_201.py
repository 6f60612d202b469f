"""The NAS-Bench-201 cell search space: 4-node DAG cells, their NB201 strings and a PyGlove space.

A cell has nodes 0 (input) .. 3 (output); each of the 6 edges i→j (i<j) carries one op from `OPS`
and a node is the sum of its incoming edges, so there are 5**6 = 15,625 cells. Edge order follows
NB201 strings: (0→1), (0→2), (1→2), (0→3), (1→3), (2→3), e.g.
``|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|``.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import numpy as np
import pyglove as pg

from hashtune.spaces.base import BATCHED_META_KEY, Executable, InputSpec, ParamFn, Space
from hashtune.spaces.nas_bench_201_ops import (
    EDGES,
    NUM_NODES,
    OPS,
    batched_probe_cell,
    cell_forward,
    probe_edge,
)

NUM_CELLS = len(OPS) ** len(EDGES)
#: Probe input of the executable form: (N, H, W, C) in [-1, 1], float64.
PROBE_INPUT = InputSpec("x", (4, 6, 6, 3))

_FIELDS = tuple(f"op_{i}_{j}" for i, j in EDGES)
_CONV_KERNEL = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}
_SHORT = {"nor_conv_1x1": "C1", "nor_conv_3x3": "C3"}


def parse_arch(arch: str) -> tuple[str, ...]:
    """The 6 edge ops of an NB201 string (strict: exact NB201 layout, errors name the bad token)."""
    if not isinstance(arch, str):
        raise ValueError(f"NB201 arch must be a string, got {arch!r}")
    groups = arch.split("+")
    if len(groups) != NUM_NODES - 1:
        raise ValueError(
            f"NB201 arch {arch!r} must have {NUM_NODES - 1} node groups joined by '+', "
            f"got {len(groups)}"
        )
    ops: list[str] = []
    for dst, group in enumerate(groups, start=1):
        if len(group) < 2 or not group.startswith("|") or not group.endswith("|"):
            raise ValueError(
                f"NB201 arch {arch!r}: node {dst} group {group!r} must look like '|op~i|...|'"
            )
        tokens = group[1:-1].split("|")
        if len(tokens) != dst:
            raise ValueError(
                f"NB201 arch {arch!r}: node {dst} group {group!r} needs {dst} 'op~i' tokens, "
                f"got {len(tokens)}"
            )
        for src, token in enumerate(tokens):
            op, sep, index = token.partition("~")
            if not sep or "~" in index:
                raise ValueError(f"NB201 arch {arch!r}: bad token {token!r} (expected 'op~{src}')")
            if op not in OPS:
                raise ValueError(
                    f"NB201 arch {arch!r}: unknown op {op!r} in token {token!r}; "
                    f"known ops: {', '.join(OPS)}"
                )
            if index != str(src):
                raise ValueError(
                    f"NB201 arch {arch!r}: token {token!r} of node {dst} must read from node "
                    f"{src} ('{op}~{src}'), got input {index!r}"
                )
            ops.append(op)
    # `ops` is in (dst, src) order, which is exactly the NB201 edge order of EDGES.
    return tuple(ops)


def format_arch(ops: tuple[str, ...] | list[str]) -> str:
    """The NB201 string of 6 edge ops given in `EDGES` order."""
    ops = _check_ops(ops)
    groups, k = [], 0
    for dst in range(1, NUM_NODES):
        groups.append("|" + "|".join(f"{ops[k + src]}~{src}" for src in range(dst)) + "|")
        k += dst
    return "+".join(groups)


def _check_ops(ops: Any) -> tuple[str, ...]:
    ops = tuple(ops)
    if len(ops) != len(EDGES):
        raise ValueError(f"a NB201 cell needs {len(EDGES)} edge ops, got {len(ops)}: {ops!r}")
    for op in ops:
        if op not in OPS:
            raise ValueError(f"unknown NB201 op {op!r}; known ops: {', '.join(OPS)}")
    return ops


def reachable_nodes(ops: tuple[str, ...]) -> tuple[set[int], set[int]]:
    """(nodes fed by the input, nodes that feed the output) through non-`none` edges."""
    fed = {0}
    for (i, j), op in zip(EDGES, ops, strict=True):
        if op != "none" and i in fed:
            fed.add(j)
    feeds = {NUM_NODES - 1}
    for (i, j), op in sorted(zip(EDGES, ops, strict=True), key=lambda e: -e[0][1]):
        if op != "none" and j in feeds:
            feeds.add(i)
    return fed, feeds


def functional_form(ops: tuple[str, ...] | list[str]) -> str:
    """A canonical string of the function a cell computes: equal strings ⇔ equal functions.

    Built bottom-up: a node is the sorted multiset of its terms; `none` adds nothing, `skip_connect`
    adds the source's terms, `avg_pool_3x3` (linear) distributes over the source's terms as `P(t)`,
    and a conv adds one term `C1[...]`/`C3[...]` of the whole source sum (dropped when the source is
    zero, since ReLU→Conv→BN of zeros is zero). Dead edges and summation order therefore vanish.
    Exact for parameters derived from (op, shape, input content), as the functional hash does.
    """
    ops = _check_ops(ops)
    terms: list[list[str]] = [["x"]] + [[] for _ in range(NUM_NODES - 1)]
    for (i, j), op in zip(EDGES, ops, strict=True):
        src = terms[i]
        if op == "skip_connect":
            terms[j].extend(src)
        elif op == "avg_pool_3x3":
            terms[j].extend(f"P({t})" for t in src)
        elif op in _SHORT and src:
            terms[j].append(f"{_SHORT[op]}[{'+'.join(sorted(src))}]")
    return "+".join(sorted(terms[NUM_NODES - 1])) or "0"


@pg.members(
    [
        (name, pg.typing.Enum(OPS[0], list(OPS)), f"op on edge {name[3]}->{name[5]}")
        for name in _FIELDS
    ],
    init_arg_list=list(_FIELDS),
)
class Cell(pg.Object):
    """A NAS-Bench-201 cell: one op (from `OPS`) per edge, edges in NB201 string order."""

    def _on_bound(self) -> None:
        super()._on_bound()
        self._ops = tuple(self.sym_init_args[name] for name in _FIELDS)

    @property
    def ops(self) -> tuple[str, ...]:
        """The 6 edge ops in `EDGES` order."""
        return self._ops

    @property
    def edges(self) -> list[tuple[int, int, str]]:
        """The edges as (src, dst, op), in NB201 string order."""
        return [(i, j, op) for (i, j), op in zip(EDGES, self._ops, strict=True)]

    def to_string(self) -> str:
        """The standard NB201 string of this cell (inverse of `cell_from_string`)."""
        return format_arch(self._ops)

    def live_edges(self) -> list[tuple[int, int, str]]:
        """Edges whose op contributes to the output (not `none`, fed by the input, feeding out)."""
        fed, feeds = reachable_nodes(self._ops)
        return [(i, j, op) for i, j, op in self.edges if op != "none" and i in fed and j in feeds]

    def effective_edges(self) -> list[tuple[int, int, str]]:
        """Edges whose op change can alter the output: source fed by the input, target feeds out."""
        fed, feeds = reachable_nodes(self._ops)
        return [(i, j, op) for i, j, op in self.edges if i in fed and j in feeds]

    def functional_form(self) -> str:
        """Canonical form of the function the cell computes (see module-level `functional_form`)."""
        return functional_form(self._ops)

    def executable(self, probe: InputSpec = PROBE_INPUT) -> Executable:
        """The probe form for the functional hash: `fn(param_fn, x)` computes the cell on x (NHWC).

        Convs get their (k, k, C, C) HWIO weights only from `param_fn(op, shape, relu(x))`;
        BatchNorm uses batch statistics (eps 1e-5, no affine); pooling is 3×3, stride 1, SAME,
        count_include_pad=False. Returns the output node, so dead edges do not change the result.
        """
        if len(probe.shape) != 4:
            raise ValueError(f"probe shape must be (N, H, W, C), got {probe.shape!r}")
        ops = self._ops

        def fn(param_fn: ParamFn, x: Any) -> Any:
            return cell_forward(ops, x, lambda i, j, op, h: probe_edge(op, h, param_fn))

        arch = self.to_string()
        op_idx = np.asarray([OPS.index(op) for op in ops], dtype=np.int32)
        meta = {"arch": arch, BATCHED_META_KEY: (batched_probe_cell, op_idx)}
        return Executable(fn=fn, inputs=(probe,), static_key=f"nas_bench_201:{arch}", meta=meta)


def cell_from_string(arch: str) -> Cell:
    """The `Cell` of an NB201 string; ValueError naming the bad token if it is malformed."""
    return Cell(*parse_arch(arch))


def all_cells() -> list[Cell]:
    """All 15,625 cells in a fixed order (op indices counted like digits, edge (0→1) most slow)."""
    return [Cell(*(OPS[k] for k in idx)) for idx in itertools.product(range(len(OPS)), repeat=6)]


class NasBench201Space(Space):
    """The NB201 cell space: `Cell(pg.oneof(OPS), ...)`, one decision point per edge.

    `mutate` is graph-aware: it changes the op of exactly one edge to a different op, picking an
    *effective* edge (its source is fed by the input and its target feeds the output, so the change
    can alter the function) with weight 1 and any other edge with weight `dead_edge_weight`.
    Mutating a dead edge leaves the computed function unchanged and wastes an evaluation; a small
    non-zero weight keeps every cell reachable (dead edges can come alive later). The mutation is
    named ``edge_op:i->j``.
    """

    name = "nas_bench_201"

    def __init__(self, dead_edge_weight: float = 0.1):
        if not 0.0 <= float(dead_edge_weight) <= 1.0:
            raise ValueError(f"`dead_edge_weight` must be in [0, 1], got {dead_edge_weight!r}")
        self.dead_edge_weight = float(dead_edge_weight)
        super().__init__(Cell(*(pg.oneof(OPS) for _ in EDGES)), name=self.name)

    def mutate(self, dna: pg.DNA, rng: random.Random) -> tuple[pg.DNA, str]:
        """A child differing from `dna` in exactly one edge op, live edges preferred."""
        dna.use_spec(self.dna_spec)
        numbers = [int(v) for v in dna.to_numbers()]
        ops = tuple(OPS[k] for k in numbers)
        fed, feeds = reachable_nodes(ops)
        weights = [1.0 if (i in fed and j in feeds) else self.dead_edge_weight for i, j in EDGES]
        if sum(weights) <= 0.0:  # dead_edge_weight = 0 still leaves edge 0->3, but be safe.
            weights = [1.0] * len(EDGES)
        k = rng.choices(range(len(EDGES)), weights=weights)[0]
        numbers[k] = rng.choice([v for v in range(len(OPS)) if v != numbers[k]])
        child = pg.DNA(numbers)  # a flat list of 6 choices; faster than DNA.from_numbers
        child.use_spec(self.dna_spec)
        i, j = EDGES[k]
        return child, f"edge_op:{i}->{j}"

    def candidate_from_text(self, text: str) -> Cell:
        """A cell from its NB201 string (`|op~0|+|op~0|op~1|+|...|`)."""
        return cell_from_string(text)

    def dna_of(self, cell: Cell | str) -> pg.DNA:
        """The DNA that materialises to `cell` (a `Cell` or an NB201 string)."""
        ops = parse_arch(cell) if isinstance(cell, str) else cell.ops
        dna = pg.DNA([OPS.index(op) for op in ops])
        dna.use_spec(self.dna_spec)
        return dna


def nas_bench_201_space(dead_edge_weight: float = 0.1) -> NasBench201Space:
    """The NAS-Bench-201 space (registered as ``nas_bench_201``)."""
    return NasBench201Space(dead_edge_weight=dead_edge_weight)
