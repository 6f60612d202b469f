"""Regularized (aging) evolution, Real et al. 2019, as an asynchronous ask/tell searcher.

The first `population_size` proposals are random. Afterwards each proposal mutates the winner of a
tournament over the current population with `space.mutate`, so the space decides what a mutation
is. Told results join the population and the oldest member leaves once it is over size::

    RandomK(tournament_size) >> TopK(1) >> Deduped(Mutate(mutation_rate)), KeepLast(population_size)

Failed, pruned or non-finite results never join the population: it fills up from later children
instead. If nothing has succeeded yet when the random phase is over, asks stay random.
"""

from __future__ import annotations

from collections.abc import Sequence

from hashtune.search.evolution import Evolution
from hashtune.search.ops import Deduped, Mutate, RandomK, TopK
from hashtune.search.populations import KeepLast
from hashtune.search.registry import register_searcher
from hashtune.spaces.base import Space
from hashtune.vocabulary import Direction


@register_searcher("regularized_evolution")
@register_searcher("evolution")
class RegularizedEvolution(Evolution):
    """Tournament selection + `space.mutate` + aging population (single objective)."""

    name = "regularized_evolution"

    def __init__(
        self,
        space: Space,
        directions: Sequence[Direction | str] = (Direction.MAXIMIZE,),
        seed: int = 0,
        population_size: int = 50,
        tournament_size: int = 10,
        mutation_rate: float = 0.0,
    ):
        """`mutation_rate`: chance of one more `space.mutate` after each (0: one per child)."""
        if population_size < 1:
            raise ValueError(f"`population_size` must be >= 1, got {population_size!r}")
        if tournament_size < 1:
            raise ValueError(f"`tournament_size` must be >= 1, got {tournament_size!r}")
        super().__init__(
            space,
            directions,
            seed,
            reproduce=RandomK(tournament_size) >> TopK(1) >> Deduped(Mutate(mutation_rate)),
            population=KeepLast(population_size),
            warmup=population_size,
        )
        self.population_size = population_size
        self.tournament_size = tournament_size
        self.mutation_rate = mutation_rate
