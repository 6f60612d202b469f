"""Small named steps that evolutionary searchers compose with `>>` (PyGlove's `evolution` style).

A step is called as `step(x, ctx)`: `ctx` is the searcher (its `space`, `rng`, `directions` and
`book`), `x` what the previous step returned. Selectors map members to members, a generator maps
them to a `Child` (a genome: `pg.DNA` or `PlainDNA`, with its lineage), and `Deduped` wraps a generator so it draws again while
its DNA is booked. Regularized evolution's reproduction is then::

    RandomK(tournament_size) >> TopK(1) >> Deduped(Mutate())
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pyglove as pg

from hashtune.search.book import ProposalBook
from hashtune.search.selection import Member, crowded_better, rank_and_crowding
from hashtune.spaces.base import Genome, Space
from hashtune.spaces.fast_dna import as_dna


class Context(Protocol):
    """What steps read from the searcher running them."""

    space: Space
    rng: random.Random
    directions: tuple[str, ...]
    book: ProposalBook


@dataclass(frozen=True)
class Child:
    """A DNA to propose, with the trial numbers of its parents and the mutation that made it."""

    genome: Genome
    parents: tuple[int, ...] = ()
    mutation: str | None = None

    @property
    def dna(self) -> pg.DNA:
        """The child's `pg.DNA` (built now when the genome is plain)."""
        return as_dna(self.genome)


class Step:
    """One operation of a composed search step; `a >> b` feeds `a`'s output to `b`."""

    def __call__(self, x: Any, ctx: Context) -> Any:
        raise NotImplementedError

    def __rshift__(self, other: Step) -> Pipeline:
        return Pipeline(self, other)


class Pipeline(Step):
    """Steps run in order, each on the previous one's output."""

    def __init__(self, *steps: Step):
        self.steps: tuple[Step, ...] = tuple(
            s for step in steps for s in (step.steps if isinstance(step, Pipeline) else (step,))
        )

    def __call__(self, x: Any, ctx: Context) -> Any:
        for step in self.steps:
            x = step(x, ctx)
        return x

    def __repr__(self) -> str:
        return " >> ".join(map(repr, self.steps))


def _check_k(k: int) -> int:
    if k < 1:
        raise ValueError(f"`k` must be >= 1, got {k!r}")
    return k


class RandomK(Step):
    """`k` distinct members drawn uniformly (all of them when fewer)."""

    def __init__(self, k: int):
        self.k = _check_k(k)

    def __call__(self, members: Sequence[Member], ctx: Context) -> list[Member]:
        if not members:
            raise ValueError("`members` is empty: cannot select from an empty population")
        return ctx.rng.sample(list(members), min(self.k, len(members)))

    def __repr__(self) -> str:
        return f"RandomK({self.k})"


class TopK(Step):
    """The `k` fittest members, fittest first (earlier members first among equals)."""

    def __init__(self, k: int, key: Callable[[Member], float] = lambda m: m.fitness):
        self.k = _check_k(k)
        self.key = key

    def __call__(self, members: Sequence[Member], ctx: Context) -> list[Member]:
        return sorted(members, key=self.key, reverse=True)[: self.k]

    def __repr__(self) -> str:
        return f"TopK({self.k})"


class CrowdedTournament(Step):
    """NSGA-II's binary tournament: of two distinct random members, the one of lower
    non-domination rank, then larger crowding distance (ranks are kept while members are)."""

    def __init__(self) -> None:
        self._of: tuple | None = None
        self._ranks: list[int] = []
        self._crowd: list[float] = []

    def __call__(self, members: Sequence[Member], ctx: Context) -> list[Member]:
        of = tuple((m.number, m.values) for m in members)
        if of != self._of:
            points = [m.values for m in members]
            self._ranks, self._crowd = rank_and_crowding(points, ctx.directions)
            self._of = of
        n = len(members)
        a, b = ctx.rng.sample(range(n), 2) if n > 1 else (0, 0)
        return [members[crowded_better(a, b, self._ranks, self._crowd)]]

    def __repr__(self) -> str:
        return "CrowdedTournament()"


class Mutate(Step):
    """A child of the first member by `space.mutate` (the space decides what a mutation is);
    with `rate` > 0, one more mutation follows with that chance, repeatedly."""

    def __init__(self, rate: float = 0.0):
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"`mutation_rate` must be in [0, 1), got {rate!r}")
        self.rate = rate

    def __call__(self, members: Sequence[Member], ctx: Context) -> Child:
        parent = members[0]
        dna, name = ctx.space.mutate(parent.dna, ctx.rng)
        names = [name]
        while self.rate > 0 and ctx.rng.random() < self.rate:
            dna, name = ctx.space.mutate(dna, ctx.rng)
            names.append(name)
        return Child(dna, (parent.number,), "+".join(names))

    def __repr__(self) -> str:
        return f"Mutate({self.rate})" if self.rate else "Mutate()"


class RandomDNA(Step):
    """A uniformly random DNA of the space (its input is ignored)."""

    def __call__(self, x: Any, ctx: Context) -> Child:
        return Child(ctx.space.random_genome(ctx.rng))

    def __repr__(self) -> str:
        return "RandomDNA()"


class Deduped(Step):
    """Runs `inner` (a generator of `Child`) again on the same input while its DNA is booked.

    Keyed by DNA values. Gives up after `tries` draws, or at once when a discrete space is
    exhausted, returning the last draw, so a search on a tiny space still makes progress.
    """

    def __init__(self, inner: Step, tries: int = 16):
        self.inner = inner
        self.tries = _check_k(tries)

    def __call__(self, x: Any, ctx: Context) -> Child:
        out = self.inner(x, ctx)
        for _ in range(self.tries - 1):
            if not ctx.book.known(out.genome) or ctx.book.exhausted():
                break
            out = self.inner(x, ctx)
        return out

    def __repr__(self) -> str:
        return f"Deduped({self.inner!r})"
