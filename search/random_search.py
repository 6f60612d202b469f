"""Uniform random search: the baseline every other searcher must beat."""

from __future__ import annotations

from collections.abc import Sequence

from hashtune.search.base import Feedback, Proposal
from hashtune.search.book import BookedSearcher
from hashtune.search.ops import Deduped, RandomDNA
from hashtune.search.registry import register_searcher
from hashtune.spaces.base import Space
from hashtune.vocabulary import Direction


@register_searcher("random")
class RandomSearch(BookedSearcher):
    """Proposes uniformly random DNA, avoiding exact repeats while a discrete space has new ones."""

    name = "random"

    def __init__(
        self,
        space: Space,
        directions: Sequence[Direction | str] = (Direction.MAXIMIZE,),
        seed: int = 0,
    ):
        super().__init__(space, directions, seed)
        self.draw = Deduped(RandomDNA())

    def ask(self, number: int) -> Proposal:
        """A fresh uniformly random DNA (unbooked while the space has any)."""
        return self.propose(number, self.draw(None, self).genome)

    def tell(self, proposal: Proposal, feedback: Feedback) -> None:
        """Random search does not learn."""
