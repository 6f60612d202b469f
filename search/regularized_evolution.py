"""Regularized (aging) evolution, Real et al. 2019, as an asynchronous ask/tell searcher.

The first `population_size` proposals are random (or enqueued). Afterwards each proposal mutates the
winner of a tournament over the current population with `space.mutate`, so the space decides what a
mutation is. Told results join the population and the oldest member leaves once it is over size.

Failed, pruned or non-finite results never join the population: it fills up from later children
instead. If nothing has succeeded yet when the random phase is over, asks stay random.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from hashtune.search.base import Direction, Feedback, Proposal, is_finite
from hashtune.search.mixins import ProposalBookMixin
from hashtune.search.registry import register_searcher
from hashtune.search.selection import AgingPopulation, Member, tournament_select
from hashtune.spaces.base import Space


@register_searcher("regularized_evolution")
@register_searcher("evolution")
class RegularizedEvolution(ProposalBookMixin):
    """Tournament selection + `space.mutate` + aging population (single objective)."""

    name = "regularized_evolution"

    def __init__(
        self,
        space: Space,
        directions: Sequence[Direction] = ("maximize",),
        seed: int = 0,
        population_size: int = 50,
        tournament_size: int = 10,
        mutation_rate: float = 0.0,
    ):
        """`mutation_rate`: chance of one more `space.mutate` after each (0: one per child)."""
        super().__init__(space, directions, seed)
        if population_size < 1:
            raise ValueError(f"`population_size` must be >= 1, got {population_size!r}")
        if not 1 <= tournament_size:
            raise ValueError(f"`tournament_size` must be >= 1, got {tournament_size!r}")
        if not 0.0 <= mutation_rate < 1.0:
            raise ValueError(f"`mutation_rate` must be in [0, 1), got {mutation_rate!r}")
        self.population_size = population_size
        self.tournament_size = tournament_size
        self.mutation_rate = mutation_rate
        self.population = AgingPopulation(population_size)
        self._book_init()

    def ask(self, number: int) -> Proposal:
        """Queued DNA first, then random until `population_size` asks, then mutated winners."""
        queued = self._pop_queued()
        if queued is not None:
            return self._propose(number, queued, "enqueued")
        if self.num_asked < self.population_size or len(self.population) == 0:
            dna = self._fresh(lambda: self.space.random_dna(self.rng))
            return self._propose(number, dna, "random")
        parent = tournament_select(self.population.members, self.tournament_size, self.rng)
        dna, mutation = self._fresh(lambda: self._mutate(parent))
        return self._propose(number, dna, "mutation", parents=(parent.number,), mutation=mutation)

    def _mutate(self, parent: Member) -> tuple:
        dna, name = self.space.mutate(parent.dna, self.rng)
        names = [name]
        while self.mutation_rate > 0 and self.rng.random() < self.mutation_rate:
            dna, name = self.space.mutate(dna, self.rng)
            names.append(name)
        return dna, "+".join(names)

    def tell(self, proposal: Proposal, feedback: Feedback) -> None:
        """Add a successful result to the population (evicting the oldest when over size)."""
        if not (feedback.ok and is_finite(feedback.values)):
            return
        values = tuple(float(v) for v in feedback.values)
        member = Member(proposal.number, proposal.dna, values, self.scalar_fitness(values))
        self.population.add(member)

    def restore(self, history: Iterable[tuple[Proposal, Feedback | None]]) -> None:
        """Rebuild from history; only the last `population_size` successes can still be in the
        aging population, so only those are told (and only their DNA decoded)."""

        def learn(finished: list[tuple[Proposal, Feedback]]) -> None:
            ok = [(p, f) for p, f in finished if f.ok and is_finite(f.values)]
            for proposal, feedback in ok[-self.population_size :]:
                self.tell(proposal, feedback)

        self._book_restore(history, learn)
