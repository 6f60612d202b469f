"""NAS-Bench-201's own isomorphism classes: cells that are the same graph in another encoding.

`isomorphism_key` reproduces NB201's `CellStructure.to_unique_str(consider_zero=True)` (Dong & Yang
2020): a node is the sorted sum of its incoming terms, `skip_connect` passes its source's term on,
`none` (or a zero source) contributes a zero term ``#`` that is kept, any other op wraps its source
as ``(src)@op``. It yields the benchmark's 6,466 classes of the 15,625 cells. Unlike
`functional_form` it keeps zero terms and does not distribute pooling, so it is finer than the
function a cell computes: its classes differ only by training noise, the baseline a functional
hash's classes are checked against.
"""

from __future__ import annotations

from hashtune.spaces.nas_bench_201 import NUM_NODES, format_arch

ZERO = "#"


def isomorphism_key(ops: tuple[str, ...] | list[str]) -> str:
    """NB201's unique string of a cell (equal strings: isomorphic cells, in NB201's sense)."""
    format_arch(ops)  # validates: 6 known ops
    ops = tuple(ops)
    nodes = ["0"]
    k = 0
    for dst in range(1, NUM_NODES):
        terms = []
        for src in range(dst):
            op, x = ops[k], nodes[src]
            k += 1
            if op == "none" or x == ZERO:
                terms.append(ZERO)
            elif op == "skip_connect":
                terms.append(x)
            else:
                terms.append(f"({x})@{op}")
        nodes.append("+".join(sorted(terms)))
    return nodes[-1]
