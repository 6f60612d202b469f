"""Pieces shared by the built-in searchers: a warm-start queue and a book of proposed DNA.

`ProposalBookMixin` gives a searcher `enqueue` (queued DNA are proposed before anything else),
de-duplication against every DNA already proposed (by this worker or a peer, finished or in
flight), and a count of proposals that `restore` rebuilds from history, so a resumed search neither
re-proposes nor replays its past. Peers' finished proposals count like this worker's own.
"""

from __future__ import annotations

import json
import random
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pyglove as pg

from hashtune.search.base import Feedback, Proposal, Searcher, StoredProposal
from hashtune.spaces.base import Space


def dna_key(dna: pg.DNA) -> str:
    """A canonical string for `dna` (equal DNA give equal keys), without a space's codec."""
    return json.dumps(dna.to_json(compact=True), sort_keys=True, default=repr)


def proposal_key(proposal: Proposal, space: Space) -> str:
    """`space.dna_key` of a proposal's DNA; a stored proposal's comes from its JSON, undecoded
    (the stored JSON is `dna.to_json(compact=True)`, so both keys agree)."""
    if isinstance(proposal, StoredProposal) and not proposal.decoded:
        return json.dumps(proposal.dna_json, sort_keys=True, default=repr)
    return space.dna_key(proposal.dna)


class ProposalBookMixin(Searcher):
    """Warm-start queue, seen-DNA set and proposal count for a `Searcher`."""

    #: Attempts at drawing an unseen DNA before accepting a repeat.
    max_dedup_tries: int = 16

    def _book_init(self) -> None:
        self._queue: deque[pg.DNA] = deque()
        self._seen: set[str] = set()
        self._peer_keys: set[str] = set()
        self.num_asked = 0

    def enqueue(self, dna: pg.DNA | Any) -> None:
        """Propose `dna` (a `pg.DNA` or a value `pg.DNA.parse` accepts) before anything else."""
        try:
            if not isinstance(dna, pg.DNA):
                dna = pg.DNA.parse(dna)
            dna = dna.clone(deep=True)
            dna.use_spec(self.space.dna_spec)
        except Exception as e:  # PyGlove raises several types for a DNA that does not fit.
            raise ValueError(f"`dna` {dna!r} does not fit space {self.space.name!r}: {e}") from e
        self._queue.append(dna)

    def _pop_queued(self) -> pg.DNA | None:
        return self._queue.popleft() if self._queue else None

    def _exhausted(self) -> bool:
        size = self.space.dna_spec.space_size
        return 0 <= size <= len(self._seen)

    def _fresh(self, draw: Callable[[], Any]) -> Any:
        """Call `draw()` (returning a DNA or a tuple starting with one) until its DNA is unseen.

        Gives up after `max_dedup_tries` or when a discrete space is exhausted, returning the last
        draw, so a search on a tiny space still makes progress.
        """
        out = draw()
        for _ in range(self.max_dedup_tries - 1):
            dna = out[0] if isinstance(out, tuple) else out
            key = self.space.dna_key(dna)
            if (key not in self._seen and key not in self._peer_keys) or self._exhausted():
                break
            out = draw()
        return out

    def _record(self, proposal: Proposal) -> Proposal:
        """Note `proposal` as asked (count and seen set) and return it."""
        self.num_asked += 1
        self._seen.add(proposal_key(proposal, self.space))
        return proposal

    def _propose(
        self,
        number: int,
        dna: pg.DNA,
        origin: str,
        parents: tuple[int, ...] = (),
        mutation: str | None = None,
    ) -> Proposal:
        """Build the proposal for `dna` (meta `origin`: enqueued/random/mutation) and record it."""
        proposal = self._proposal(
            number, dna, parents=parents, mutation=mutation, meta={"origin": origin}
        )
        return self._record(proposal)

    def observe(self, proposal: Proposal, feedback: Feedback) -> None:
        """Book a peer's finished proposal (count, seen set) and learn it as if told."""
        self._record(proposal)
        self._peer_keys.discard(proposal_key(proposal, self.space))
        self.tell(proposal, feedback)

    def set_pending(self, proposals: Sequence[Proposal]) -> None:
        """Peers' in-flight DNA are avoided like proposed ones (until they finish or vanish)."""
        super().set_pending(proposals)
        self._peer_keys = {proposal_key(p, self.space) for p in proposals}

    def _book_restore(
        self,
        history: Iterable[tuple[Proposal, Feedback | None]],
        learn: Callable[[list[tuple[Proposal, Feedback]]], None] | None = None,
    ) -> None:
        """Replay `history`: count all, then learn the finished (default: `tell` each in order;
        a searcher whose state depends on a few of them passes `learn` to tell only those),
        and drop queued DNA already proposed."""
        n = 0
        finished: list[tuple[Proposal, Feedback]] = []
        for proposal, feedback in history:
            n += 1
            self._record(proposal)
            if feedback is not None:
                finished.append((proposal, feedback))
        if learn is None:
            for proposal, feedback in finished:
                self.tell(proposal, feedback)
        else:
            learn(finished)
        self._queue = deque(d for d in self._queue if self.space.dna_key(d) not in self._seen)
        self.rng = random.Random(f"{self.seed}:{n}")

    def restore(self, history: Iterable[tuple[Proposal, Feedback | None]]) -> None:
        """Rebuild state from past (proposal, feedback) pairs in trial order; see `Searcher`."""
        self._book_restore(history)
