"""The warm-start queue a study owns (as Optuna's `enqueue_trial` serves every sampler).

Queued DNA are served, in order, before the searcher is asked; the searcher is told of each served
proposal with `note_served` and learns its outcome through `tell` like any other trial.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import pyglove as pg

from hashtune.search.base import Proposal, Searcher
from hashtune.spaces.base import Space


def fit_dna(space: Space, dna: pg.DNA | Any) -> pg.DNA:
    """`dna` (a `pg.DNA` or a value `pg.DNA.parse` accepts) bound to `space`'s DNA spec."""
    try:
        if not isinstance(dna, pg.DNA):
            dna = pg.DNA.parse(dna)
        dna = dna.clone(deep=True)
        dna.use_spec(space.dna_spec)
    except Exception as e:  # PyGlove raises several types for a DNA that does not fit.
        raise ValueError(f"`dna` {dna!r} does not fit space {space.name!r}: {e}") from e
    return dna


class WarmStartQueue:
    """DNA to propose before asking the searcher, first in first out."""

    def __init__(self, space: Space):
        self.space = space
        self._queue: deque[pg.DNA] = deque()

    def push(self, dna: pg.DNA | Any) -> pg.DNA:
        """Queue `dna` (raises ValueError when it does not fit the space); the fitted DNA."""
        fitted = fit_dna(self.space, dna)
        self._queue.append(fitted)
        return fitted

    def pop(self) -> pg.DNA | None:
        """The next queued DNA, or None when the queue is empty."""
        return self._queue.popleft() if self._queue else None

    def __len__(self) -> int:
        return len(self._queue)


def next_proposal(queue: WarmStartQueue, searcher: Searcher, number: int) -> Proposal:
    """Trial `number`'s proposal: the next queued DNA (noted to the searcher), else an ask."""
    dna = queue.pop()
    if dna is None:
        return searcher.ask(number)
    proposal = searcher.make_proposal(number, dna)
    searcher.note_served(proposal)
    return proposal
