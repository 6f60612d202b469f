"""hashtune's own namespace: `ht_` tables, the move from unprefixed stores, Optuna alongside."""

from __future__ import annotations

from collections.abc import Iterator

import optuna
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from legacy_schema import legacy  # tests/ is on sys.path
from sqlalchemy import insert, inspect

from hashtune.store import Store
from hashtune.store.base import utcnow
from hashtune.store.engine import current_revision, make_engine, migrate
from hashtune.store.models import (
    VERSION_TABLE,
    Base,
    FecAudit,
    FecCache,
    IntermediateValue,
    Lineage,
    Study,
    Trial,
    Worker,
    in_metadata,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)
V = "hashtune-ufh-v3"


def _old_store_with_data(url: str) -> int:
    """A store as hashtune wrote it at revision 0006 (unprefixed tables), one row in each."""
    engine = make_engine(url)
    migrate(engine, "0006")
    assert {"studies", "trials", "alembic_version"} <= set(inspect(engine).get_table_names())
    now = utcnow()
    with engine.begin() as conn:
        sid = conn.execute(
            insert(legacy(Study)).values(
                name="old", directions=["maximize"], config={"k": 1}, created_at=now,
                status="RUNNING", finish_seq=2,
            )
        ).inserted_primary_key[0]  # fmt: skip
        ids = []
        for n in range(2):
            ids.append(
                conn.execute(
                    insert(legacy(Trial)).values(
                        study_id=sid, number=n, state="COMPLETE", candidate=f"c{n}", dna=[n],
                        params={"x": n}, value=0.5 + n, values=[0.5 + n], user_attrs={},
                        worker="w", started_at=now, finished_at=now, duration_s=1.5,
                        functional_hash="h", task="T", finish_seq=n + 1,
                    )
                ).inserted_primary_key[0]
            )  # fmt: skip
        conn.execute(insert(legacy(IntermediateValue)).values(trial_id=ids[0], step=3, value=0.25))
        conn.execute(
            insert(legacy(Lineage)).values(child_id=ids[1], parent_id=ids[0], mutation="m")
        )
        conn.execute(
            insert(legacy(FecCache)).values(
                task="T", functional_hash="h", hash_version=V, status="READY", count=1,
                mean=[0.5], m2=[0.0], first_trial_id=ids[0], eval_seconds=1.5, updated_at=now,
            )
        )  # fmt: skip
        conn.execute(
            insert(legacy(FecAudit)).values(
                task="T", functional_hash="h", trial_id=ids[1], cached=[0.5], fresh=[0.6],
                abs_diff=0.1, created_at=now,
            )
        )  # fmt: skip
        conn.execute(
            insert(legacy(Worker)).values(
                study_id=sid, slot=0, run_id="r", heartbeat_s=5.0, heartbeat_at=now,
                started_at=now,
            )
        )  # fmt: skip
    engine.dispose()
    return sid


def test_a_store_at_0006_upgrades_to_prefixed_tables_with_its_data(storage_url: str) -> None:
    sid = _old_store_with_data(storage_url)
    store = Store(storage_url)
    names = set(inspect(store.db.engine).get_table_names())
    assert "alembic_version" not in names and VERSION_TABLE in names
    assert not names & {"studies", "trials", "lineage", "fec_cache", "workers"}
    assert current_revision(store.db.engine) == current_revision(Store(storage_url).db.engine)
    with store.db.engine.connect() as conn:  # the upgraded schema is exactly the ORM's
        opts = {"version_table": VERSION_TABLE, "include_object": in_metadata}
        assert compare_metadata(MigrationContext.configure(conn, opts=opts), Base.metadata) == []
    study = store.studies.require("old")
    assert study.id == sid and study.config == {"k": 1}
    trials = store.trials.list(sid)
    assert [(t.number, t.values, t.params) for t in trials] == [
        (0, (0.5,), {"x": 0}),
        (1, (1.5,), {"x": 1}),
    ]
    assert trials[0].intermediate == ((3, 0.25),) and trials[1].parents == (0,)
    assert store.cache.lookup("T", "h", version=V).mean == (0.5,)
    assert [a.fresh for a in store.cache.audits("T")] == [(0.6,)]
    assert [w.slot for w in store.workers.list(sid)] == [0]
    new = store.trials.create(sid, dna=[2], candidate="c2", params={"x": 2})  # ids go on
    assert new.number == 2 and new.id > max(t.id for t in trials)


def _optuna_and_hashtune_side_by_side(url: str, optuna_first: bool) -> None:
    def optuna_part() -> None:
        study = optuna.create_study(study_name="o", storage=url, direction="minimize")
        study.optimize(lambda t: (t.suggest_float("x", -1, 1) - 0.5) ** 2, n_trials=3)

    if optuna_first:
        optuna_part()
    store = Store(url)
    sid = store.studies.create("h", ["maximize"], {}).id
    store.trials.finish(
        store.trials.create(sid, dna=[1], candidate="c", params={"a": 1}).id,
        state="COMPLETE", values=[2.0],
    )  # fmt: skip
    store.close()
    if not optuna_first:
        with pytest.raises(KeyError):  # an ordinary "no such study", not a schema clash
            optuna.load_study(study_name="o", storage=url)
        optuna_part()
    loaded = optuna.load_study(study_name="o", storage=url)
    assert len(loaded.trials) == 3 and loaded.best_value >= 0
    again = Store(url)
    assert [t.values for t in again.trials.list(again.studies.require("h").id)] == [(2.0,)]
    assert [s.name for s in again.studies.list()] == ["h"]


def test_optuna_opens_a_hashtune_sqlite_store_and_both_read_back(sqlite_url: str) -> None:
    _optuna_and_hashtune_side_by_side(sqlite_url, optuna_first=False)


@pytest.fixture
def optdata_both() -> Iterator[str]:
    """The PostgreSQL database `optdata_both`, created empty and dropped afterwards."""
    import psycopg

    dsn = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute('DROP DATABASE IF EXISTS "optdata_both" WITH (FORCE)')
            conn.execute('CREATE DATABASE "optdata_both"')
    except psycopg.OperationalError as e:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is not reachable: {e}")
    yield "postgresql+psycopg://postgres@127.0.0.1:5432/optdata_both"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "optdata_both" WITH (FORCE)')


@pytest.mark.postgres
def test_one_postgres_database_holds_an_optuna_and_a_hashtune_study(optdata_both: str) -> None:
    _optuna_and_hashtune_side_by_side(optdata_both, optuna_first=True)
    names = set(inspect(make_engine(optdata_both)).get_table_names())
    assert {"studies", "trials", "alembic_version", "ht_studies", "ht_trials"} <= names
