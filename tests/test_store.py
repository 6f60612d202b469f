"""SQL store: round trips, migrations, concurrency, transactions, sweeps and the FEC cache."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta

import numpy as np
import pytest
from alembic.script import ScriptDirectory
from legacy_schema import legacy  # tests/ is on sys.path
from sqlalchemy import event, insert, inspect, select, update

from hashtune.store import (
    Store,
    StoreError,
    StudyExistsError,
    StudyNotFoundError,
    TrialNotFoundError,
)
from hashtune.store.base import utcnow
from hashtune.store.engine import alembic_config, current_revision, make_engine, migrate
from hashtune.store.models import VERSION_TABLE, Base, IntermediateValue, Lineage, Study, Trial

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()
V = "hashtune-ufh-v2"  # the hash version the store tests key their cache entries under


def _trial(store: Store, study_id: int, **kw):
    args = {"dna": [0, 1], "candidate": '{"_type": "x"}', "params": {"a": 1}}
    args.update(kw)
    return store.create_trial(study_id, **args)


def _set(store: Store, trial_id: int, **values) -> None:
    """Test hook: overwrite trial columns directly (timestamps, durations)."""
    with store._write() as s:
        s.execute(update(Trial).where(Trial.id == trial_id).values(**values))


def test_round_trip(storage_url: str) -> None:
    store = Store(storage_url)
    study = store.create_study("s1", ["minimize", "maximize"], {"space": {"x": [1, 2]}})
    assert study.directions == ("minimize", "maximize") and study.status == "RUNNING"
    with pytest.raises(StudyExistsError, match="s1"):
        store.create_study("s1", ["minimize"], {})
    t0 = _trial(store, study.id, dna=[3, {"k": 1.5}], worker="w0", functional_hash="h0", task="T")
    t1 = _trial(store, study.id, parents=[0], mutation="swap", params={"x": 2})
    t2 = _trial(store, study.id, parents=[1, 0], mutation="cross")
    assert [t.number for t in (t0, t1, t2)] == [0, 1, 2]
    store.report_intermediate(t0.id, 1, 0.9)
    store.report_intermediate(t0.id, 2, 0.7)
    store.finish_trial(
        t0.id,
        state="COMPLETE",
        values=[0.5, 2.0],
        user_attrs={"acc": 0.8},
        intermediate=[(2, 0.6), (3, 0.5)],
    )
    store.finish_trial(t1.id, state="COMPLETE", values=[0.25, float("nan")])
    store.finish_trial(t2.id, state="FAILED", error="boom")

    again = Store(storage_url)  # a second connection sees everything
    trials = again.trials(study.id)
    assert [t.number for t in trials] == [0, 1, 2]
    a, b, c = trials
    assert a.dna == [3, {"k": 1.5}] and a.params == {"a": 1} and a.worker == "w0"
    assert a.values == (0.5, 2.0) and a.value == 0.5 and a.user_attrs == {"acc": 0.8}
    assert a.intermediate == ((1, 0.9), (2, 0.6), (3, 0.5))  # step 2 replaced on finish
    assert a.functional_hash == "h0" and a.task == "T" and a.duration_s >= 0
    assert b.parents == (0,) and b.mutation == "swap" and np.isnan(b.values[1])
    assert c.parents == (0, 1) and c.mutation == "cross" and c.state == "FAILED"
    assert c.error == "boom" and c.values is None
    assert again.trial(t2.id) == c and again.trial_by_number(study.id, 2) == c  # no NaN in c
    assert again.trial_by_number(study.id, 1).id == t1.id
    assert [t.number for t in again.trials(study.id, states=["COMPLETE"])] == [0, 1]
    assert [(e.child_number, e.parent_number, e.mutation) for e in again.lineage(study.id)] == [
        (1, 0, "swap"),
        (2, 0, "cross"),
        (2, 1, "cross"),
    ]
    other = again.create_study("s2", ["maximize"], {})
    t = _trial(again, other.id)
    again.finish_trial(t.id, state="COMPLETE", values=[3.0])
    t = _trial(again, other.id)
    again.finish_trial(t.id, state="CACHED", values=[4.0], cached_from_trial_id=t0.id)
    summary = {s.name: s for s in again.list_studies()}
    assert summary["s1"].n_trials == {"COMPLETE": 2, "FAILED": 1}
    assert summary["s1"].best_value == 0.25  # minimize
    assert summary["s2"].best_value == 4.0  # maximize, cached trials count
    again.set_study_status(other.id, "COMPLETE")
    assert again.get_study_by_id(other.id).status == "COMPLETE"
    again.delete_study("s1")
    assert again.get_study("s1") is None and [s.name for s in again.list_studies()] == ["s2"]
    assert again.trial_by_number(other.id, 1).cached_from_trial_id is None  # payer deleted
    with pytest.raises(StudyNotFoundError, match="s1") as err:
        again.delete_study("s1")
    assert store._safe_url in str(err.value)
    with pytest.raises(TrialNotFoundError):
        again.trial(t0.id)


def test_invalid_arguments_raise_naming_the_field(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    with pytest.raises(ValueError, match="directions"):
        store.create_study("x", ["upward"], {})
    study = store.create_study("x", ["minimize"], {})
    with pytest.raises(ValueError, match="parents"):
        _trial(store, study.id, parents=[7])
    with pytest.raises(StudyNotFoundError):
        _trial(store, study.id + 100)
    t = _trial(store, study.id)
    with pytest.raises(ValueError, match="values"):
        store.finish_trial(t.id, state="COMPLETE")
    with pytest.raises(ValueError, match="state"):
        store.finish_trial(t.id, state="DONE", values=[1.0])
    store.finish_trial(t.id, state="COMPLETE", values=[1.0])
    with pytest.raises(StoreError, match="already COMPLETE"):
        store.finish_trial(t.id, state="FAILED")


def test_bad_urls_raise_store_error_naming_the_url(tmp_path) -> None:
    for url in [
        "not a url",
        f"sqlite:///{tmp_path}/missing/dir/x.db",
        "nosuchdialect://host/db",
        "postgresql+psycopg://postgres@127.0.0.1:1/test",
    ]:
        with pytest.raises(StoreError) as err:
            Store(url)
        assert url in str(err.value)


def test_migrates_empty_database_to_head_matching_models(storage_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    store = Store(storage_url)
    assert current_revision(store._engine) == HEAD
    with store._engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []  # the migrations build exactly the ORM schema
    Store(storage_url)  # reopening at head is a no-op


def test_upgrades_from_revision_0001(storage_url: str) -> None:
    engine = make_engine(storage_url)
    migrate(engine, "0001")
    assert current_revision(engine) == "0001"
    assert "ix_trials_study_state" not in {i["name"] for i in inspect(engine).get_indexes("trials")}
    now = utcnow()
    with engine.begin() as conn:
        sid = conn.execute(
            insert(legacy(Study)).values(
                name="old", directions=["minimize"], config={}, created_at=now, status="RUNNING"
            )
        ).inserted_primary_key[0]
        conn.execute(
            insert(legacy(Trial)).values(
                study_id=sid, number=0, state="COMPLETE", candidate="c", params={}, user_attrs={}
            )
        )
    engine.dispose()
    store = Store(storage_url)
    assert current_revision(store._engine) == HEAD
    names = {i["name"] for i in inspect(store._engine).get_indexes("ht_trials")}
    assert "ix_ht_trials_study_state" in names
    assert [t.number for t in store.trials(sid)] == [0]
    assert _trial(store, sid).number == 1


def test_concurrent_trial_numbers_from_threads(storage_url: str) -> None:
    study = Store(storage_url).create_study("c", ["minimize"], {})
    got: list[list[int]] = [[], []]
    barrier = threading.Barrier(2)

    def work(k: int) -> None:
        store = Store(storage_url)  # own engine and connections, like a separate worker
        barrier.wait()
        for _ in range(20):
            got[k].append(_trial(store, study.id, worker=f"w{k}").number)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(got[0] + got[1]) == list(range(40))


_WORKER = textwrap.dedent(
    """
    import pathlib, sys, time
    from hashtune.store import Store, StudyExistsError
    url, gate, me = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3]
    (gate / me).touch()
    while len(list(gate.iterdir())) < 2:  # start together once both have imported
        time.sleep(0.005)
    store = Store(url)  # both processes create + migrate the new database at once
    try:
        study = store.create_study("p", ["minimize"], {})
    except StudyExistsError:
        study = store.get_study("p")
    for _ in range(10):
        store.create_trial(study.id, dna=None, candidate="c", params={})
    """
)


def test_concurrent_open_and_numbering_from_processes(storage_url: str, tmp_path) -> None:
    gate = tmp_path / "gate"
    gate.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, storage_url, str(gate), str(k)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(2)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    store = Store(storage_url)
    study = store.get_study("p")
    assert [t.number for t in store.trials(study.id)] == list(range(20))


def test_finish_is_all_or_nothing(storage_url: str, monkeypatch) -> None:
    store = Store(storage_url)
    study = store.create_study("tx", ["minimize"], {})
    t = _trial(store, study.id)
    store.report_intermediate(t.id, 0, 1.0)

    def crash(self, conn, trial_id, steps):
        table = IntermediateValue.__table__
        conn.execute(table.insert().values(trial_id=trial_id, step=99, value=0.0))
        raise RuntimeError("disk on fire")  # the trial update and a step are already sent

    monkeypatch.setattr(type(store), "_write_intermediate", crash)
    with pytest.raises(RuntimeError, match="disk on fire"):
        store.finish_trial(
            t.id, state="COMPLETE", values=[0.1], user_attrs={"a": 1}, intermediate=[(1, 0.5)]
        )
    monkeypatch.undo()
    after = Store(storage_url).trial(t.id)
    assert after.state == "RUNNING" and after.values is None and after.value is None
    assert after.user_attrs == {} and after.finished_at is None
    assert after.intermediate == ((0, 1.0),)
    done = store.finish_trial(t.id, state="COMPLETE", values=[0.1], intermediate=[(1, 0.5)])
    assert done.state == "COMPLETE" and done.intermediate == ((0, 1.0), (1, 0.5))


def test_fail_stale_trials(storage_url: str) -> None:
    store = Store(storage_url)
    study = store.create_study("stale", ["minimize"], {})
    fresh, old, pending, done = (_trial(store, study.id) for _ in range(4))
    _set(store, pending.id, state="PENDING")
    store.finish_trial(done.id, state="COMPLETE", values=[1.0])
    long_ago = utcnow() - timedelta(hours=2)
    _set(store, old.id, heartbeat_at=long_ago, started_at=long_ago)
    _set(store, pending.id, heartbeat_at=long_ago)
    store.heartbeat(fresh.id)
    assert store.fail_stale_trials(study.id, older_than_s=3600) == [old.id, pending.id]
    assert store.trial(fresh.id).state == "RUNNING"
    swept = store.trial(old.id)
    assert swept.state == "FAILED" and swept.error == "worker died before finishing"
    assert store.fail_stale_trials(study.id, error="shutdown") == [fresh.id]
    assert store.trial(fresh.id).error == "shutdown"
    assert store.trial(done.id).state == "COMPLETE"
    assert store.fail_stale_trials(study.id) == []
    late = store.finish_trial(old.id, state="COMPLETE", values=[2.0])  # the worker was alive
    assert late.state == "COMPLETE" and late.error is None


def test_cache_claim_is_exclusive_and_release_reopens(storage_url: str) -> None:
    stores = [Store(storage_url), Store(storage_url)]
    study = stores[0].create_study("cache", ["minimize"], {})
    ids = [_trial(stores[0], study.id).id for _ in range(3)]
    results: dict[int, bool] = {}
    barrier = threading.Barrier(2)

    def claim(k: int) -> None:
        barrier.wait()
        results[k] = stores[k].cache_claim("task", "h1", ids[k], version=V)

    threads = [threading.Thread(target=claim, args=(k,)) for k in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(results.values()) == [False, True]
    winner = ids[0] if results[0] else ids[1]
    loser = ids[1] if results[0] else ids[0]
    store = stores[0]
    assert store.cache_lookup("task", "h1", version=V).claimed_by_trial_id == winner
    assert store.cache_claim("task", "h1", winner, version=V)  # re-claiming one's own claim is fine
    assert not store.cache_claim("task", "h1", ids[2], version=V)
    store.cache_release("task", "h1", loser, version=V)  # not the owner: no effect
    assert store.cache_lookup("task", "h1", version=V).status == "PENDING"
    store.cache_release("task", "h1", winner, version=V)
    assert store.cache_lookup("task", "h1", version=V) is None
    assert store.cache_claim("task", "h1", ids[2], version=V)
    assert store.cache_claim(
        "task", "h1", loser, stale_after_s=0.0, version=V
    )  # stale claim taken over
    store.cache_record("task", "h1", [1.0], loser, 0.5, version=V)
    assert not store.cache_claim("task", "h1", ids[2], stale_after_s=0.0, version=V)  # READY
    store.cache_release("task", "h1", loser, version=V)  # READY rows are kept
    assert store.cache_lookup("task", "h1", version=V).status == "READY"
    assert store.cache_lookup("other-task", "h1", version=V) is None  # never shared across tasks


def test_cache_record_welford_matches_numpy(storage_url: str) -> None:
    store = Store(storage_url)
    rng = np.random.default_rng(7)
    xs = rng.normal(loc=[3.0, -1.0], scale=[0.5, 2.0], size=(9, 2))
    secs = rng.uniform(1.0, 3.0, size=9)
    assert store.cache_claim("T", "f", 11, version=V)
    entry = None
    for i, (x, sec) in enumerate(zip(xs, secs, strict=True)):
        entry = store.cache_record("T", "f", list(x), 11 + i, float(sec), version=V)
        if i == 0:
            assert entry.variance == (0.0, 0.0) and entry.count == 1
    assert entry.status == "READY" and entry.count == 9 and entry.first_trial_id == 11
    assert entry.claimed_by_trial_id is None
    np.testing.assert_allclose(entry.mean, xs.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(entry.variance, xs.var(axis=0, ddof=1), rtol=1e-10)
    np.testing.assert_allclose(entry.eval_seconds, secs.mean(), rtol=1e-12)
    assert store.cache_lookup("T", "f", version=V) == entry
    with pytest.raises(ValueError, match="objectives"):
        store.cache_record("T", "f", [1.0], 99, 1.0, version=V)


def test_cache_wait_and_audit(storage_url: str) -> None:
    store = Store(storage_url)
    assert store.cache_wait("T", "none", timeout_s=1.0, version=V) is None  # nothing claimed
    assert store.cache_claim("T", "h", 1, version=V)
    t0 = time.monotonic()
    assert store.cache_wait("T", "h", timeout_s=0.2, poll_s=0.02, version=V) is None  # timeout
    assert time.monotonic() - t0 >= 0.2
    peer = Store(storage_url)
    timer = threading.Timer(0.2, lambda: peer.cache_record("T", "h", [0.5, 1.5], 1, 2.0, version=V))
    timer.start()
    entry = store.cache_wait("T", "h", timeout_s=30, poll_s=0.02, version=V)
    timer.join()
    assert entry is not None and entry.status == "READY" and entry.mean == (0.5, 1.5)
    assert store.cache_claim("T", "g", 2, version=V)
    timer = threading.Timer(0.2, lambda: peer.cache_release("T", "g", 2, version=V))
    timer.start()
    assert (
        store.cache_wait("T", "g", timeout_s=30, poll_s=0.02, version=V) is None
    )  # claimant failed
    timer.join()
    store.cache_audit("T", "h", 5, [0.5, 1.5], [0.75, 1.0])
    store.cache_audit("U", "h", 6, [1.0], [1.0])
    audits = store.cache_audits("T")
    assert len(audits) == 1 and audits[0].abs_diff == 0.5 and audits[0].fresh == (0.75, 1.0)
    assert [a.task for a in store.cache_audits()] == ["T", "U"]


def test_study_stats(storage_url: str) -> None:
    store = Store(storage_url)
    study = store.create_study("stats", ["minimize"], {})
    sid = study.id
    paid = _trial(store, sid, functional_hash="h1", task="T")
    store.finish_trial(paid.id, state="COMPLETE", values=[1.0])
    _set(store, paid.id, duration_s=4.0)
    other = _trial(store, sid, functional_hash="h2", task="T")
    store.finish_trial(other.id, state="COMPLETE", values=[2.0])
    _set(store, other.id, duration_s=1.5)
    for _ in range(3):
        hit = _trial(store, sid, functional_hash="h1", task="T")
        store.finish_trial(hit.id, state="CACHED", values=[1.0], cached_from_trial_id=paid.id)
    failed = _trial(store, sid, functional_hash="h3", task="T")
    store.finish_trial(failed.id, state="FAILED", error="nan loss")
    _set(store, failed.id, duration_s=0.5)
    pruned = _trial(store, sid)
    store.finish_trial(pruned.id, state="PRUNED")
    _set(store, pruned.id, duration_s=0.25)
    _trial(store, sid, functional_hash="h2", task="T")  # still running
    stats = store.study_stats(sid)
    assert (stats.proposals, stats.complete, stats.failed, stats.pruned) == (8, 2, 1, 1)
    assert (stats.cached, stats.running, stats.unique_functions) == (3, 1, 3)
    assert stats.evaluations_saved == 3
    assert stats.eval_seconds_saved == pytest.approx(12.0)
    assert stats.eval_seconds_paid == pytest.approx(6.25)


def _bulk_study(store: Store, n: int) -> int:
    """Insert `n` finished trials with lineage and 3 intermediate values each, in bulk."""
    study = store.create_study(f"bulk{n}", ["minimize"], {})
    now = utcnow()
    with store._write() as s:
        s.execute(
            insert(Trial),
            [
                dict(
                    study_id=study.id,
                    number=i,
                    state="COMPLETE",
                    candidate="c",
                    dna=[i % 7, i % 3],
                    params={"i": i},
                    value=float(i),
                    values=[float(i)],
                    user_attrs={},
                    started_at=now,
                    finished_at=now,
                )
                for i in range(n)
            ],
        )
        ids = dict(
            s.execute(select(Trial.number, Trial.id).where(Trial.study_id == study.id)).all()
        )
        s.execute(
            insert(Lineage),
            [dict(child_id=ids[i], parent_id=ids[i - 1], mutation="m") for i in range(1, n)],
        )
        s.execute(
            insert(IntermediateValue),
            [dict(trial_id=ids[i], step=k, value=i + k) for i in range(n) for k in range(3)],
        )
    return study.id


def _count_queries(store: Store):
    seen: list[str] = []
    event.listen(store._engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


def test_trials_loads_without_n_plus_one_queries(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    sid = _bulk_study(store, 300)
    seen = _count_queries(store)
    trials = store.trials(sid)
    selects = [q for q in seen if q.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 3  # trials, lineage, intermediate values — whatever the trial count
    assert [t.number for t in trials] == list(range(300))
    assert trials[5].parents == (4,) and trials[5].intermediate == ((0, 5.0), (1, 6.0), (2, 7.0))


@pytest.mark.slow
def test_trials_loads_10k(storage_url: str) -> None:
    store = Store(storage_url)
    sid = _bulk_study(store, 10_000)
    trials = store.trials(sid)
    assert len(trials) == 10_000 and trials[-1].parents == (9998,)
    assert trials[1234].intermediate[-1] == (2, 1236.0)


def test_store_pickles_as_its_url_and_memory_sqlite_works(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    store.create_study("p", ["minimize"], {})
    clone = pickle.loads(pickle.dumps(store))
    assert clone.url == sqlite_url and clone.get_study("p") is not None
    mem = Store("sqlite://")
    study = mem.create_study("m", ["maximize"], {})
    assert _trial(mem, study.id).number == 0 and len(mem.trials(study.id)) == 1
