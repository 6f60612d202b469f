"""Multi-fidelity funnel (as in Lion's search): cheap proxy for all, longer training for the best.

Every new function is scored at fidelity 0; the top `promote_fraction` of the batch's *new*
functions at a rung (by that score, at least `min_promote`, never one scoring below
`promote_above`) is trained again at the next rung, and so on up the rungs. A function's promotion
is decided once, when it is first scored at a rung: a cache hit never takes a promotion slot (with
FEC a batch holds many copies of known elites, which would otherwise crowd out every new function
that does not beat them at the cheap rung). Results are cached per (functional hash, fidelity), so a
function is never trained twice at one rung; a program's fitness is its score at the highest rung
it reached (scores are relative to Adam at every rung, so rungs are comparable). `finalists(n)`:
the best keys at the top rung with their programs (what a search picks its result from).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hashtune.evaluators.optimizer_suite import SuiteScorer
from hashtune.spaces.optimizers.program import Program


@dataclass
class FunnelStats:
    """Paid trainings per rung and cache hits per rung."""

    paid: dict[int, int] = field(default_factory=dict)
    hits: dict[int, int] = field(default_factory=dict)


class Funnel:
    """Scores batches of (program, key) through the rungs; `results[(key, rung)]` is the cache."""

    def __init__(
        self,
        scorers: Sequence[SuiteScorer],
        promote_fraction: float = 0.1,
        min_promote: int = 1,
        promote_above: float = -1.0,
    ):
        if not scorers:
            raise ValueError("`scorers` must name at least one rung")
        if not 0.0 <= promote_fraction <= 1.0:
            raise ValueError(f"`promote_fraction` must be in [0, 1], got {promote_fraction!r}")
        self.scorers = list(scorers)
        self.promote_fraction, self.min_promote = promote_fraction, min_promote
        self.promote_above = promote_above
        self.results: dict[tuple[str, int], dict[str, Any]] = {}
        self.programs: dict[str, Program] = {}  # key -> program, for keys scored at the top rung
        self.stats = FunnelStats()

    def _score_rung(self, rung: int, items: Sequence[tuple[str, Program]]) -> list[str]:
        """Train the keys not yet known at `rung`; returns them (the newly scored keys)."""
        todo: dict[str, Program] = {}
        for key, prog in items:
            if (key, rung) in self.results or key in todo:
                self.stats.hits[rung] = self.stats.hits.get(rung, 0) + 1
            else:
                todo[key] = prog
        if todo:
            scored = self.scorers[rung].score(list(todo.values()))
            for key, res in zip(todo, scored, strict=True):
                self.results[(key, rung)] = res
            self.stats.paid[rung] = self.stats.paid.get(rung, 0) + len(todo)
            if rung + 1 == len(self.scorers):
                self.programs.update(todo)
        return list(todo)

    def run(self, items: Sequence[tuple[str, Program]]) -> list[tuple[float, int]]:
        """(fitness, highest rung) per item: rung 0 for all, the best promoted up the rungs."""
        current = list(items)
        for rung in range(len(self.scorers)):
            new = self._score_rung(rung, current)
            if rung + 1 == len(self.scorers):
                break
            uniq = {k: p for k, p in current}
            ranked = sorted(new, key=lambda k: -self.results[(k, rung)]["score"])
            n = max(self.min_promote, int(round(self.promote_fraction * len(ranked))))
            keep = [k for k in ranked[:n] if self.results[(k, rung)]["score"] >= self.promote_above]
            current = [(k, uniq[k]) for k in keep]
            if not current:
                break
        return [self.fitness(key) for key, _ in items]

    def finalists(self, n: int) -> list[tuple[str, float, Program]]:
        """The `n` best (key, score, program) at the top rung, best first (ties: first scored)."""
        top = len(self.scorers) - 1
        keys = sorted(self.programs, key=lambda k: -self.results[(k, top)]["score"])[:n]
        return [(k, self.results[(k, top)]["score"], self.programs[k]) for k in keys]

    def fitness(self, key: str) -> tuple[float, int]:
        """(score at the highest rung `key` reached, that rung)."""
        for rung in reversed(range(len(self.scorers))):
            if (key, rung) in self.results:
                return self.results[(key, rung)]["score"], rung
        raise KeyError(key)
