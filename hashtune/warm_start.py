"""The study's warm-start queue: candidates proposed before the searcher is asked.

As Optuna's `enqueue_trial` serves every sampler, the queue belongs to the study, not to a
searcher: `Study.enqueue` checks a candidate against the space and the study's trials and puts it
here; the optimize loop and `Study.ask` take from it before asking the searcher, which is told of each
served proposal (`Searcher.note_served`, booked as if it had asked) and learns it by `tell`.
The loop also puts back the reclaimed trials of dead workers that may be retried.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

import pyglove as pg

from hashtune.search.base import Proposal, Searcher
from hashtune.spaces.base import Space


def dna_json_key(dna_json: Any) -> str:
    """A canonical text of a DNA's JSON (equal DNA, equal keys), as stored with trials."""
    return json.dumps(dna_json, sort_keys=True, default=repr)


class WarmStartQueue:
    """DNA to propose next, first in first out."""

    def __init__(self, space: Space):
        self.space = space
        self._queue: deque[pg.DNA] = deque()
        #: Keys of what `Study.enqueue` queued (a candidate is enqueued at most once).
        self.keys: set[str] = set()

    def __len__(self) -> int:
        return len(self._queue)

    def put(self, dna: pg.DNA, key: str | None = None) -> None:
        """Queue `dna`; with `key`, remember it as enqueued (see `keys`)."""
        self._queue.append(dna)
        if key is not None:
            self.keys.add(key)

    def pop(self, number: int) -> Proposal | None:
        """The proposal for trial `number` from the head of the queue (None when empty)."""
        if not self._queue:
            return None
        dna = self._queue.popleft()
        candidate = self.space.materialize(dna)
        return Proposal(number, dna, candidate)


def next_proposal(queue: WarmStartQueue, searcher: Searcher, number: int) -> Proposal:
    """Trial `number`'s proposal: the queue's head (noted to the searcher, which books it as if
    it had asked), else the searcher's."""
    served = queue.pop(number)
    if served is None:
        return searcher.ask(number)
    searcher.note_served(served)
    return served
