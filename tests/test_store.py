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
from hashtune.store.models import (
    DDL_OBJECTS,
    SCHEMA_HEAD,
    VERSION_TABLE,
    Base,
    IntermediateValue,
    Lineage,
    Study,
    Trial,
    in_metadata,
)

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()
V = "hashtune-ufh-v2"  # the hash version the store tests key their cache entries under


def _trial(store: Store, study_id: int, **kw):
    args = {"dna": [0, 1], "candidate": '{"_type": "x"}', "params": {"a": 1}}
    args.update(kw)
    return store.trials.create(study_id, **args)


def _set(store: Store, trial_id: int, **values) -> None:
    """Test hook: overwrite trial columns directly (timestamps, durations)."""
    with store.db.write() as s:
        s.execute(update(Trial).where(Trial.id == trial_id).values(**values))


def test_round_trip(storage_url: str) -> None:
    store = Store(storage_url)
    study = store.studies.create("s1", ["minimize", "maximize"], {"space": {"x": [1, 2]}})
    assert study.directions == ("minimize", "maximize") and study.status == "RUNNING"
    with pytest.raises(StudyExistsError, match="s1"):
        store.studies.create("s1", ["minimize"], {})
    t0 = _trial(store, study.id, dna=[3, {"k": 1.5}], worker="w0", functional_hash="h0", task="T")
    t1 = _trial(store, study.id, parents=[0], mutation="swap", params={"x": 2})
    t2 = _trial(store, study.id, parents=[1, 0], mutation="cross")
    assert [t.number for t in (t0, t1, t2)] == [0, 1, 2]
    store.trials.report_intermediate(t0.id, 1, 0.9)
    store.trials.report_intermediate(t0.id, 2, 0.7)
    store.trials.finish(
        t0.id,
        state="COMPLETE",
        values=[0.5, 2.0],
        user_attrs={"acc": 0.8},
        intermediate=[(2, 0.6), (3, 0.5)],
    )
    store.trials.finish(t1.id, state="COMPLETE", values=[0.25, float("nan")])
    store.trials.finish(t2.id, state="FAILED", error="boom")

    again = Store(storage_url)  # a second connection sees everything
    trials = again.trials.list(study.id)
    assert [t.number for t in trials] == [0, 1, 2]
    a, b, c = trials
    assert a.dna == [3, {"k": 1.5}] and a.params == {"a": 1} and a.worker == "w0"
    assert a.values == (0.5, 2.0) and a.value == 0.5 and a.user_attrs == {"acc": 0.8}
    assert a.intermediate == ((1, 0.9), (2, 0.6), (3, 0.5))  # step 2 replaced on finish
    assert a.functional_hash == "h0" and a.task == "T" and a.duration_s >= 0
    assert b.parents == (0,) and b.mutation == "swap" and np.isnan(b.values[1])
    assert c.parents == (0, 1) and c.mutation == "cross" and c.state == "FAILED"
    assert c.error == "boom" and c.values is None
    assert again.trials.get(t2.id) == c and again.trials.by_number(study.id, 2) == c  # no NaN in c
    assert again.trials.by_number(study.id, 1).id == t1.id
    assert [t.number for t in again.trials.list(study.id, states=["COMPLETE"])] == [0, 1]
    edges = [(t.number, p, t.mutation) for t in again.trials.list(study.id) for p in t.parents]
    assert edges == [
        (1, 0, "swap"),
        (2, 0, "cross"),
        (2, 1, "cross"),
    ]
    other = again.studies.create("s2", ["maximize"], {})
    t = _trial(again, other.id)
    again.trials.finish(t.id, state="COMPLETE", values=[3.0])
    t = _trial(again, other.id)
    again.trials.finish(t.id, state="CACHED", values=[4.0], cached_from_trial_id=t0.id)
    summary = {s.name: s for s in again.studies.list()}
    assert summary["s1"].n_trials == {"COMPLETE": 2, "FAILED": 1}
    assert summary["s1"].best_value == 0.25  # minimize
    assert summary["s2"].best_value == 4.0  # maximize, cached trials count
    with again.db.write() as s:  # nothing in hashtune sets a study's status: the column is read
        s.execute(update(Study).where(Study.id == other.id).values(status="COMPLETE"))
    assert again.studies.by_id(other.id).status == "COMPLETE"
    again.studies.delete("s1")
    assert again.studies.get("s1") is None and [s.name for s in again.studies.list()] == ["s2"]
    assert again.trials.by_number(other.id, 1).cached_from_trial_id is None  # payer deleted
    with pytest.raises(StudyNotFoundError, match="s1") as err:
        again.studies.delete("s1")
    assert store.safe_url in str(err.value)
    with pytest.raises(TrialNotFoundError):
        again.trials.get(t0.id)


