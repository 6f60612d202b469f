"""NSGA-II (Deb et al. 2002) as an asynchronous, steady-state (mu + 1) ask/tell searcher.

The first `population_size` proposals are random (or enqueued). Afterwards each proposal mutates the
winner of a binary tournament on (non-domination rank, crowding distance) with `space.mutate`. Each
told result joins the population; when it is over size, NSGA-II survival (whole fronts, then the
most isolated by crowding distance) drops one member. Failed, pruned or non-finite results are
ignored. Every objective honours its own direction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from hashtune.search.base import Direction, Feedback, Proposal, is_finite
from hashtune.search.mixins import ProposalBookMixin
from hashtune.search.registry import register_searcher
from hashtune.search.selection import (
    Member,
    crowded_better,
    dominates,
    non_dominated_sort,
    nsga2_survivors,
    oriented,
    pareto_front,
    rank_and_crowding,
    survivors_and_worst,
)
from hashtune.spaces.base import Space


@register_searcher("nsga2")
class NSGA2(ProposalBookMixin):
    """Multi-objective evolution: non-dominated sorting, crowding, binary tournament, mutation."""

    name = "nsga2"

    def __init__(
        self,
        space: Space,
        directions: Sequence[Direction] = ("maximize", "minimize"),
        seed: int = 0,
        population_size: int = 50,
    ):
        super().__init__(space, directions, seed)
        if population_size < 1:
            raise ValueError(f"`population_size` must be >= 1, got {population_size!r}")
        self.population_size = population_size
        self.population: list[Member] = []
        self._ranks: list[int] | None = None
        self._crowd: list[float] | None = None
        self._book_init()

    def ask(self, number: int) -> Proposal:
        """Queued DNA first, then random until `population_size` asks, then mutated winners."""
        queued = self._pop_queued()
        if queued is not None:
            return self._propose(number, queued, "enqueued")
        if self.num_asked < self.population_size or not self.population:
            dna = self._fresh(lambda: self.space.random_dna(self.rng))
            return self._propose(number, dna, "random")
        parent = self._binary_tournament()
        dna, mutation = self._fresh(lambda: self.space.mutate(parent.dna, self.rng))
        return self._propose(number, dna, "mutation", parents=(parent.number,), mutation=mutation)

    def _binary_tournament(self) -> Member:
        if self._ranks is None or self._crowd is None:
            points = [m.values for m in self.population]
            self._ranks, self._crowd = rank_and_crowding(points, self.directions)
        n = len(self.population)
        a, b = (self.rng.sample(range(n), 2)) if n > 1 else (0, 0)
        return self.population[crowded_better(a, b, self._ranks, self._crowd)]

    def tell(self, proposal: Proposal, feedback: Feedback) -> None:
        """Add a successful result; when over size keep NSGA-II's survivors."""
        if not (feedback.ok and is_finite(feedback.values)):
            return
        values = tuple(float(v) for v in feedback.values)
        if len(values) != len(self.directions):
            raise ValueError(
                f"feedback values {values!r} of trial {proposal.number} have {len(values)} "
                f"objectives but `directions` is {self.directions!r}"
            )
        self.population.append(Member(proposal.number, proposal.dna, values))
        if len(self.population) > self.population_size:
            points = [m.values for m in self.population]
            keep = nsga2_survivors(points, self.directions, self.population_size)
            self.population = [self.population[i] for i in keep]
        self._ranks = self._crowd = None

    def restore(self, history: Iterable[tuple[Proposal, Feedback | None]]) -> None:
        """Rebuild from history: the steady-state survival is replayed on the values alone, and
        only the survivors' DNA is decoded. A newcomer dominated by a member of the worst front
        is dropped at once by NSGA-II survival (it dominates no member, so it forms a last front
        of its own), so it is skipped without sorting."""
        self._book_restore(history, self._replay_survival)

    def _replay_survival(self, finished: list[tuple[Proposal, Feedback]]) -> None:
        ok: list[tuple[Proposal, tuple[float, ...]]] = []
        for proposal, feedback in finished:
            if feedback.ok and is_finite(feedback.values):
                values = tuple(float(v) for v in feedback.values)
                if len(values) != len(self.directions):
                    self.tell(proposal, feedback)  # raises the same error as a live tell
                ok.append((proposal, values))
        pop: list[int] = []  # indices into `ok`, in population order
        worst: list[tuple[float, ...]] | None = None  # oriented members of the worst front
        for i, (_, values) in enumerate(ok):
            if len(pop) >= self.population_size:
                if worst is None:
                    fronts = non_dominated_sort([ok[j][1] for j in pop], self.directions)
                    worst = [oriented(ok[pop[j]][1], self.directions) for j in fronts[-1]]
                point = oriented(values, self.directions)
                if any(dominates(w, point) for w in worst):
                    continue
            pop.append(i)
            worst = None
            if len(pop) > self.population_size:
                points = [ok[j][1] for j in pop]
                keep, last = survivors_and_worst(points, self.directions, len(pop) - 1)
                worst = [oriented(points[j], self.directions) for j in last]
                pop = [pop[j] for j in keep]
        self.population = [Member(ok[j][0].number, ok[j][0].dna, ok[j][1]) for j in pop]
        self._ranks = self._crowd = None

    def front(self) -> list[Member]:
        """The non-dominated members of the current population (oldest first)."""
        idx = pareto_front([m.values for m in self.population], self.directions)
        return [self.population[i] for i in idx]
