"""The book of proposed DNA a searcher keeps, and the searcher base that keeps one.

`ProposalBook` counts proposals and remembers their DNA keys (this worker's, served warm starts,
peers' finished and in-flight ones), so a searcher neither re-proposes nor, after `restore`,
replays its past. `BookedSearcher` books every ask, served warm start, observed peer trial and
restored proposal; `Deduped` (in `search.ops`) draws against its book.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Sequence

from hashtune.search.base import Feedback, Proposal, Searcher, StoredProposal
from hashtune.spaces.base import Genome, Space
from hashtune.spaces.fast_dna import PlainDNA
from hashtune.vocabulary import Direction

Finished = list[tuple[Proposal, Feedback]]


def dna_key(dna: Genome) -> str:
    """A canonical string for `dna` (equal DNA give equal keys), without a space's codec."""
    if isinstance(dna, PlainDNA):
        return dna.codec.key(dna.values)
    return json.dumps(dna.to_json(compact=True), sort_keys=True, default=repr)


def proposal_key(proposal: Proposal, space: Space) -> str:
    """`space.dna_key` of a proposal's DNA; a stored proposal's comes from its JSON, undecoded
    (the stored JSON is `dna.to_json(compact=True)`, so both keys agree)."""
    if isinstance(proposal, StoredProposal) and not proposal.decoded:
        return json.dumps(proposal.dna_json, sort_keys=True, default=repr)
    return space.dna_key(proposal.genome)


class ProposalBook:
    """Proposal count and DNA keys seen (booked) or in flight at peers, keyed by DNA values."""

    def __init__(self, space: Space):
        self.space = space
        self.seen: set[str] = set()
        self.peer_keys: set[str] = set()
        self.count = 0

    def record(self, proposal: Proposal) -> Proposal:
        """Count `proposal` and remember its DNA; return it."""
        self.count += 1
        self.seen.add(proposal_key(proposal, self.space))
        return proposal

    def known(self, dna: Genome) -> bool:
        """Whether `dna` was booked or is in flight at a peer."""
        key = self.space.dna_key(dna)
        return key in self.seen or key in self.peer_keys

    def exhausted(self) -> bool:
        """Whether a discrete space has no DNA left that was not booked."""
        size = self.space.dna_spec.space_size
        return 0 <= size <= len(self.seen)

    def set_peers(self, proposals: Sequence[Proposal]) -> None:
        """Peers' in-flight proposals (each call replaces the last)."""
        self.peer_keys = {proposal_key(p, self.space) for p in proposals}

    def peer_finished(self, proposal: Proposal) -> None:
        """Book a peer's finished proposal (it is no longer in flight)."""
        self.record(proposal)
        self.peer_keys.discard(proposal_key(proposal, self.space))


class BookedSearcher(Searcher):
    """A `Searcher` that books every proposal it makes or learns of in `self.book`.

    Subclasses implement `ask` (booking with `propose`) and `tell`; `learn` may rebuild the state
    from a resume's finished proposals faster than telling each one.
    """

    def __init__(
        self, space: Space, directions: Sequence[str] = (Direction.MAXIMIZE,), seed: int = 0
    ):
        super().__init__(space, directions, seed)
        self.book = ProposalBook(space)

    @property
    def num_asked(self) -> int:
        """Proposals booked: asked, served, observed from peers and restored."""
        return self.book.count

    def propose(
        self,
        number: int,
        dna: Genome,
        parents: tuple[int, ...] = (),
        mutation: str | None = None,
    ) -> Proposal:
        """Build the proposal of `dna` for trial `number` and book it."""
        return self.book.record(self.make_proposal(number, dna, parents, mutation))

    def note_served(self, proposal: Proposal) -> None:
        """Book a warm start the study serves as if this searcher had proposed it."""
        self.book.record(proposal)

    def observe(self, proposal: Proposal, feedback: Feedback) -> None:
        """Book a peer's finished proposal and learn it as if told."""
        self.book.peer_finished(proposal)
        self.tell(proposal, feedback)

    def set_pending(self, proposals: Sequence[Proposal]) -> None:
        """Peers' in-flight DNA are avoided like booked ones (until they finish or vanish)."""
        super().set_pending(proposals)
        self.book.set_peers(proposals)

    def learn(self, finished: Finished) -> None:
        """Learn a resume's finished proposals in trial order (default: `tell` each)."""
        for proposal, feedback in finished:
            self.tell(proposal, feedback)

    def restore(self, history: Iterable[tuple[Proposal, Feedback | None]]) -> None:
        """Book every past proposal, `learn` the finished ones, reseed; see `Searcher`."""
        self._restore(history, self.learn)

    def replay(self, history: Iterable[tuple[Proposal, Feedback | None]]) -> None:
        """`restore` by telling every finished proposal in order (the slow, plain replay)."""
        self._restore(history, functools.partial(BookedSearcher.learn, self))

    def _restore(
        self,
        history: Iterable[tuple[Proposal, Feedback | None]],
        learn: Callable[[Finished], None],
    ) -> None:
        n = 0
        finished: Finished = []
        for proposal, feedback in history:
            n += 1
            self.book.record(proposal)
            if feedback is not None:
                finished.append((proposal, feedback))
        learn(finished)
        self.reseed(n)
