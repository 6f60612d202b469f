"""Stochastic hill climbing: keep the best result so far and propose mutations of it::

TopK(1) >> Deduped(Mutate()), KeepBest()
"""

from __future__ import annotations

from collections.abc import Sequence

from hashtune.search.evolution import Evolution
from hashtune.search.ops import Deduped, Mutate, TopK
from hashtune.search.populations import KeepBest
from hashtune.search.registry import register_searcher
from hashtune.search.selection import Member
from hashtune.spaces.base import Space
from hashtune.vocabulary import Direction


@register_searcher("hill_climb")
class HillClimb(Evolution):
    """Starts from `batch` random DNA, then mutates the incumbent (ties move it: plateau drift)."""

    name = "hill_climb"

    def __init__(
        self,
        space: Space,
        directions: Sequence[Direction | str] = (Direction.MAXIMIZE,),
        seed: int = 0,
        batch: int = 1,
    ):
        """`batch`: how many random starting points to propose before climbing."""
        if batch < 1:
            raise ValueError(f"`batch` must be >= 1, got {batch!r}")
        self.incumbent = KeepBest()
        super().__init__(
            space,
            directions,
            seed,
            reproduce=TopK(1) >> Deduped(Mutate()),
            population=self.incumbent,
            warmup=batch,
        )
        self.batch = batch

    @property
    def best(self) -> Member | None:
        """The incumbent: the latest result of the best fitness so far."""
        return self.incumbent.best
