"""A worker of a shared study, run as its own process by test_peer_sync.py.

`python tests/peer_worker.py URL N NAME...` opens each study NAME in URL (components rebuilt from
its config: this module's `space` and `evaluator`) and runs N trials on it.
"""

from __future__ import annotations

import sys
from typing import Any

import pyglove as pg

from hashtune import FunctionEvaluator, Space, Study


def space() -> Space:
    """64 discrete DNA (a, b in 0..7)."""
    return Space(pg.Dict(a=pg.oneof(list(range(8))), b=pg.oneof(list(range(8)))), name="peer64")


def space4() -> Space:
    """4 discrete DNA (a, b in 0..1)."""
    return Space(pg.Dict(a=pg.oneof([0, 1]), b=pg.oneof([0, 1])), name="peer4")


def score(c: Any) -> float:
    """One peak at (5, 2); the small terms make every point's score distinct (no ties)."""
    return -float((c.a - 5) ** 2 + (c.b - 2) ** 2) + 0.01 * c.a + 0.001 * c.b


def evaluator() -> FunctionEvaluator:
    return FunctionEvaluator(score)


if __name__ == "__main__":
    url, n = sys.argv[1], int(sys.argv[2])
    for name in sys.argv[3:]:
        Study.load(name, storage=url).optimize(n_trials=n)
