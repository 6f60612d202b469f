"""One search, many workers: before each ask, a worker's searcher catches up with its peers.

`PeerSync.sync()` reads the store's peer news since its cursor (one read, two index scans, cost
proportional to what changed): each trial another worker finished since the last look is
`observe`d, and the proposals other workers are evaluating now are handed to `set_pending`. The
worker's own trials are told by the optimize loop, so they are skipped here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy.exc import SQLAlchemyError

from hashtune.search.base import Feedback, Proposal, Searcher, StoredProposal
from hashtune.spaces.base import Space
from hashtune.store import PeerNews, PeerTrial, Store, StoreError
from hashtune.vocabulary import SCORED_STATES, TrialState

log = logging.getLogger(__name__)


def stored_feedback(state: str, values: tuple[float, ...] | None) -> Feedback:
    """What a searcher learns of a stored trial: its values when scored; an interrupted trial
    is learned as a failed one (its candidate was not scored)."""
    if state == TrialState.INTERRUPTED:
        return Feedback(TrialState.FAILED, None)
    return Feedback(state, values if state in SCORED_STATES else None)  # type: ignore[arg-type]


class PeerSync:
    """Keeps `searcher` current with the trials of the other workers of study `study_id`."""

    def __init__(self, store: Store, study_id: int, worker: str, space: Space, searcher: Searcher):
        """Reads the cursor now: build this before restoring `searcher` from the store, then
        `mark_known` what was restored (a trial finished in between is not told twice)."""
        self.store = store
        self.study_id = study_id
        self.worker = worker
        self.space = space
        self.searcher = searcher
        self.cursor = store.workers.finish_cursor(study_id)
        self.observed = 0
        self._known: set[int] = set()
        self._pending: dict[int, Proposal] = {}

    def mark_known(self, numbers: Iterable[int]) -> None:
        """Trial numbers the searcher already learned (from `restore`)."""
        self._known.update(numbers)

    def sync(self) -> int:
        """Observe peers' newly finished trials and refresh their pending proposals; how many
        trials were observed. A store error is logged and retried at the next ask."""
        try:
            news = self.store.workers.peer_news(self.study_id, self.cursor, self.worker)
        except (SQLAlchemyError, StoreError) as e:
            log.warning("could not read peers' trials (retrying at the next ask): %s", e)
            return 0
        return self.absorb(news)

    def absorb(self, news: PeerNews) -> int:
        """Learn `news` read since the cursor (by `sync`, or by a finishing transaction)."""
        n, changed = 0, False
        for t in news.finished:
            if t.dna is None or t.number in self._known:
                continue  # a dropped reservation, or already learned (a swept trial re-finished)
            self._known.add(t.number)
            proposal = self._pending.pop(t.number, None)
            changed |= proposal is not None
            proposal = proposal or self._proposal(t)
            self.searcher.observe(proposal, stored_feedback(t.state, t.values))
            n += 1
        running = {t.number: t for t in news.running if t.number not in self._known}
        if changed or running.keys() != self._pending.keys():
            self._pending = {
                k: self._pending.get(k) or self._proposal(t) for k, t in running.items()
            }
            self.searcher.set_pending(list(self._pending.values()))
        self.cursor = news.cursor
        self.observed += n
        return n

    def _proposal(self, t: PeerTrial) -> Proposal:
        """The peer's proposal as the searcher needs it (DNA decoded on first use, no candidate)."""
        return StoredProposal(t.number, t.dna, self.space)
