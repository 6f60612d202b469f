"""Reserve-then-fill trials and the recovery of trials whose run died."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from hashtune.hashing import HASH_VERSION
from hashtune.recovery import is_dead, new_worker_id, recover_dead_trials, was_interrupted
from hashtune.store import Store, StoreError
from hashtune.store.engine import alembic_config


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_reserve_then_set_proposal_fills_the_trial_and_its_lineage(storage_url: str) -> None:
    store = Store(storage_url)
    study = store.studies.create("s", ["maximize"], {})
    parent = store.trials.reserve(study.id, worker="w")
    store.trials.set_proposal(parent.id, dna=[1], candidate="{}", params={"x": 1})
    child = store.trials.reserve(study.id, worker="w")
    assert (parent.number, child.number) == (0, 1)
    assert store.trials.get(child.id).state == "PENDING" and store.trials.get(child.id).dna is None
    store.trials.set_proposal(
        child.id, dna=[2], candidate='{"x": 2}', params={"x": 2}, parents=[0], mutation="m",
        functional_hash="h", task="t",
    )  # fmt: skip
    got = store.trials.get(child.id)
    assert got.state == "RUNNING" and got.dna == [2] and got.params == {"x": 2}
    assert got.parents == (0,) and got.mutation == "m" and got.functional_hash == "h"
    with pytest.raises(StoreError, match="not a PENDING reservation"):
        store.trials.set_proposal(child.id, dna=[3], candidate="", params={})


def _age(store: Store, trial_id: int, seconds: float) -> None:
    """Make a trial's last heartbeat `seconds` old (as if its worker went silent)."""
    from sqlalchemy import update

    from hashtune.store.models import Trial

    past = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=seconds)
    with store.db.engine.begin() as conn:
        conn.execute(update(Trial).where(Trial.id == trial_id).values(heartbeat_at=past))


def test_trials_of_a_silent_worker_are_failed_and_their_claims_released(
    storage_url: str,
) -> None:
    store = Store(storage_url)
    study = store.studies.create("s", ["maximize"], {})
    dead = new_worker_id()
    me = new_worker_id()
    orphan = store.trials.reserve(study.id, worker=dead)
    store.trials.set_proposal(
        orphan.id, dna=[1], candidate="{}", params={}, functional_hash="h", task="t"
    )
    assert store.cache.claim("t", "h", orphan.id, version=HASH_VERSION)
    mine = store.trials.reserve(study.id, worker=me)
    _age(store, orphan.id, 120)
    assert [t.number for t in recover_dead_trials(store, study.id, me)] == [orphan.number]
    failed = store.trials.get(orphan.id)
    assert failed.state == "INTERRUPTED" and was_interrupted(failed) and dead in failed.error
    assert store.cache.lookup("t", "h", version=HASH_VERSION) is None, (
        "the dead trial's claim must be released"
    )
    assert store.trials.get(mine.id).state == "PENDING", "a live worker's trial is left alone"
    assert recover_dead_trials(store, study.id, me) == [], "reclaimed once only"


def test_a_live_trial_with_a_reused_pid_on_this_host_is_not_marked_interrupted(
    storage_url: str,
) -> None:
    """Identity by PID: a peer in another PID namespace (a container sharing the hostname) may
    show a PID that is dead here; its fresh heartbeat says it is alive."""
    store = Store(storage_url)
    study = store.studies.create("s", ["maximize"], {})
    peer = f"{socket.gethostname()}:{_dead_pid()}:abcd1234"  # the old host:pid:token form
    live = store.trials.reserve(study.id, worker=peer)
    store.trials.set_proposal(
        live.id, dna=[1], candidate="{}", params={}, functional_hash="h", task="t"
    )
    assert store.cache.claim("t", "h", live.id, version=HASH_VERSION)
    assert recover_dead_trials(store, study.id, new_worker_id()) == []
    assert store.trials.get(live.id).state == "RUNNING"
    assert store.cache.lookup("t", "h", version=HASH_VERSION).claimed_by_trial_id == live.id