def test_invalid_arguments_raise_naming_the_field(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    with pytest.raises(ValueError, match="directions"):
        store.studies.create("x", ["upward"], {})
    study = store.studies.create("x", ["minimize"], {})
    with pytest.raises(ValueError, match="parents"):
        _trial(store, study.id, parents=[7])
    with pytest.raises(StudyNotFoundError):
        _trial(store, study.id + 100)
    t = _trial(store, study.id)
    with pytest.raises(ValueError, match="values"):
        store.trials.finish(t.id, state="COMPLETE")
    with pytest.raises(ValueError, match="state"):
        store.trials.finish(t.id, state="DONE", values=[1.0])
    store.trials.finish(t.id, state="COMPLETE", values=[1.0])
    with pytest.raises(StoreError, match="already COMPLETE"):
        store.trials.finish(t.id, state="FAILED")


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
    assert current_revision(store.db.engine) == HEAD
    with store.db.engine.connect() as conn:
        opts = {"version_table": VERSION_TABLE, "include_object": in_metadata}
        diff = compare_metadata(MigrationContext.configure(conn, opts=opts), Base.metadata)
    assert diff == []  # the migrations build exactly the ORM schema
    built = {c["name"] for c in inspect(store.db.engine).get_columns("ht_trials")}
    indexes = (  # reflection skips expression indexes
        "SELECT indexname FROM pg_indexes WHERE tablename = 'ht_trials'"
        if store.db.dialect == "postgresql"
        else "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'ht_trials'"
    )
    with store.db.engine.connect() as conn:
        built |= set(conn.exec_driver_sql(indexes).scalars())
    assert DDL_OBJECTS <= built  # ... and the DDL-built generated columns and indexes
    Store(storage_url)  # reopening at head is a no-op


def test_schema_head_constant_is_alembics_head() -> None:
    # Opening a store at head compares with SCHEMA_HEAD without loading Alembic: a new
    # migration must move it, or stores would be migrated on every open (or never).
    assert SCHEMA_HEAD == HEAD


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
    assert current_revision(store.db.engine) == HEAD
    names = {i["name"] for i in inspect(store.db.engine).get_indexes("ht_trials")}
    assert "ix_ht_trials_study_state" in names
    assert [t.number for t in store.trials.list(sid)] == [0]
    assert _trial(store, sid).number == 1


def test_concurrent_trial_numbers_from_threads(storage_url: str) -> None:
    study = Store(storage_url).studies.create("c", ["minimize"], {})
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
        study = store.studies.create("p", ["minimize"], {})
    except StudyExistsError:
        study = store.studies.get("p")
    for _ in range(10):
        store.trials.create(study.id, dna=None, candidate="c", params={})
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
    study = store.studies.get("p")
    assert [t.number for t in store.trials.list(study.id)] == list(range(20))


def test_finish_is_all_or_nothing(storage_url: str, monkeypatch) -> None:
    store = Store(storage_url)
    study = store.studies.create("tx", ["minimize"], {})
    t = _trial(store, study.id)
    store.trials.report_intermediate(t.id, 0, 1.0)

    def crash(self, conn, trial_id, steps):
        table = IntermediateValue.__table__
        conn.execute(table.insert().values(trial_id=trial_id, step=99, value=0.0))
        raise RuntimeError("disk on fire")  # the trial update and a step are already sent

    monkeypatch.setattr(type(store.trials), "_write_intermediate", crash)
    with pytest.raises(RuntimeError, match="disk on fire"):
        store.trials.finish(
            t.id, state="COMPLETE", values=[0.1], user_attrs={"a": 1}, intermediate=[(1, 0.5)]
        )
    monkeypatch.undo()
    after = Store(storage_url).trials.get(t.id)
    assert after.state == "RUNNING" and after.values is None and after.value is None
    assert after.user_attrs == {} and after.finished_at is None
    assert after.intermediate == ((0, 1.0),)
    done = store.trials.finish(t.id, state="COMPLETE", values=[0.1], intermediate=[(1, 0.5)])
    assert done.state == "COMPLETE" and done.intermediate == ((0, 1.0), (1, 0.5))


def test_reclaim_stale_trials(storage_url: str) -> None:
    store = Store(storage_url)
    study = store.studies.create("stale", ["minimize"], {})
    fresh, old, pending, done = (_trial(store, study.id) for _ in range(4))
    _set(store, pending.id, state="PENDING")
    store.trials.finish(done.id, state="COMPLETE", values=[1.0])
    long_ago = utcnow() - timedelta(hours=2)
    _set(store, old.id, heartbeat_at=long_ago, started_at=long_ago)
    _set(store, pending.id, heartbeat_at=long_ago)
    store.workers.heartbeat([fresh.id])

    def sweep(silent_for_s: float, error: str = "worker died before finishing") -> list[int]:
        ids = [t.id for t in (fresh, old, pending, done)]
        return [i for i in ids if store.workers.reclaim(i, silent_for_s, error, state="FAILED")]

    assert sweep(3600) == [old.id, pending.id]
    assert store.trials.get(fresh.id).state == "RUNNING"
    swept = store.trials.get(old.id)
    assert swept.state == "FAILED" and swept.error == "worker died before finishing"
    assert sweep(-1, error="shutdown") == [fresh.id]
    assert store.trials.get(fresh.id).error == "shutdown"
    assert store.trials.get(done.id).state == "COMPLETE"
    assert sweep(-1) == []
    late = store.trials.finish(old.id, state="COMPLETE", values=[2.0])  # the worker was alive
    assert late.state == "COMPLETE" and late.error is None


def test_cache_claim_is_exclusive_and_release_reopens(storage_url: str) -> None:
    stores = [Store(storage_url), Store(storage_url)]
    study = stores[0].studies.create("cache", ["minimize"], {})
    ids = [_trial(stores[0], study.id).id for _ in range(3)]
    results: dict[int, bool] = {}
    barrier = threading.Barrier(2)

    def claim(k: int) -> None:
        barrier.wait()
        results[k] = stores[k].cache.claim("task", "h1", ids[k], version=V)

    threads = [threading.Thread(target=claim, args=(k,)) for k in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(results.values()) == [False, True]
    winner = ids[0] if results[0] else ids[1]
    loser = ids[1] if results[0] else ids[0]
    store = stores[0]
    assert store.cache.lookup("task", "h1", version=V).claimed_by_trial_id == winner
    assert store.cache.claim("task", "h1", winner, version=V)  # re-claiming one's own claim is fine
    assert not store.cache.claim("task", "h1", ids[2], version=V)
    store.cache.release("task", "h1", loser, version=V)  # not the owner: no effect
    assert store.cache.lookup("task", "h1", version=V).status == "PENDING"
    store.cache.release("task", "h1", winner, version=V)
    assert store.cache.lookup("task", "h1", version=V) is None
    assert store.cache.claim("task", "h1", ids[2], version=V)
    assert store.cache.claim(
        "task", "h1", loser, stale_after_s=0.0, version=V
    )  # stale claim taken over
    store.cache.record("task", "h1", [1.0], loser, 0.5, version=V)
    assert not store.cache.claim("task", "h1", ids[2], stale_after_s=0.0, version=V)  # READY
    store.cache.release("task", "h1", loser, version=V)  # READY rows are kept
    assert store.cache.lookup("task", "h1", version=V).status == "READY"
    assert store.cache.lookup("other-task", "h1", version=V) is None  # never shared across tasks


def test_cache_record_welford_matches_numpy(storage_url: str) -> None:
    store = Store(storage_url)
    rng = np.random.default_rng(7)
    xs = rng.normal(loc=[3.0, -1.0], scale=[0.5, 2.0], size=(9, 2))
    secs = rng.uniform(1.0, 3.0, size=9)
    assert store.cache.claim("T", "f", 11, version=V)
    entry = None
    for i, (x, sec) in enumerate(zip(xs, secs, strict=True)):
        entry = store.cache.record("T", "f", list(x), 11 + i, float(sec), version=V)
        if i == 0:
            assert entry.variance == (0.0, 0.0) and entry.count == 1
    assert entry.status == "READY" and entry.count == 9 and entry.first_trial_id == 11
    assert entry.claimed_by_trial_id is None
    np.testing.assert_allclose(entry.mean, xs.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(entry.variance, xs.var(axis=0, ddof=1), rtol=1e-10)
    np.testing.assert_allclose(entry.eval_seconds, secs.mean(), rtol=1e-12)
    assert store.cache.lookup("T", "f", version=V) == entry
    with pytest.raises(ValueError, match="objectives"):
        store.cache.record("T", "f", [1.0], 99, 1.0, version=V)


def test_cache_wait_and_audit(storage_url: str) -> None:
    store = Store(storage_url)
    assert store.cache.wait("T", "none", timeout_s=1.0, version=V) is None  # nothing claimed
    assert store.cache.claim("T", "h", 1, version=V)
    t0 = time.monotonic()
    assert store.cache.wait("T", "h", timeout_s=0.2, poll_s=0.02, version=V) is None  # timeout
    assert time.monotonic() - t0 >= 0.2
    peer = Store(storage_url)
    timer = threading.Timer(0.2, lambda: peer.cache.record("T", "h", [0.5, 1.5], 1, 2.0, version=V))
    timer.start()
    entry = store.cache.wait("T", "h", timeout_s=30, poll_s=0.02, version=V)
    timer.join()
    assert entry is not None and entry.status == "READY" and entry.mean == (0.5, 1.5)
    assert store.cache.claim("T", "g", 2, version=V)
    timer = threading.Timer(0.2, lambda: peer.cache.release("T", "g", 2, version=V))
    timer.start()
    assert (
        store.cache.wait("T", "g", timeout_s=30, poll_s=0.02, version=V) is None
    )  # claimant failed
    timer.join()
    store.cache.audit("T", "h", 5, [0.5, 1.5], [0.75, 1.0])
    store.cache.audit("U", "h", 6, [1.0], [1.0])
    audits = store.cache.audits("T")
    assert len(audits) == 1 and audits[0].abs_diff == 0.5 and audits[0].fresh == (0.75, 1.0)
    assert [a.task for a in store.cache.audits()] == ["T", "U"]


def test_study_stats(storage_url: str) -> None:
    store = Store(storage_url)
    study = store.studies.create("stats", ["minimize"], {})
    sid = study.id
    paid = _trial(store, sid, functional_hash="h1", task="T")
    store.trials.finish(paid.id, state="COMPLETE", values=[1.0])
    _set(store, paid.id, duration_s=4.0)
    other = _trial(store, sid, functional_hash="h2", task="T")
    store.trials.finish(other.id, state="COMPLETE", values=[2.0])
    _set(store, other.id, duration_s=1.5)
    for _ in range(3):
        hit = _trial(store, sid, functional_hash="h1", task="T")
        store.trials.finish(hit.id, state="CACHED", values=[1.0], cached_from_trial_id=paid.id)
    failed = _trial(store, sid, functional_hash="h3", task="T")
    store.trials.finish(failed.id, state="FAILED", error="nan loss")
    _set(store, failed.id, duration_s=0.5)
    pruned = _trial(store, sid)
    store.trials.finish(pruned.id, state="PRUNED")
    _set(store, pruned.id, duration_s=0.25)
    _trial(store, sid, functional_hash="h2", task="T")  # still running
    stats = store.studies.stats(sid)
    assert (stats.proposals, stats.complete, stats.failed, stats.pruned) == (8, 2, 1, 1)
    assert (stats.cached, stats.running, stats.unique_functions) == (3, 1, 3)
    assert stats.evaluations_saved == 3
    assert stats.eval_seconds_saved == pytest.approx(12.0)
    assert stats.eval_seconds_paid == pytest.approx(6.25)


def _bulk_study(store: Store, n: int) -> int:
    """Insert `n` finished trials with lineage and 3 intermediate values each, in bulk."""
    study = store.studies.create(f"bulk{n}", ["minimize"], {})
    now = utcnow()
    with store.db.write() as s:
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
    event.listen(store.db.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


def test_trials_loads_without_n_plus_one_queries(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    sid = _bulk_study(store, 300)
    seen = _count_queries(store)
    trials = store.trials.list(sid)
    selects = [q for q in seen if q.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 3  # trials, lineage, intermediate values — whatever the trial count
    assert [t.number for t in trials] == list(range(300))
    assert trials[5].parents == (4,) and trials[5].intermediate == ((0, 5.0), (1, 6.0), (2, 7.0))


@pytest.mark.slow
def test_trials_loads_10k(storage_url: str) -> None:
    store = Store(storage_url)
    sid = _bulk_study(store, 10_000)
    trials = store.trials.list(sid)
    assert len(trials) == 10_000 and trials[-1].parents == (9998,)
    assert trials[1234].intermediate[-1] == (2, 1236.0)


def test_store_pickles_as_its_url_and_memory_sqlite_works(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    store.studies.create("p", ["minimize"], {})
    clone = pickle.loads(pickle.dumps(store))
    assert clone.url == sqlite_url and clone.studies.get("p") is not None
    mem = Store("sqlite://")
    study = mem.studies.create("m", ["maximize"], {})
    assert _trial(mem, study.id).number == 0 and len(mem.trials.list(study.id)) == 1
