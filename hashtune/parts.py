"""What the optimize loop and ask/tell work with: the study's collaborators, built by `Study`.

Neither the loop nor ask/tell knows `Study`: they get these parts, so a change to how a trial is
proposed, cached, pruned or stored is made in the part that does it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from hashtune.hashing.cache_policy import CachePolicy
from hashtune.liveness import LivenessConfig
from hashtune.peer_sync import PeerSync
from hashtune.pruning import PrunerMonitor
from hashtune.search.base import Feedback, Proposal, Searcher
from hashtune.spaces.base import Space
from hashtune.store import Store
from hashtune.warm_start import WarmStartQueue


@dataclass(frozen=True)
class TrialSeat:
    """Where this worker's trials go: the store, the study's row, this worker, the task."""

    store: Store
    study_id: int
    study_name: str
    worker: str
    task: str
    liveness: LivenessConfig


@dataclass
class StudyParts:
    """A study's collaborators: who proposes (`queue` first, then `searcher`), who caches, who
    prunes, who keeps the searcher current with peers, and the stop flag `Study.stop` sets."""

    seat: TrialSeat
    space: Space
    searcher: Searcher
    cache: CachePolicy
    pruner: PrunerMonitor
    peers: PeerSync
    queue: WarmStartQueue
    stop: threading.Event = field(default_factory=threading.Event)

    def propose(self, number: int) -> tuple[Proposal, bool]:
        """Trial `number`'s proposal: the head of the warm-start queue, else the searcher's;
        and whether it came from the queue."""
        queued = self.queue.pop(number)
        if queued is not None:
            return queued, True
        return self.searcher.ask(number), False

    def learn(self, proposal: Proposal, feedback: Feedback, queued: bool) -> None:
        """Tell the searcher how its proposal ended; a queued one it did not propose is
        `observe`d (booked as proposed, then learned)."""
        if queued:
            self.searcher.observe(proposal, feedback)
        else:
            self.searcher.tell(proposal, feedback)
