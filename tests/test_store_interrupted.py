"""The explicit INTERRUPTED trial state: migration 0011, the trial path and the budget."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import insert, select, update

from hashtune.store import Store, StoreError
from hashtune.store.base import utcnow
from hashtune.store.engine import alembic_config, current_revision, make_engine, migrate
from hashtune.store.models import FecCache, Study, Trial
from hashtune.vocabulary import COUNTED_STATES, TrialState

V = "v1"


def _running(store: Store, study_id: int, worker: str = "w") -> int:
    t = store.trials.reserve(study_id, worker)
    store.trials.begin(t.id, dna=[t.number], candidate=f"c{t.number}", params={})
    return t.id


def test_migration_0011_turns_interrupted_failures_into_interrupted(storage_url: str) -> None:
    engine = make_engine(storage_url)
    migrate(engine, "0010")
    now = utcnow()
    with engine.begin() as conn:
        sid = conn.execute(
            insert(Study).values(
                name="old", directions=["minimize"], config={}, created_at=now, status="RUNNING"
            )
        ).inserted_primary_key[0]
        rows = [
            ("FAILED", "interrupted: the run that owned this trial died (w1)"),
            ("FAILED", "ValueError: boom"),
            ("FAILED", None),
            ("COMPLETE", None),
        ]
        conn.execute(
            insert(Trial),
            [
                {"study_id": sid, "number": i, "state": st, "error": err, "candidate": "c",
                 "params": {}, "user_attrs": {}}
                for i, (st, err) in enumerate(rows)
            ],
        )  # fmt: skip
    migrate(engine, "0011")
    assert current_revision(engine) == "0011"
    with engine.connect() as conn:
        states = conn.execute(select(Trial.state).order_by(Trial.number)).scalars().all()
    assert states == ["INTERRUPTED", "FAILED", "FAILED", "COMPLETE"]
    with engine.begin() as conn:  # and back
        command.downgrade(alembic_config(conn), "0010")
    with engine.connect() as conn:
        states = conn.execute(select(Trial.state).order_by(Trial.number)).scalars().all()
        errors = conn.execute(select(Trial.error).order_by(Trial.number)).scalars().all()
    assert states == ["FAILED", "FAILED", "FAILED", "COMPLETE"]
    assert errors[0].startswith("interrupted")
    engine.dispose()


def test_interrupted_trials_finish_and_do_not_count(storage_url: str) -> None:
    store = Store(storage_url)
    sid = store.studies.create("i", ["minimize"], {}).id
    a, b = _running(store, sid), _running(store, sid)
    store.trials.finish(a, state=TrialState.COMPLETE, values=[1.0])
    done = store.trials.finish_and_next(
        b, state=TrialState.INTERRUPTED, error="stopped", reserve_for="w", count_budget=True
    )
    assert done.trial.state == "INTERRUPTED" and done.trial.error == "stopped"
    assert done.reserved is not None and done.reserved_budget == 2  # a and the reservation
    assert store.trials.count_budget(sid) == 2 and store.trials.count_budget(sid, 1) == 1
    assert store.queries.counted_finished(sid) == 1
    assert [n for n, st, *_ in store.queries.history(sid)] == [0, 1]  # resume sees it
    assert store.studies.stats(sid).failed == 1  # an interrupted evaluation failed
    assert {st for st in COUNTED_STATES} == {"COMPLETE", "CACHED", "FAILED", "PRUNED"}
    late = store.trials.finish(b, state=TrialState.COMPLETE, values=[2.0])  # it was alive
    assert late.state == "COMPLETE" and store.queries.counted_finished(sid) == 2
    with pytest.raises(StoreError, match="already COMPLETE"):
        store.trials.finish(b, state=TrialState.INTERRUPTED)


def test_a_reclaimed_reservation_is_interrupted_and_revived_by_its_owner(
    storage_url: str,
) -> None:
    store = Store(storage_url)
    sid = store.studies.create("r", ["minimize"], {}).id
    t = store.trials.reserve(sid, "w")
    with store.db.write() as s:
        s.execute(
            update(Trial).where(Trial.id == t.id).values(heartbeat_at=utcnow() - timedelta(hours=1))
        )
    assert store.workers.reclaim(t.id, 60, "interrupted: dead (w)")
    assert store.trials.get(t.id).state == "INTERRUPTED"
    assert store.trials.count_budget(sid) == 0  # runs again on resume, does not count
    started = store.trials.begin(t.id, dna=[0], candidate="c", params={})  # the owner was alive
    assert started.trial.state == "RUNNING" and started.trial.error is None


def test_heartbeat_leaves_cache_claims_to_the_cache(storage_url: str) -> None:
    store = Store(storage_url)
    sid = store.studies.create("h", ["minimize"], {}).id
    tid = _running(store, sid)
    assert store.cache.claim("T", "f", tid, version=V)
    old = utcnow() - timedelta(hours=1)
    with store.db.write() as s:
        s.execute(update(FecCache).values(claimed_at=old))

    def claimed_at():
        with store.db.read() as s:
            return s.scalar(select(FecCache.claimed_at))

    store.workers.heartbeat([tid], run_id=None)
    assert claimed_at() == old  # the worker's and trials' heartbeat only
    store.cache.refresh_claims([tid])
    assert claimed_at() > old
    assert not store.cache.claim("T", "f", tid + 1, version=V, stale_after_s=60)  # kept
