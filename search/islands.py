"""Batched regularized evolution on islands: K aging populations, ring migration, restarts.

One population converges on one basin; on a deceptive landscape (the building blocks of the
global optimum score worse than a local optimum) it stays there. `Islands` keeps `K`
independent aging populations (each regularized evolution: tournament, mutate, oldest leaves),
every `migrate_every` generations copies each island's best member into the next island on a
ring (as its newest member, so it ages out like any other), and restarts an island whose best
has not improved for `restart_after` generations (its population emptied, so it refills from
`init`), never the island holding the overall best. Genomes are opaque: `init(rng)` draws one,
`mutate(parent, rng)` one child. With `K = 1` and both off, the draws are those of one
population filling a batch with `init` until full, then with tournament winners' children.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from hashtune.search.selection import AgingPopulation


class Entry(NamedTuple):
    """A member of an island: the genome, its key (e.g. functional hash) and fitness."""

    genome: Any
    key: str
    fitness: float


class Islands:
    """`islands` aging populations of `size` each (see the module docstring)."""

    def __init__(
        self,
        islands: int,
        size: int,
        tournament: int,
        migrate_every: int = 0,
        restart_after: int = 0,
    ):
        for name, v, lo in (
            ("islands", islands, 1),
            ("size", size, 1),
            ("tournament", tournament, 1),
        ):
            if v < lo:
                raise ValueError(f"`{name}` must be >= {lo}, got {v!r}")
        if migrate_every < 0 or restart_after < 0:
            raise ValueError(
                f"`migrate_every` and `restart_after` must be >= 0, got "
                f"{migrate_every!r}, {restart_after!r}"
            )
        self.size, self.tournament = size, tournament
        self.migrate_every, self.restart_after = migrate_every, restart_after
        self.pops = [AgingPopulation(size) for _ in range(islands)]
        self.best: list[Entry | None] = [None] * islands
        self.since_gain = [0] * islands
        self.generation = 0
        self.migrations = self.restarts = 0

    def propose(
        self,
        n: int,
        rng: random.Random,
        init: Callable[[random.Random], Any],
        mutate: Callable[[Any, random.Random], Any],
    ) -> list[tuple[int, Any]]:
        """`n` (island, genome) pairs split evenly: an island not yet full draws `init`, else
        children of its tournament winners."""
        out: list[tuple[int, Any]] = []
        k = len(self.pops)
        for i, pop in enumerate(self.pops):
            share = n // k + (i < n % k)
            if not pop.full:
                out += [(i, init(rng)) for _ in range(share)]
            else:
                members = pop.members
                t = min(self.tournament, len(members))
                for _ in range(share):
                    parent = max(rng.sample(members, t), key=lambda e: e.fitness).genome
                    out.append((i, mutate(parent, rng)))
        return out

    def tell(self, islands: Sequence[int], entries: Sequence[Entry]) -> None:
        """Results join their islands (oldest leave); then migration and restarts are due."""
        for i, e in zip(islands, entries, strict=True):
            self.pops[i].add(e)
            b = self.best[i]
            if b is None or e.fitness > b.fitness:
                self.best[i], self.since_gain[i] = e, -1
        for i in range(len(self.pops)):
            self.since_gain[i] += 1
        self.generation += 1
        if self.migrate_every and len(self.pops) > 1 and self.generation % self.migrate_every == 0:
            self.migrate()
        if self.restart_after:
            self.restart_stagnated()

    def migrate(self) -> None:
        """Each island's best (of its current members) joins the next island on the ring."""
        bests = [max(pop, key=lambda e: e.fitness) if pop else None for pop in self.pops]
        for i, b in enumerate(bests):
            if b is not None:
                self.pops[(i + 1) % len(self.pops)].add(b)
        self.migrations += 1

    def restart_stagnated(self) -> list[int]:
        """Empty the islands without a gain for `restart_after` generations (not the leader's)."""
        scores = [-float("inf") if b is None else b.fitness for b in self.best]
        leader = max(range(len(scores)), key=lambda i: scores[i])
        out = [
            i
            for i in range(len(self.pops))
            if i != leader and self.since_gain[i] >= self.restart_after
        ]
        for i in out:
            self.pops[i] = AgingPopulation(self.size)
            self.best[i], self.since_gain[i] = None, 0
        self.restarts += len(out)
        return out

    def members(self) -> list[Entry]:
        """Every island's members, island by island, oldest first."""
        return [e for pop in self.pops for e in pop]