def test_a_holder_is_judged_by_its_own_heartbeat_interval(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    study = store.studies.create("s", ["maximize"], {})
    slow, quick = new_worker_id(), new_worker_id()
    store.workers.join(study.id, slow, heartbeat_s=30.0, stale_beats=4)
    store.workers.join(study.id, quick, heartbeat_s=0.5, stale_beats=4)
    a = store.trials.reserve(study.id, worker=slow)
    b = store.trials.reserve(study.id, worker=quick)
    _age(store, a.id, 10)
    _age(store, b.id, 10)
    got = recover_dead_trials(store, study.id, new_worker_id(), 1.0, stale_beats=4)
    assert [t.id for t in got] == [b.id], "10 s is 20 beats of the quick one, <1 of the slow"


def test_worker_slots_are_lowest_free_first_and_reused_after_leaving(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    study = store.studies.create("s", ["maximize"], {})
    ids = [new_worker_id() for _ in range(3)]
    assert [store.workers.join(study.id, w, heartbeat_s=5, stale_beats=4) for w in ids] == [0, 1, 2]
    store.workers.leave(study.id, ids[1])
    assert store.workers.join(study.id, new_worker_id(), heartbeat_s=5, stale_beats=4) == 1
    assert store.workers.join(study.id, new_worker_id(), heartbeat_s=5, stale_beats=4) == 3


def test_liveness_rules() -> None:
    store_now = datetime.now(UTC)
    me = new_worker_id()

    class T:  # the fields is_dead reads
        def __init__(self, worker: str, age_s: float):
            self.worker = worker
            self.heartbeat_at = store_now - timedelta(seconds=age_s)
            self.started_at = self.heartbeat_at

    here = socket.gethostname()
    assert ":" in me and str(os.getpid()) not in me.split(":"), "identity is not a PID"
    assert not is_dead(T(me, 3600), me)
    assert not is_dead(T(f"{here}:{_dead_pid()}:x", 0), me), "a dead-looking PID is no proof"
    assert is_dead(T(f"{here}:{os.getpid()}:x", 3600), me), "stale means dead, PID or not"
    assert not is_dead(T("otherhost:1:x", 5), me)
    assert is_dead(T("otherhost:1:x", 600), me)


def test_a_store_at_0002_holding_a_study_upgrades_to_worker_slots(storage_url: str) -> None:
    from sqlalchemy import text

    from hashtune.store.engine import current_revision, make_engine, migrate

    engine = make_engine(storage_url)
    migrate(engine, "0002")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO studies (name, directions, config, created_at, status) "
                "VALUES ('old', '[\"maximize\"]', '{}', '2024-01-01 00:00:00', 'RUNNING')"
            )
        )
    engine.dispose()
    store = Store(storage_url)
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert current_revision(store.db.engine) == head
    old = store.studies.require("old")
    assert store.workers.join(old.id, new_worker_id(), heartbeat_s=5, stale_beats=4) == 0
    assert [w.slot for w in store.workers.list(old.id)] == [0]


def test_a_dead_peers_trial_is_reclaimed_during_the_run_and_retried(sqlite_url: str) -> None:
    import pyglove as pg

    from hashtune.study import Study

    study = Study.create(
        "r", space="nas_bench_201", searcher="random", storage=sqlite_url,
        evaluator="hashtune.evaluators.testing:SleepEvaluator", evaluator_args={"seconds": 0.2},
        cache={"enabled": False}, liveness={"heartbeat_s": 0.05, "stale_beats": 4},
    )  # fmt: skip
    store, cell = study.store, pg.DNA([0, 1, 2, 3, 4, 0])
    dead = store.trials.reserve(study.study_id, worker="gone:0123456789ab")
    dna = study.space.dna_to_json(cell)
    store.trials.set_proposal(dead.id, dna=dna, candidate="{}", params={})  # then its worker died
    _age(store, dead.id, 120)
    study.optimize(n_trials=4, max_retries=1)
    got = [(t.state, t.worker) for t in store.trials.list(study.study_id) if t.dna == dna]
    assert ("INTERRUPTED", "gone:0123456789ab") in got, "reclaimed during the run"
    assert ("COMPLETE", study.worker) in got, "and proposed again by the worker that noticed"
