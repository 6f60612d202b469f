"""One ask/tell interface for every searcher (random, evolution, Optuna samplers, ...).

The study numbers trials; a searcher proposes DNA for a given trial number, may have many proposals
outstanding, and learns from `tell`. Its state can be rebuilt from the store with `restore`. When
several workers share a study, each worker's searcher also `observe`s the trials its peers finished
and sees their in-flight proposals through `set_pending`.
"""

from __future__ import annotations

import abc
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pyglove as pg

from hashtune.spaces.base import Space

Direction = Literal["maximize", "minimize"]
TrialState = Literal["COMPLETE", "FAILED", "PRUNED", "CACHED"]


@dataclass
class Proposal:
    """A candidate the searcher wants evaluated, for trial `number`."""

    number: int
    dna: pg.DNA
    candidate: Any
    parents: tuple[int, ...] = ()
    mutation: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


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
        self.meta: dict[str, Any] = {}
        self._dna: pg.DNA | None = None
        self._candidate: Any = _UNBUILT

    @property  # type: ignore[override]
    def dna(self) -> pg.DNA:
        if self._dna is None:
            self._dna = self.space.dna_from_json(self.dna_json)
        return self._dna

    @property  # type: ignore[override]
    def candidate(self) -> Any:
        if self._candidate is _UNBUILT:
            self._candidate = self.space.materialize(self.dna)
        return self._candidate

    @property
    def decoded(self) -> bool:
        """Whether the DNA was decoded (tests count what a resume decodes)."""
        return self._dna is not None


_UNBUILT = object()


@dataclass(frozen=True)
class Feedback:
    """What became of a proposal: its objective values (None when it failed or was pruned)."""

    state: TrialState
    values: tuple[float, ...] | None = None

    @property
    def ok(self) -> bool:
        return self.values is not None and self.state in ("COMPLETE", "CACHED")


class Searcher(abc.ABC):
    """Proposes DNA of a `Space` and learns from the outcome of each proposal."""

    #: Registered name used in experiment files.
    name: str = "searcher"

    def __init__(
        self,
        space: Space,
        directions: Sequence[Direction] = ("maximize",),
        seed: int = 0,
    ):
        for d in directions:
            if d not in ("maximize", "minimize"):
                raise ValueError(
                    f"`directions` entries must be 'maximize' or 'minimize', got {d!r}"
                )
        self.space = space
        self.directions = tuple(directions)
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
        self.rng = random.Random(f"{self.seed}:{n}")

    def enqueue(self, dna: pg.DNA) -> None:
        """Ask for `dna` to be proposed next (warm start); searchers that support it override."""
        raise NotImplementedError(f"searcher {self.name!r} does not support enqueue")

    def scalar_fitness(self, values: Sequence[float]) -> float:
        """Single-objective fitness to maximise (sign-adjusted first objective)."""
        v = float(values[0])
        return v if self.directions[0] == "maximize" else -v

    def _proposal(self, number: int, dna: pg.DNA, **kw: Any) -> Proposal:
        return Proposal(number=number, dna=dna, candidate=self.space.materialize(dna), **kw)


def is_finite(values: Sequence[float] | None) -> bool:
    """True when every objective value is a finite number."""
    return values is not None and all(math.isfinite(float(v)) for v in values)
