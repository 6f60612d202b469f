"""An evolutionary searcher composed of named parts: a warm-up generator, a reproduction step
and a population update. Regularized evolution, NSGA-II and hill climbing are each one call.

`ask` proposes `init` (deduped random DNA by default) for the first `warmup` proposals or while
the population is empty, then `reproduce(population)`. `tell` lets successful, finite results join
the population; failed, pruned or non-finite ones never do, so it fills up from later children.
"""

from __future__ import annotations

from collections.abc import Sequence

from hashtune.search.base import Feedback, Proposal, is_finite
from hashtune.search.book import BookedSearcher, Finished
from hashtune.search.ops import Child, Deduped, RandomDNA, Step
from hashtune.search.populations import Population, Scored
from hashtune.spaces.base import Space
from hashtune.vocabulary import Direction


class Evolution(BookedSearcher):
    """`init` for `warmup` asks, then `reproduce` on `population`'s members (see module doc)."""

    name = "evolution"

    def __init__(
        self,
        space: Space,
        directions: Sequence[str] = (Direction.MAXIMIZE,),
        seed: int = 0,
        *,
        reproduce: Step,
        population: Population,
        warmup: int,
        init: Step | None = None,
    ):
        super().__init__(space, directions, seed)
        self.reproduce = reproduce
        self.population = population
        self.warmup = warmup
        self.init = Deduped(RandomDNA()) if init is None else init

    def ask(self, number: int) -> Proposal:
        """`init` until `warmup` proposals are booked (or nothing succeeded yet), then `reproduce`."""
        members = self.population.members
        step = self.init if self.book.count < self.warmup or not members else self.reproduce
        child: Child = step(members, self)
        return self.propose(number, child.genome, child.parents, child.mutation)

    def scored(self, proposal: Proposal, feedback: Feedback) -> Scored | None:
        """`proposal`'s result if it can join a population (successful, finite), else None."""
        if not (feedback.ok and is_finite(feedback.values)):
            return None
        values = tuple(float(v) for v in feedback.values or ())
        return Scored(proposal, values, self.scalar_fitness(values))

    def tell(self, proposal: Proposal, feedback: Feedback) -> None:
        """Let a successful, finite result join the population."""
        s = self.scored(proposal, feedback)
        if s is not None:
            self.population.add(s.member())

    def learn(self, finished: Finished) -> None:
        """Rebuild the population from a resume's successes (the population decides how)."""
        scored = [self.scored(p, f) for p, f in finished]
        self.population.restore([s for s in scored if s is not None])
