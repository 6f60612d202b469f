"""One ask/tell interface for every searcher (random, evolution, Optuna samplers, ...).

The study numbers trials; a searcher proposes DNA for a given trial number, may have many proposals
outstanding, and learns from `tell`. Its state can be rebuilt from the store with `restore`. When
several workers share a study, each worker's searcher also `observe`s the trials its peers finished
and sees their in-flight proposals through `set_pending`. Warm-start DNA are the study's: it serves
them without asking, says so with `note_served`, and tells their outcome like any other.
"""

from __future__ import annotations

import abc
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pyglove as pg

from hashtune.spaces.base import Genome, Space
from hashtune.spaces.fast_dna import PlainDNA
from hashtune.vocabulary import SCORED_STATES, Direction, TrialState, signs
from hashtune.vocabulary import directions as parse_directions

__all__ = [
    "Direction",
    "Feedback",
    "PlainProposal",
    "Proposal",
    "Searcher",
    "StoredProposal",
    "TrialState",
    "is_finite",
]


@dataclass
class Proposal:
    """A candidate the searcher wants evaluated, for trial `number`."""

    number: int
    dna: pg.DNA
    candidate: Any
    parents: tuple[int, ...] = ()
    mutation: str | None = None

    @property
    def genome(self) -> Genome:
        """The DNA as the searcher carries it (what `Space` methods take without a `pg.DNA`)."""
        return self.dna


class PlainProposal(Proposal):
    """A proposal of a `PlainDNA`: its `pg.DNA` is built only when something asks for `dna`
    (storing, hashing, dedup and evolution work on the plain values)."""

    def __init__(
        self,
        number: int,
        genome: PlainDNA,
        candidate: Any,
        parents: tuple[int, ...] = (),
        mutation: str | None = None,
    ):
        self.number = number
        self._genome = genome
        self.candidate = candidate
        self.parents = tuple(parents)
        self.mutation = mutation

    @property  # type: ignore[override]
    def dna(self) -> pg.DNA:
        return self._genome.dna

    @property
    def genome(self) -> Genome:
        """The plain DNA."""
        return self._genome


class StoredProposal(Proposal):
    """A past proposal read back from the store: its DNA is decoded, and its candidate built,
    only when a searcher uses them (a resume needs the DNA of a few trials, not of all)."""

    def __init__(
        self,
        number: int,
        dna_json: Any,
        space: Space,
        parents: tuple[int, ...] = (),
        mutation: str | None = None,
    ):
        self.number = number
        self.dna_json = dna_json
        self.space = space
        self.parents = tuple(parents)
        self.mutation = mutation
        self._dna: pg.DNA | None = None
        self._genome: Genome | None = None
        self._candidate: Any = _UNBUILT

    @property  # type: ignore[override]
    def dna(self) -> pg.DNA:
        if self._dna is None:
            self._dna = self.space.dna_from_json(self.dna_json)
        return self._dna

    @property
    def genome(self) -> Genome:
        """The DNA read as the space carries it (plain values where it can, undecoded)."""
        if self._dna is None and self._genome is None and self.space.plain_codec is not None:
            genome = self.space.genome_from_json(self.dna_json)
            if isinstance(genome, PlainDNA):
                self._genome = genome
            else:
                self._dna = genome
        if self._genome is not None:
            return self._genome
        return self.dna

    @property  # type: ignore[override]
    def candidate(self) -> Any:
        if self._candidate is _UNBUILT:
            self._candidate = self.space.materialize(self.genome)
        return self._candidate

    @property
    def decoded(self) -> bool:
        """Whether the DNA was decoded (tests count what a resume decodes)."""
        return self._dna is not None


_UNBUILT = object()


@dataclass(frozen=True)
class Feedback:
    """What became of a proposal: its objective values (None when it failed or was pruned)."""

    state: TrialState | str
    values: tuple[float, ...] | None = None

    @property
    def ok(self) -> bool:
        """Scored (paid or served from the cache) with values a searcher can learn from."""
        return self.values is not None and self.state in SCORED_STATES


class Searcher(abc.ABC):
    """Proposes DNA of a `Space` and learns from the outcome of each proposal."""

    #: Registered name used in experiment files.
    name: str = "searcher"

    def __init__(
        self,
        space: Space,
        directions: Sequence[Direction | str] = (Direction.MAXIMIZE,),
        seed: int = 0,
    ):
        self.space = space
        self.directions = tuple(str(d) for d in parse_directions(directions))
        self.seed = seed
        self.rng = random.Random(seed)
        self.peer_pending: tuple[Proposal, ...] = ()

    @abc.abstractmethod
    def ask(self, number: int) -> Proposal:
        """Propose a candidate for trial `number`."""

    @abc.abstractmethod
    def tell(self, proposal: Proposal, feedback: Feedback) -> None:
        """Learn the outcome of `proposal`."""

    def observe(self, proposal: Proposal, feedback: Feedback) -> None:
        """Learn a trial another worker of the study proposed and finished (default: `tell`).

        Searchers must accept proposals they never made; those that book their own asks
        (dedup, proposal counts) also book observed ones.
        """
        self.tell(proposal, feedback)

    def note_served(self, proposal: Proposal) -> None:  # noqa: B027 - optional hook
        """The study serves `proposal` (warm start) instead of asking; its outcome is told later.

        Searchers that book their asks (dedup, proposal counts) book it as if they had asked it.
        """

    def set_pending(self, proposals: Sequence[Proposal]) -> None:
        """Note the proposals other workers are evaluating now (each call replaces the last).

        The default keeps them in `peer_pending`; deduping searchers avoid re-proposing them,
        model-based ones treat them as running trials (constant liar).
        """
        self.peer_pending = tuple(proposals)

    def restore(self, history: Iterable[tuple[Proposal, Feedback | None]]) -> None:
        """Rebuild state after a restart from past proposals in trial order.

        `feedback` is None for proposals that never finished. The default replays `tell` for the
        finished ones and reseeds the generator from the number of past proposals, so a resumed
        study does not replay the same random stream.
        """
        n = 0
        for proposal, feedback in history:
            n += 1
            if feedback is not None:
                self.tell(proposal, feedback)
        self.reseed(n)

    def reseed(self, n_past: int) -> None:
        """Reseed `rng` from the seed and the number of past proposals (a resume's new stream)."""
        self.rng = random.Random(f"{self.seed}:{n_past}")

    def scalar_fitness(self, values: Sequence[float]) -> float:
        """Single-objective fitness to maximise (sign-adjusted first objective)."""
        return signs(self.directions[:1])[0] * float(values[0])

    def make_proposal(
        self,
        number: int,
        dna: Genome,
        parents: tuple[int, ...] = (),
        mutation: str | None = None,
    ) -> Proposal:
        """The proposal of `dna` for trial `number`, its candidate built by the space."""
        candidate = self.space.materialize(dna)
        if isinstance(dna, PlainDNA):
            return PlainProposal(number, dna, candidate, parents=parents, mutation=mutation)
        return Proposal(number, dna, candidate, parents=parents, mutation=mutation)


def is_finite(values: Sequence[float] | None) -> bool:
    """True when every objective value is a finite number."""
    return values is not None and all(math.isfinite(float(v)) for v in values)
