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


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_reserve_then_set_proposal_fills_the_trial_and_its_lineage(storage_url: str) -> None:
    store = Store(storage_url)
    study = store.create_study("s", ["maximize"], {})
    parent = store.reserve_trial(study.id, worker="w")
    store.set_proposal(parent.id, dna=[1], candidate="{}", params={"x": 1})
    child = store.reserve_trial(study.id, worker="w")
    assert (parent.number, child.number) == (0, 1)
    assert store.trial(child.id).state == "PENDING" and store.trial(child.id).dna is None
    store.set_proposal(
        child.id, dna=[2], candidate='{"x": 2}', params={"x": 2}, parents=[0], mutation="m",
        functional_hash="h", task="t",
    )  # fmt: skip
    got = store.trial(child.id)
    assert got.state == "RUNNING" and got.dna == [2] and got.params == {"x": 2}
    assert got.parents == (0,) and got.mutation == "m" and got.functional_hash == "h"
    with pytest.raises(StoreError, match="not a PENDING reservation"):
        store.set_proposal(child.id, dna=[3], candidate="", params={})


def test_trials_of_a_dead_local_process_are_failed_and_their_claims_released(
    storage_url: str,
) -> None:
    store = Store(storage_url)
    study = store.create_study("s", ["maximize"], {})
    dead = f"{socket.gethostname()}:{_dead_pid()}:abcd1234"
    me = new_worker_id()
    orphan = store.reserve_trial(study.id, worker=dead)
    store.set_proposal(orphan.id, dna=[1], candidate="{}", params={}, functional_hash="h", task="t")
    assert store.cache_claim("t", "h", orphan.id, version=HASH_VERSION)
    mine = store.reserve_trial(study.id, worker=me)
    assert recover_dead_trials(store, study.id, me) == [orphan.number]
    failed = store.trial(orphan.id)
    assert failed.state == "FAILED" and was_interrupted(failed) and dead in failed.error
    assert store.cache_lookup("t", "h", version=HASH_VERSION) is None, (
        "the dead trial's claim must be released"
    )
    assert store.trial(mine.id).state == "PENDING", "a live worker's trial is left alone"


def test_liveness_rules() -> None:
    store_now = datetime.now(UTC)
    me = new_worker_id()

    class T:  # the fields is_dead reads
        def __init__(self, worker: str, age_s: float):
            self.worker = worker
            self.heartbeat_at = store_now - timedelta(seconds=age_s)
            self.started_at = self.heartbeat_at

    here = socket.gethostname()
    alive = f"{here}:{os.getpid()}:x"
    assert not is_dead(T(me, 3600), me)
    assert is_dead(T(f"{here}:{_dead_pid()}:x", 0), me)
    assert not is_dead(T(alive, 1), me)
    assert is_dead(T(alive, 3600), me), "a stale heartbeat means dead even if the pid exists"
    assert not is_dead(T("otherhost:1:x", 5), me)
    assert is_dead(T("otherhost:1:x", 600), me)
