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
from hashtune.warm_start import WarmStartQueue, next_proposal


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

    def propose(self, number: int) -> Proposal:
        """Trial `number`'s proposal: the warm-start queue's head, else the searcher's."""
        return next_proposal(self.queue, self.searcher, number)

    def learn(self, proposal: Proposal, feedback: Feedback) -> None:
        """Tell the searcher how a proposal it asked or was served ended."""
        self.searcher.tell(proposal, feedback)
