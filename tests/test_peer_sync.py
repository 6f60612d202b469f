"""One search, many workers (issue 15, item 3): each worker's searcher learns its peers' trials.

The store hands out each finished trial once, in commit order, to a cursor (`peer_news`); before
each ask the loop's `PeerSync` tells the searcher what other workers finished (`observe`) and what
they are evaluating now (`set_pending`). Worker A runs as a real process in the cross-worker test.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import peer_worker  # tests/ is on sys.path (pytest rootdir insertion)
import pyglove as pg
import pytest
from legacy_schema import legacy
from sqlalchemy import insert, select

from hashtune import Study
from hashtune.search.base import Feedback
from hashtune.search.book import dna_key
from hashtune.store import Store
from hashtune.store.base import utcnow
from hashtune.store.engine import make_engine, migrate
from hashtune.store.models import Study as StudyRow
from hashtune.store.models import Trial

TESTS = Path(__file__).parent
COMPONENTS = {"space": "peer_worker:space", "evaluator": "peer_worker:evaluator"}
NO_CACHE = {"enabled": False}


def _study(store: Store, name: str = "s") -> int:
    return store.studies.create(name, ["maximize"], {}).id


def _running(store: Store, sid: int, worker: str, dna: object = None) -> int:
    """A trial of `worker` with a proposal, RUNNING (as the loop leaves it before evaluating)."""
    t = store.trials.reserve(sid, worker=worker)
    store.trials.set_proposal(
        t.id, dna=dna if dna is not None else [t.number % 8, 0], candidate="c", params={}
    )
    return t.id


# ---- the store query -------------------------------------------------------------------------
def test_peer_news_returns_each_finish_once_when_finishes_commit_late_and_out_of_order(
    storage_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(storage_url)
    sid = _study(store)
    ids = [_running(store, sid, worker=f"w{i % 3}") for i in range(30)]
    # Every finishing transaction stalls a random while before it commits, on 4 threads in a
    # shuffled order: finishes overlap and commit late, and the reader polls throughout.
    real = type(store.trials)._write_intermediate

    def slow(self, s, trial_id, steps):  # runs inside the finishing transaction
        time.sleep(random.uniform(0, 0.02))
        return real(self, s, trial_id, steps)

    monkeypatch.setattr(type(store.trials), "_write_intermediate", slow)
    order = ids[:]
    random.Random(0).shuffle(order)
    seen: list[int] = []
    done = threading.Event()

    def read() -> None:
        cursor = 0
        while True:
            last = done.is_set()
            news = store.workers.peer_news(sid, cursor, worker="me")
            seen.extend(t.number for t in news.finished)
            assert news.cursor >= cursor
            cursor = news.cursor
            if last:
                return

    reader = threading.Thread(target=read)
    reader.start()
    chunks = [order[i::4] for i in range(4)]
    threads = [
        threading.Thread(
            target=lambda c=c: [store.trials.finish(i, state="COMPLETE", values=[1.0]) for i in c]
        )
        for c in chunks
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    reader.join()
    assert sorted(seen) == list(range(30))  # every finish, none twice
    assert store.workers.finish_cursor(sid) == 30


def test_peer_news_skips_own_trials_but_moves_past_them_and_lists_peers_running(
    storage_url: str,
) -> None:
    store = Store(storage_url)
    sid = _study(store)
    mine, theirs = _running(store, sid, "me"), _running(store, sid, "peer")
    running_peer = _running(store, sid, "peer")
    _running(store, sid, "me")  # my own in-flight trial is not a peer's pending proposal
    store.trials.reserve(sid, worker="peer")  # a reservation without a proposal is not pending
    store.trials.finish(mine, state="COMPLETE", values=[1.0])
    store.trials.finish(theirs, state="FAILED", error="boom")
    news = store.workers.peer_news(sid, 0, worker="me")
    assert [(t.number, t.state) for t in news.finished] == [(1, "FAILED")]
    assert [t.number for t in news.running] == [store.trials.get(running_peer).number]
    assert news.cursor == 2
    assert store.workers.peer_news(sid, news.cursor, worker="me").finished == ()
    live = store.trials.list(sid, states=["RUNNING", "PENDING"])  # a sweep's finishes are numbered
    assert [t for t in live if store.workers.reclaim(t.id, -1, "swept", state="FAILED")] != []
    swept = store.workers.peer_news(sid, news.cursor, worker="me")
    assert [t.number for t in swept.finished] == [2, 4]  # the peer's trial and reservation
    assert swept.cursor == 2 + 3 and swept.running == ()


def test_upgrade_numbers_finished_trials_of_an_existing_store(storage_url: str) -> None:
    engine = make_engine(storage_url)
    migrate(engine, "0002")
    with engine.begin() as conn:
        sid = conn.execute(
            insert(legacy(StudyRow)).values(
                name="old",
                directions=["maximize"],
                config={},
                created_at=utcnow(),
                status="RUNNING",
            )
        ).inserted_primary_key[0]
        for number, state in enumerate(["COMPLETE", "RUNNING", "FAILED", "CACHED"]):
            conn.execute(
                insert(legacy(Trial)).values(
                    study_id=sid, number=number, state=state, candidate="c", params={},
                    user_attrs={}, dna=[number, 0], values=[1.0] if state != "FAILED" else None,
                    worker="old", finished_at=None if state == "RUNNING" else utcnow(),
                )
            )  # fmt: skip
    engine.dispose()
    store = Store(storage_url)
    with store.db.engine.connect() as conn:
        seqs = dict(conn.execute(select(Trial.number, Trial.finish_seq)).all())
    assert seqs == {0: 1, 1: None, 2: 2, 3: 3}
    assert store.workers.finish_cursor(sid) == 3
    store.trials.finish(store.trials.by_number(sid, 1).id, state="COMPLETE", values=[2.0])
    news = store.workers.peer_news(sid, 3, worker="me")
    assert [(t.number, t.finish_seq) for t in news.finished] == [(1, 4)]


# ---- the searchers ---------------------------------------------------------------------------
def _run_worker_a(url: str, n: int, *names: str) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [sys.executable, str(TESTS / "peer_worker.py"), url, str(n), *names]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]


def _best(trials):
    return max((t for t in trials if t.values), key=lambda t: t.values[0])


@pytest.mark.slow
def test_searcher_in_worker_b_proposes_from_what_worker_a_learned(storage_url: str) -> None:
    """Worker B opens the studies first; worker A (another process) then runs 8 trials on each.
    B's next ask learns them incrementally: regularized evolution (tournament = population)
    mutates A's best; TPE's private Optuna study holds A's trials as finished ones."""
    b_re = Study.create(
        "re", **COMPONENTS, searcher="regularized_evolution", storage=storage_url, cache=NO_CACHE,
        searcher_args={"population_size": 8, "tournament_size": 8},
    )  # fmt: skip
    b_tpe = Study.create(
        "tpe", **COMPONENTS, searcher="tpe", storage=storage_url, cache=NO_CACHE,
        searcher_args={"n_startup_trials": 4},
    )  # fmt: skip
    _run_worker_a(storage_url, 8, "re", "tpe")
    a_trials = b_re.trials()
    assert len(a_trials) == 8 and len(b_re.searcher.population) == 0  # nothing replayed yet

    at_ask: list[set[int]] = []
    ask = b_re.searcher.ask

    def spy(number: int):  # what B's population holds when it is asked
        at_ask.append({m.number for m in b_re.searcher.population})
        return ask(number)

    b_re.searcher.ask = spy
    b_re.optimize(n_trials=1)
    assert at_ask == [{t.number for t in a_trials}]
    mine = b_re.trials()[-1]
    assert mine.worker == b_re.worker and mine.number == 8
    assert mine.parents == (_best(a_trials).number,) and mine.mutation
    assert b_re.peers.observed == 8

    b_tpe.optimize(n_trials=1)
    complete = b_tpe.searcher.study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    a_tpe = [t for t in b_tpe.trials() if t.worker != b_tpe.worker]
    assert len(a_tpe) == 8
    assert sorted(t.value for t in complete) == sorted(t.values[0] for t in b_tpe.trials())
    assert b_tpe.peers.observed == 8


