"""The loop's parts on their own: the cache policy's one `decide()`, and the study's warm-start
queue serving any searcher (hashing/cache_policy.py, hashtune/warm_start.py, hashtune/parts.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyglove as pg

import hashtune as ht
from hashtune.hashing.cache_policy import READY, Act, CacheConfig, CachePolicy, CacheUpdate
from hashtune.search.base import Feedback, Proposal, Searcher


@dataclass
class Entry:
    status: str
    count: int
    mean: tuple[float, ...] = (1.0,)
    first_trial_id: int | None = 1


class Table:
    """An in-memory cache table recording the calls the policy makes."""

    def __init__(self, entry: Entry | None = None, claim: bool = True):
        self.entry, self.claim_ok, self.calls = entry, claim, []

    def lookup(self, task: str, fhash: str, *, version: str) -> Any:
        self.calls.append("lookup")
        return self.entry

    def claim(self, task, fhash, trial_id, *, version, stale_after_s) -> bool:
        self.calls.append(("claim", stale_after_s))
        return self.claim_ok

    def record(self, task, fhash, values, trial_id, seconds, *, version) -> None:
        self.calls.append(("record", tuple(values)))

    def release(self, task, fhash, trial_id, *, version) -> None:
        self.calls.append("release")

    def wait(self, task, fhash, **kw) -> Any:
        return self.entry

    def audit(self, task, fhash, trial_id, cached, fresh) -> None:
        self.calls.append("audit")


def policy(table: Table, **cfg: Any) -> CachePolicy:
    return CachePolicy(table, "task", CacheConfig(**cfg), stale_after_s=20.0)


def test_decide_returns_the_whole_action_and_checks_reevaluate_once() -> None:
    ready = Entry(READY, count=1)
    # what the trial's starting transaction found: no look-up again
    table = Table()
    assert policy(table).decide("h", 1, entry=ready, claimed=False).act == Act.SERVE
    assert table.calls == []
    noisy = policy(Table(), reevaluate=2).decide("h", 1, entry=ready, claimed=False)
    assert noisy.act == Act.REEVALUATE and noisy.entry is ready and not noisy.claimed
    mine = policy(Table()).decide("h", 1, entry=None, claimed=True)
    assert mine.act == Act.EVALUATE and mine.claimed
    assert policy(Table()).decide("h", 1, entry=None, claimed=False).act == Act.WAIT
    assert policy(Table(), audit_fraction=1.0).decide("h", 1, entry=ready, claimed=False).act == (
        Act.AUDIT
    )
    assert policy(Table()).decide(None, 1).act == Act.EVALUATE  # no hash: no cache
    # nothing found yet: look up, then claim; a wait that gave nothing steals sooner
    table = Table(Entry("PENDING", 0), claim=True)
    action = policy(table, wait_timeout_s=5.0).decide("h", 1, entry=None, waited=True)
    assert action.act == Act.EVALUATE and action.claimed
    assert table.calls == ["lookup", ("claim", 5.0)]
    # a wait that gave a score serves it, never audited
    served = policy(Table(), audit_fraction=1.0).decide("h", 1, entry=ready, waited=True)
    assert served.act == Act.SERVE


def test_update_records_a_paid_score_and_releases_a_failed_claim() -> None:
    table = Table()
    p = policy(table)
    assert p.update("h", False, "COMPLETE", [2.0], 0.5) == CacheUpdate(
        "task", "h", p.version, (2.0,), 0.5
    )
    assert p.update("h", True, "FAILED", None, 0.5).values is None
    assert p.update("h", False, "FAILED", None, 0.5) is None
    p.apply(p.update("h", True, "FAILED", None, 0.5), 1)
    p.apply(p.update("h", False, "COMPLETE", [2.0], 0.5), 1)
    assert table.calls == ["release", ("record", (2.0,))]
    assert policy(Table(), enabled=False).key(pg.Dict(x=1)) is None


class Fixed(Searcher):
    """A searcher with no warm-start support of its own: always proposes x=0."""

    name = "fixed"

    def __init__(self, space: ht.Space):
        super().__init__(space)
        self.told: list[tuple[int, str]] = []
        self.served: list[int] = []

    def ask(self, number: int) -> Proposal:
        dna = pg.template(self.space.hyper_value).encode(pg.Dict(x=0))
        return Proposal(number, dna, self.space.materialize(dna))

    def tell(self, proposal: Proposal, feedback: Feedback) -> None:
        self.told.append((proposal.number, feedback.state))

    def note_served(self, proposal: Proposal) -> None:
        self.served.append(proposal.number)


def test_the_study_serves_its_queue_before_any_searcher_and_the_searcher_learns_it(
    sqlite_url: str,
) -> None:
    space = ht.Space(pg.Dict(x=pg.oneof([0, 1, 2, 3])), "q")
    searcher = Fixed(space)
    study = ht.Study.create(
        "queue",
        space=space,
        evaluator=ht.FunctionEvaluator(lambda c: float(c["x"])),
        searcher=searcher,
        storage=sqlite_url,
        enqueue=[{"x": 3}, {"x": 2}],
    )
    assert not study.enqueue({"x": 2}), "already queued"
    assert study.enqueue({"x": 2}, skip_if_exists=False)
    study.optimize(n_trials=4)
    xs = [pg.from_json_str(t.candidate)["x"] for t in study.trials()]
    assert xs == [3, 2, 2, 0], "queued candidates first, in order, then the searcher's"
    assert searcher.served == [0, 1, 2], "queued trials are noted to the searcher when served"
    assert [n for n, _ in searcher.told] == [0, 1, 2, 3]
    asked = study.ask()
    assert study.enqueue({"x": 1})
    queued = study.ask()  # ask() serves the queue too
    assert queued.candidate["x"] == 1 and asked.candidate["x"] == 0
    study.tell(asked, 0.0)
    study.tell(queued, 1.0)
    assert searcher.served[-1] == queued.number
    study.close()
