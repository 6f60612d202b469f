"""Uniform random search: the baseline every other searcher must beat."""

from __future__ import annotations

from collections.abc import Sequence

from hashtune.search.base import Direction, Feedback, Proposal
from hashtune.search.mixins import ProposalBookMixin
from hashtune.search.registry import register_searcher
from hashtune.spaces.base import Space


@register_searcher("random")
class RandomSearch(ProposalBookMixin):
    """Proposes uniformly random DNA, avoiding exact repeats while a discrete space has new ones."""

    name = "random"

    def __init__(
        self,
        space: Space,
        directions: Sequence[Direction] = ("maximize",),
        seed: int = 0,
    ):
        super().__init__(space, directions, seed)
        self._book_init()

    def ask(self, number: int) -> Proposal:
        """Propose a queued DNA if any, else a fresh uniformly random one."""
        queued = self._pop_queued()
        if queued is not None:
            return self._propose(number, queued, "enqueued")
        dna = self._fresh(lambda: self.space.random_dna(self.rng))
        return self._propose(number, dna, "random")

    def tell(self, proposal: Proposal, feedback: Feedback) -> None:
        """Random search does not learn."""
