"""NSGA-II (Deb et al. 2002) as an asynchronous, steady-state (mu + 1) ask/tell searcher::

    CrowdedTournament() >> Deduped(Mutate()), Elitist(population_size, directions)

The first `population_size` proposals are random. Afterwards each proposal mutates the winner of a
binary tournament on (non-domination rank, crowding distance) with `space.mutate`. Each told result
joins the population; when it is over size, NSGA-II survival (whole fronts, then the most isolated
by crowding distance) drops one member. Failed, pruned or non-finite results are ignored. Every
objective honours its own direction.
"""

from __future__ import annotations

from collections.abc import Sequence

from hashtune.search.evolution import Evolution
from hashtune.search.ops import CrowdedTournament, Deduped, Mutate
from hashtune.search.populations import Elitist
from hashtune.search.registry import register_searcher
from hashtune.search.selection import Member, pareto_front
from hashtune.spaces.base import Space
from hashtune.vocabulary import Direction


@register_searcher("nsga2")
class NSGA2(Evolution):
    """Multi-objective evolution: non-dominated sorting, crowding, binary tournament, mutation."""

    name = "nsga2"

    def __init__(
        self,
        space: Space,
        directions: Sequence[Direction | str] = (Direction.MAXIMIZE, Direction.MINIMIZE),
        seed: int = 0,
        population_size: int = 50,
    ):
        dirs = tuple(str(d) for d in directions)
        super().__init__(
            space,
            dirs,
            seed,
            reproduce=CrowdedTournament() >> Deduped(Mutate()),
            population=Elitist(population_size, dirs),
            warmup=population_size,
        )
        self.population_size = population_size

    def front(self) -> list[Member]:
        """The non-dominated members of the current population (oldest first)."""
        members = self.population.members
        idx = pareto_front([m.values for m in members], self.directions)
        return [members[i] for i in idx]