@pytest.mark.parametrize("searcher", ["random", "regularized_evolution", "hill_climb", "tpe"])
def test_peers_pending_proposals_are_not_re_proposed(sqlite_url: str, searcher: str) -> None:
    """On a 4-point space where a peer is evaluating 3 points, B proposes the 4th."""
    store = Store(sqlite_url)
    b = Study.create(
        "pend", space="peer_worker:space4", evaluator="peer_worker:evaluator", searcher=searcher,
        storage=store, cache=NO_CACHE,
    )  # fmt: skip
    points = [pg.DNA([a, c]) for a in (0, 1) for c in (0, 1)]
    free = random.Random(searcher).choice(points)
    for dna in points:
        if dna != free:
            dna.use_spec(b.space.dna_spec)
            _running(store, b.study_id, "peer", dna=b.space.dna_to_json(dna))
    b.optimize(n_trials=1)
    proposed = b.trials()[-1]
    assert proposed.worker == b.worker
    assert b.space.dna_from_json(proposed.dna) == free


def test_optuna_searcher_turns_peers_pending_into_running_trials_and_finishes_them() -> None:
    from hashtune.search.base import Proposal
    from hashtune.search.optuna_searchers import TPESearcher

    sp = peer_worker.space()
    s = TPESearcher(sp, seed=0)
    rng = random.Random(1)
    peers = [Proposal(100 + i, sp.random_dna(rng), None) for i in range(3)]
    s.set_pending(peers)
    states = [t.state.name for t in s.study.get_trials()]
    assert states == ["RUNNING"] * 3
    s.observe(peers[0], Feedback("COMPLETE", (1.5,)))  # the peer finished it
    s.set_pending(peers[2:])  # peers[1] vanished unfinished (e.g. its worker died)
    got = [(t.state.name, t.value) for t in s.study.get_trials()]
    assert got == [("COMPLETE", 1.5), ("FAIL", None), ("RUNNING", None)]
    s.tell(s.ask(0), Feedback("COMPLETE", (0.0,)))  # its own asks still work alongside
    assert len(s.study.get_trials()) == 4


