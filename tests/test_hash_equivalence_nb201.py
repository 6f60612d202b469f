"""The functional hash on NAS-Bench-201 cells: equal exactly when an independent canonical form is.

The canonical form is computed from the graph alone (prune dead edges, skip = identity, avg_pool
distributes over sums, a conv of a sum is one unit, sums are multisets), not from any hash code.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import subprocess
import sys
import time
from collections import defaultdict

import jax
import pytest

from hashtune.hashing import BATCHED_META_KEY, functional_hash, functional_hashes
from hashtune.spaces.nas_bench_201 import EDGES, OPS, Cell, all_cells, cell_from_string

# ---- an independent canonical form ---------------------------------------------------------------


def live_edges(ops: tuple[str, ...]) -> list[tuple[int, int, str]]:
    """Edges on some input→output path of non-`none` edges."""
    edges = [(i, j, op) for (i, j), op in zip(EDGES, ops, strict=True) if op != "none"]
    reach_from_in, reach_out = {0}, {3}
    for _ in range(3):
        reach_from_in |= {j for i, j, _ in edges if i in reach_from_in}
        reach_out |= {i for i, j, _ in edges if j in reach_out}
    return [(i, j, op) for i, j, op in edges if i in reach_from_in and j in reach_out]


def canonical(ops: tuple[str, ...]) -> str:
    """Canonical expression of node 3 on the pruned graph (terms as a sorted multiset)."""
    live = live_edges(ops)

    def expr(node: int) -> list[str]:
        if node == 0:
            return ["in"]
        terms: list[str] = []
        for i, j, op in live:
            if j != node:
                continue
            sub = expr(i)
            if op == "skip_connect":
                terms += sub
            elif op == "avg_pool_3x3":
                terms += [f"pool<{t}>" for t in sub]
            else:
                terms.append(f"{op}<{' + '.join(sorted(sub))}>")
        return sorted(terms)

    return " + ".join(expr(3)) or "zero"


# ---- tests ---------------------------------------------------------------------------------------

EQUAL_PAIRS = [
    # dead edges: node 2 never reaches the output
    (
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|none~2|",
        "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|",
    ),
    # dead edge: its source is never fed from the input
    (
        "|none~0|+|skip_connect~0|nor_conv_3x3~1|+|none~0|nor_conv_1x1~1|nor_conv_1x1~2|",
        "|none~0|+|skip_connect~0|none~1|+|none~0|none~1|nor_conv_1x1~2|",
    ),
    # skip is the identity: conv(skip(x)) == conv(x) on another path
    (
        "|skip_connect~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|none~2|",
        "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|",
    ),
    # isomorphic: nodes 1 and 2 relabelled
    (
        "|nor_conv_3x3~0|+|avg_pool_3x3~0|none~1|+|none~0|skip_connect~1|nor_conv_1x1~2|",
        "|avg_pool_3x3~0|+|nor_conv_3x3~0|none~1|+|none~0|nor_conv_1x1~1|skip_connect~2|",
    ),
    # avg_pool(a) + avg_pool(b) == avg_pool(a + b)
    (
        "|nor_conv_3x3~0|+|skip_connect~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|",
        "|nor_conv_3x3~0|+|none~0|none~1|+|avg_pool_3x3~0|avg_pool_3x3~1|none~2|",
    ),
    # the same two terms reached through different routes
    (
        "|nor_conv_1x1~0|+|skip_connect~0|none~1|+|none~0|nor_conv_1x1~1|nor_conv_1x1~2|",
        "|nor_conv_1x1~0|+|none~0|nor_conv_1x1~1|+|none~0|skip_connect~1|skip_connect~2|",
    ),
]
DIFFERENT_PAIRS = [
    # conv(a) + conv(b) vs conv(a + b)
    (
        "|nor_conv_3x3~0|+|none~0|none~1|+|nor_conv_1x1~0|nor_conv_1x1~1|none~2|",
        "|nor_conv_3x3~0|+|skip_connect~0|skip_connect~1|+|none~0|none~1|nor_conv_1x1~2|",
    ),
    # conv(2x) (BatchNorm would cancel a rescaling) vs conv(x)
    (
        "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|none~0|none~1|nor_conv_3x3~2|",
        "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|",
    ),
    # one op differs
    (
        "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|",
        "|none~0|+|none~0|none~1|+|nor_conv_1x1~0|none~1|none~2|",
    ),
    (
        "|avg_pool_3x3~0|+|none~0|none~1|+|none~0|avg_pool_3x3~1|none~2|",
        "|avg_pool_3x3~0|+|none~0|none~1|+|none~0|skip_connect~1|none~2|",
    ),
    # 2*x vs x, x vs the zero cell
    (
        "|skip_connect~0|+|none~0|none~1|+|skip_connect~0|skip_connect~1|none~2|",
        "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|",
    ),
    (
        "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|",
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    ),
]


@pytest.mark.parametrize(("a", "b"), EQUAL_PAIRS)
def test_equivalent_cells_hash_equal(a: str, b: str) -> None:
    ca, cb = cell_from_string(a), cell_from_string(b)
    assert canonical(ca.ops) == canonical(cb.ops)
    assert functional_hash(ca) == functional_hash(cb)


@pytest.mark.parametrize(("a", "b"), DIFFERENT_PAIRS)
def test_different_cells_hash_apart(a: str, b: str) -> None:
    ca, cb = cell_from_string(a), cell_from_string(b)
    assert canonical(ca.ops) != canonical(cb.ops)
    assert functional_hash(ca) != functional_hash(cb)


def test_batched_path_matches_eager_path() -> None:
    idx = list(itertools.product(range(len(OPS)), repeat=6))[::389]  # 41 cells across the space
    cells = [Cell(*(OPS[k] for k in ops)) for ops in idx]
    plain = [dataclasses.replace(c.executable(), meta={}) for c in cells]  # no batched form
    eager = [functional_hash(e) for e in plain]
    assert all(BATCHED_META_KEY in c.executable().meta for c in cells)
    assert functional_hashes(cells, chunk=16) == eager
    assert [functional_hash(c) for c in cells] == eager  # single hashes use the batched form
    assert functional_hashes(plain[:3]) == eager[:3]  # eager inside


def test_same_hash_in_a_separate_process() -> None:
    arch = "|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"
    code = (
        "import json; from hashtune.hashing import functional_hash; "
        "from hashtune.spaces.nas_bench_201 import cell_from_string; "
        f"print(json.dumps(functional_hash(cell_from_string({arch!r}))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == functional_hash(
        cell_from_string(arch)
    )


@pytest.mark.slow
def test_all_cells_partition_equals_canonical_partition() -> None:
    cells = all_cells()
    t0 = time.perf_counter()
    hashes = functional_hashes(cells)
    seconds = time.perf_counter() - t0
    canon = [canonical(c.ops) for c in cells]
    by_hash: dict[str, set[str]] = defaultdict(set)
    by_canon: dict[str, set[str]] = defaultdict(set)
    for h, k in zip(hashes, canon, strict=True):
        by_hash[h].add(k)
        by_canon[k].add(h)
    merged = {h: ks for h, ks in by_hash.items() if len(ks) > 1}  # collisions
    split = {k: hs for k, hs in by_canon.items() if len(hs) > 1}  # rounding splits
    print(
        f"\nNB201: {len(cells)} cells -> {len(by_hash)} hash classes, {len(by_canon)} canonical "
        f"classes; {len(merged)} merged, {len(split)} split; hashed in {seconds:.1f} s"
    )
    assert not merged, list(merged.items())[:3]
    assert not split, list(split.items())[:3]
    assert len(by_hash) == len(by_canon)
    # Cross-check with the space's own (separately written) functional form.
    theirs = {c.functional_form() for c in cells}
    assert len(theirs) == len(by_canon)


def test_probe_runs_in_float64_without_changing_global_config() -> None:
    assert not jax.config.jax_enable_x64
    functional_hash(
        cell_from_string("|avg_pool_3x3~0|+|nor_conv_1x1~0|none~1|+|none~0|none~1|skip_connect~2|")
    )
    assert not jax.config.jax_enable_x64
