"""Population updates evolutionary searchers compose: who stays when a told result joins.

`KeepLast(n)` ages members out (regularized evolution), `KeepBest()` keeps one incumbent (hill
climbing), `Elitist(n, directions)` keeps NSGA-II's survivors. Each also rebuilds itself from a
resume's scored proposals without decoding the DNA of members that could not have survived.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from typing import NamedTuple

from hashtune.search.base import Proposal
from hashtune.search.selection import (
    AgingPopulation,
    Member,
    dominates,
    non_dominated_sort,
    nsga2_survivors,
    oriented,
    survivors_and_worst,
)


class Scored(NamedTuple):
    """A successful proposal with its finite values and scalar fitness; its DNA stays undecoded
    until `member()` is called."""

    proposal: Proposal
    values: tuple[float, ...]
    fitness: float

    def member(self) -> Member:
        """The population member of this result (decodes the DNA)."""
        return Member(self.proposal.number, self.proposal.genome, self.values, self.fitness)


class Population(abc.ABC):
    """The members a searcher selects parents from, and the rule of who stays."""

    @property
    @abc.abstractmethod
    def members(self) -> list[Member]:
        """Current members, oldest first."""

    @abc.abstractmethod
    def add(self, member: Member) -> None:
        """Let `member` join, then apply the update rule."""

    def restore(self, scored: Sequence[Scored]) -> None:
        """Rebuild from a resume's successes in trial order (default: add each)."""
        for s in scored:
            self.add(s.member())

    def __iter__(self) -> Iterator[Member]:
        return iter(self.members)

    def __len__(self) -> int:
        return len(self.members)


def _check_size(size: int) -> int:
    if size < 1:
        raise ValueError(f"`population_size` must be >= 1, got {size!r}")
    return size


class KeepLast(Population):
    """The last `size` results (aging: the oldest leaves, however fit)."""

    def __init__(self, size: int):
        self.size = _check_size(size)
        self.aging = AgingPopulation(size)

    @property
    def members(self) -> list[Member]:
        return self.aging.members

    def add(self, member: Member) -> None:
        self.aging.add(member)

    def restore(self, scored: Sequence[Scored]) -> None:
        """Only the last `size` successes can still be members: only those are decoded."""
        for s in scored[-self.size :]:
            self.add(s.member())


class KeepBest(Population):
    """One incumbent: a result at least as fit replaces it (ties move it: plateau drift)."""

    def __init__(self) -> None:
        self.best: Member | None = None

    @property
    def members(self) -> list[Member]:
        return [] if self.best is None else [self.best]

    def add(self, member: Member) -> None:
        if self.best is None or member.fitness >= self.best.fitness:
            self.best = member

    def restore(self, scored: Sequence[Scored]) -> None:
        """The incumbent a replay ends with is the last success of the best fitness."""
        best: Scored | None = None
        for s in scored:
            if best is None or s.fitness >= best.fitness:
                best = s
        if best is not None:
            self.add(best.member())


class Elitist(Population):
    """NSGA-II survival (mu + 1): whole fronts, then the least crowded, keep `size` members."""

    def __init__(self, size: int, directions: Sequence[str]):
        self.size = _check_size(size)
        self.directions = tuple(directions)
        self._members: list[Member] = []

    @property
    def members(self) -> list[Member]:
        return list(self._members)

    def _check(self, number: int, values: tuple[float, ...]) -> None:
        if len(values) != len(self.directions):
            raise ValueError(
                f"feedback values {values!r} of trial {number} have {len(values)} "
                f"objectives but `directions` is {self.directions!r}"
            )

    def add(self, member: Member) -> None:
        self._check(member.number, member.values)
        self._members.append(member)
        if len(self._members) > self.size:
            points = [m.values for m in self._members]
            keep = nsga2_survivors(points, self.directions, self.size)
            self._members = [self._members[i] for i in keep]

    def restore(self, scored: Sequence[Scored]) -> None:
        """Replay the steady-state survival on the values alone; only survivors are decoded.

        A newcomer dominated by a member of the worst front is dropped at once by NSGA-II
        survival (it dominates no member, so it forms a last front of its own): it is skipped
        without sorting.
        """
        for s in scored:
            self._check(s.proposal.number, s.values)
        dirs = self.directions
        pop: list[int] = []  # indices into `scored`, in population order
        worst: list[tuple[float, ...]] | None = None  # oriented members of the worst front
        for i, s in enumerate(scored):
            if len(pop) >= self.size:
                if worst is None:
                    fronts = non_dominated_sort([scored[j].values for j in pop], dirs)
                    worst = [oriented(scored[pop[j]].values, dirs) for j in fronts[-1]]
                point = oriented(s.values, dirs)
                if any(dominates(w, point) for w in worst):
                    continue
            pop.append(i)
            worst = None
            if len(pop) > self.size:
                points = [scored[j].values for j in pop]
                keep, last = survivors_and_worst(points, dirs, len(pop) - 1)
                worst = [oriented(points[j], dirs) for j in last]
                pop = [pop[j] for j in keep]
        self._members = [scored[j].member() for j in pop]