@pytest.mark.parametrize(
    "name",
    ["random", "regularized_evolution", "hill_climb", "nsga2", "tpe", "cmaes"]
    + [pytest.param(n, marks=pytest.mark.slow) for n in ("qmc", "gp")],
)
def test_every_searcher_learns_proposals_it_never_made(name: str) -> None:
    """Foreign finished trials (good, failed, pruned) and peers' pending proposals are accepted by
    every searcher, which then asks proposals that repeat none of them."""
    from hashtune.search.base import Proposal
    from hashtune.search.registry import make_searcher

    sp = peer_worker.space()
    dirs = ("maximize", "minimize") if name == "nsga2" else ("maximize",)
    s = make_searcher(
        name,
        sp,
        dirs,
        0,
        **({"population_size": 4} if name in ("nsga2", "regularized_evolution") else {}),
    )
    rng = random.Random(2)
    foreign = list(dict.fromkeys(dna_key(d) for d in (sp.random_dna(rng) for _ in range(40))))[:14]
    dnas = [sp.dna_from_json(json.loads(k)) for k in foreign]
    pending = [Proposal(100 + i, d, None) for i, d in enumerate(dnas[10:])]
    s.set_pending(pending)
    for i, dna in enumerate(dnas[:10]):
        state = ("COMPLETE", "FAILED", "PRUNED", "CACHED")[i % 4]
        c = sp.materialize(dna)
        values = (peer_worker.score(c),) * len(dirs) if state in ("COMPLETE", "CACHED") else None
        s.observe(Proposal(i, dna, None), Feedback(state, values))
    if hasattr(s, "population"):  # the peer's scored trials joined (size 4), failures did not
        members = {m.number for m in s.population}
        size = 1 if name == "hill_climb" else 4  # hill climbing keeps one incumbent
        assert len(members) == size and members <= {0, 3, 4, 7, 8}
    asked = [s.ask(200 + j) for j in range(6)]
    for p in asked:
        s.tell(p, Feedback("COMPLETE", (peer_worker.score(p.candidate),) * len(dirs)))
    assert not {dna_key(p.dna) for p in asked} & set(foreign)
    if hasattr(s, "num_asked"):
        assert s.num_asked == 16  # peers' finished proposals count toward the random phase
