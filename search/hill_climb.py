"""Stochastic hill climbing: keep the best result so far and propose mutations of it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from hashtune.search.base import Direction, Feedback, Proposal, is_finite
from hashtune.search.mixins import ProposalBookMixin
from hashtune.search.registry import register_searcher
from hashtune.search.selection import Member
from hashtune.spaces.base import Space


@register_searcher("hill_climb")
class HillClimb(ProposalBookMixin):
    """Starts from `batch` random DNA, then mutates the incumbent (ties move it: plateau drift)."""

    name = "hill_climb"

    def __init__(
        self,
        space: Space,
        directions: Sequence[Direction] = ("maximize",),
        seed: int = 0,
        batch: int = 1,
    ):
        """`batch`: how many random starting points to propose before climbing."""
        super().__init__(space, directions, seed)
        if batch < 1:
            raise ValueError(f"`batch` must be >= 1, got {batch!r}")
        self.batch = batch
        self.best: Member | None = None
        self._book_init()

    def ask(self, number: int) -> Proposal:
        """Queued DNA first, then `batch` random starts, then mutations of the best so far."""
        queued = self._pop_queued()
        if queued is not None:
            return self._propose(number, queued, "enqueued")
        best = self.best
        if self.num_asked < self.batch or best is None:
            dna = self._fresh(lambda: self.space.random_dna(self.rng))
            return self._propose(number, dna, "random")
        dna, mutation = self._fresh(lambda: self.space.mutate(best.dna, self.rng))
        return self._propose(number, dna, "mutation", parents=(best.number,), mutation=mutation)

    def tell(self, proposal: Proposal, feedback: Feedback) -> None:
        """Replace the incumbent when this result is at least as good."""
        if not (feedback.ok and is_finite(feedback.values)):
            return
        values = tuple(float(v) for v in feedback.values)
        fitness = self.scalar_fitness(values)
        if self.best is None or fitness >= self.best.fitness:
            self.best = Member(proposal.number, proposal.dna, values, fitness)

    def restore(self, history: Iterable[tuple[Proposal, Feedback | None]]) -> None:
        """Rebuild from history: the incumbent a replay would end with is the last success of
        the best fitness (ties move it), found from the values alone and told alone."""

        def learn(finished: list[tuple[Proposal, Feedback]]) -> None:
            best, best_fit = None, None
            for proposal, feedback in finished:
                if not (feedback.ok and is_finite(feedback.values)):
                    continue
                fit = self.scalar_fitness(tuple(float(v) for v in feedback.values))
                if best_fit is None or fit >= best_fit:
                    best, best_fit = (proposal, feedback), fit
            if best is not None:
                self.tell(*best)

        self._book_restore(history, learn)
