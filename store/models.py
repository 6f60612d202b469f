"""SQLAlchemy 2 typed ORM models: studies, trials, lineage, intermediate values, FEC cache.

Every table carries the prefix `ht_` (revision 0007), so one database can hold hashtune and
Optuna (whose tables are `studies`, `trials`, `alembic_version`, ...) side by side. Unique
constraints keep their pre-prefix names (renaming them on SQLite would mean copying tables).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    DDL,
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    column,
    event,
    table,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from hashtune.vocabulary import COUNTED_STATES as VOCAB_COUNTED
from hashtune.vocabulary import FINISHED_STATES as VOCAB_FINISHED
from hashtune.vocabulary import SCORED_STATES as VOCAB_SCORED
from hashtune.vocabulary import Direction, TrialState

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Prefix of every hashtune table, Alembic's version table included.
TABLE_PREFIX = "ht_"
#: Alembic's version table of a hashtune store (stores before 0007 used `alembic_version`).
VERSION_TABLE = TABLE_PREFIX + "alembic_version"
#: The newest migration (store/migrations/versions); tests/test_store.py checks it is Alembic's head.
SCHEMA_HEAD = "0013"

STUDY_STATUSES = ("RUNNING", "COMPLETE", "STOPPED")
_S = TrialState
#: Every trial state (in the order messages list them); the words are hashtune/vocabulary.py's.
TRIAL_STATES: tuple[str, ...] = tuple(
    s.value for s in (_S.PENDING, _S.RUNNING, _S.COMPLETE, _S.FAILED, _S.PRUNED, _S.CACHED,
                      _S.INTERRUPTED)
)  # fmt: skip
#: States of a finished trial (vocabulary.FINISHED_STATES).
FINISHED_STATES: tuple[str, ...] = tuple(s for s in TRIAL_STATES if s in VOCAB_FINISHED)
#: States whose trials carry scores, paid or served from the cache (vocabulary.SCORED_STATES).
SCORED_STATES: tuple[str, ...] = tuple(s for s in TRIAL_STATES if s in VOCAB_SCORED)
#: Finished states that count towards a study's budget: all but INTERRUPTED.
COUNTED_STATES: tuple[str, ...] = tuple(s for s in TRIAL_STATES if s in VOCAB_COUNTED)
#: Finished states of trials that paid for (some of) an evaluation: an interrupted one paid the
#: time it ran.
PAID_STATES: tuple[str, ...] = tuple(
    s.value for s in (_S.COMPLETE, _S.FAILED, _S.PRUNED, _S.INTERRUPTED)
)
#: States of a trial some worker still holds.
LIVE_STATES: tuple[str, ...] = (_S.RUNNING.value, _S.PENDING.value)
DIRECTIONS: tuple[str, ...] = tuple(d.value for d in Direction)


class Base(DeclarativeBase):
    """Declarative base with deterministic constraint names (so migrations can refer to them)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, Any: JSON}


class Study(Base):
    """One search: its objectives' directions and the space/searcher/evaluator config."""

    __tablename__ = "ht_studies"
    __table_args__ = (UniqueConstraint("name", name="uq_studies_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255))
    directions: Mapped[list[Any]] = mapped_column(JSON)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime())
    status: Mapped[str] = mapped_column(String(16), default="RUNNING")
    #: Finish numbers handed out so far (revision 0005); its row lock orders finishes per study.
    finish_seq: Mapped[int] = mapped_column(Integer, server_default=text("0"))


class Trial(Base):
    """One proposal of a study and its outcome."""

    __tablename__ = "ht_trials"
    __table_args__ = (UniqueConstraint("study_id", "number", name="uq_trials_study_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(
        ForeignKey("ht_studies.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    candidate: Mapped[str] = mapped_column(Text)
    dna: Mapped[Any | None] = mapped_column(JSON, nullable=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    values: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    user_attrs: Mapped[dict[str, Any]] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    worker: Mapped[str | None] = mapped_column(Text, nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    functional_hash: Mapped[str | None] = mapped_column(Text, nullable=True, index=True)
    task: Mapped[str | None] = mapped_column(Text, nullable=True)
    cached_from_trial_id: Mapped[int | None] = mapped_column(
        ForeignKey("ht_trials.id", ondelete="SET NULL"), nullable=True
    )
    #: Position in the study's finish order (revision 0005): peers read what finished since.
    finish_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)


# Added by revision 0002: the sweeps (stale trials, per-state counts) filter on (study_id, state).
Index("ix_ht_trials_study_state", Trial.study_id, Trial.state)
# Added by revision 0006: the dashboard sorts by value and groups hash classes.
Index("ix_ht_trials_study_value", Trial.study_id, Trial.value)
Index("ix_ht_trials_task_hash", Trial.task, Trial.functional_hash)
# Added by revision 0009: covering indexes, so the dashboard's history (best so far by number
# and by finish time, min/max buckets), study lists, stats, hashing buckets and per-worker counts
# never read the wide rows (candidate and params JSON).
Index(
    "ix_ht_trials_study_series",
    Trial.study_id, Trial.number, Trial.state, Trial.value, Trial.finished_at,
)  # fmt: skip
Index(
    "ix_ht_trials_study_finished_cover",
    Trial.study_id, Trial.finished_at, Trial.number, Trial.state, Trial.value,
)  # fmt: skip
Index(
    "ix_ht_trials_study_stats",
    Trial.study_id, Trial.state, Trial.number, Trial.worker, Trial.functional_hash, Trial.task,
    Trial.cached_from_trial_id, Trial.duration_s, Trial.id,
)  # fmt: skip
# Added by revision 0005: "finished since my last look" is a range scan on (study_id, finish_seq).
Index("ix_ht_trials_study_finish_seq", Trial.study_id, Trial.finish_seq)
# Added by revision 0010: `study_stats` counts a study's distinct functions from the index;
# revision 0013 adds `task`, so the largest hash classes group from the index alone.
Index("ix_ht_trials_study_hash", Trial.study_id, Trial.functional_hash, Trial.task)
Index("ix_ht_trials_study_state_duration", Trial.study_id, Trial.state, Trial.duration_s)

#: Revision 0012: the second and third objectives as generated columns (NULL unless a finite
#: number; virtual on SQLite, stored on PostgreSQL), outside the ORM model (nothing writes them).
OBJECTIVE_COLUMNS: tuple[str, ...] = ("value1", "value2")
#: ... and an index over every objective, so Pareto fronts walk it without parsing JSON.
OBJECTIVES_INDEX = "ix_ht_trials_study_objectives"
#: ... and one on the DNA (its minified JSON on SQLite, an md5 of its jsonb on PostgreSQL), so
#: `Study.enqueue` asks whether a study has a trial with some DNA by an index seek.
DNA_INDEX = "ix_ht_trials_study_dna"
#: The columns the Pareto queries read (a Core table: `Trial` does not map the generated ones).
TRIAL_OBJECTIVES = table(
    "ht_trials", column("id", Integer), column("study_id", Integer), column("number", Integer),
    column("state", String), column("value", Float),
    *(column(name, Float) for name in OBJECTIVE_COLUMNS),
)  # fmt: skip


#: Schema objects built by that DDL, not by the ORM metadata (Alembic's comparisons skip them).
DDL_OBJECTS: frozenset[str] = frozenset((*OBJECTIVE_COLUMNS, OBJECTIVES_INDEX, DNA_INDEX))


def in_metadata(obj: Any, name: str | None, kind: str, reflected: bool, other: Any) -> bool:
    """Alembic `include_object`: False for the DDL-built columns and indexes (`DDL_OBJECTS`)."""
    return not (kind in ("column", "index") and name in DDL_OBJECTS)


def objective_ddl(dialect: str) -> list[str]:
    """DDL adding the generated objective columns, their index and the DNA index on `dialect`."""
    out = []
    for j, name in enumerate(OBJECTIVE_COLUMNS, start=1):
        if dialect == "postgresql":
            expr = (f"CASE WHEN json_typeof(\"values\" -> {j}) = 'number' "
                    f"THEN (\"values\" ->> {j})::double precision END")  # fmt: skip
            kind, tail = "DOUBLE PRECISION", "STORED"
        else:
            expr = (f"CASE WHEN json_type(\"values\", '$[{j}]') IN ('real', 'integer') "
                    f"THEN json_extract(\"values\", '$[{j}]') END")  # fmt: skip
            kind, tail = "REAL", "VIRTUAL"
        out.append(
            f"ALTER TABLE ht_trials ADD COLUMN {name} {kind} GENERATED ALWAYS AS ({expr}) {tail}"
        )
    cols = ", ".join(("study_id", "value", *OBJECTIVE_COLUMNS, "state", "id"))
    out.append(f"CREATE INDEX {OBJECTIVES_INDEX} ON ht_trials ({cols})")
    dna = "md5((dna::jsonb)::text)" if dialect == "postgresql" else "json(dna)"
    out.append(f"CREATE INDEX {DNA_INDEX} ON ht_trials (study_id, {dna})")
    return out


for _dialect in ("sqlite", "postgresql"):
    for _statement in objective_ddl(_dialect):
        event.listen(Trial.__table__, "after_create", DDL(_statement).execute_if(dialect=_dialect))


class IntermediateValue(Base):
    """A value reported at a training step of a trial (for pruning and curves)."""

    __tablename__ = "ht_intermediate_values"
    __table_args__ = (UniqueConstraint("trial_id", "step", name="uq_intermediate_trial_step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("ht_trials.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(Integer)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)


class Lineage(Base):
    """Edge child trial → parent trial, with the mutation that produced the child."""

    __tablename__ = "ht_lineage"

    child_id: Mapped[int] = mapped_column(
        ForeignKey("ht_trials.id", ondelete="CASCADE"), primary_key=True
    )
    parent_id: Mapped[int] = mapped_column(
        ForeignKey("ht_trials.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    mutation: Mapped[str | None] = mapped_column(Text, nullable=True)


class FecCache(Base):
    """Functional-equivalence cache: running statistics of one function's scores on one task,
    under one version of the hash algorithm (entries of other versions are never matched)."""

    __tablename__ = "ht_fec_cache"

    task: Mapped[str] = mapped_column(String(255), primary_key=True)
    functional_hash: Mapped[str] = mapped_column(String(255), primary_key=True)
    # Added by revision 0003 (rows from before it: "hashtune-ufh-v2").
    hash_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    claimed_by_trial_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    mean: Mapped[list[Any]] = mapped_column(JSON)
    m2: Mapped[list[Any]] = mapped_column(JSON)
    first_trial_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    eval_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime())


class FecAudit(Base):
    """A cache hit that was re-evaluated: cached vs fresh scores (collision/noise audit)."""

    __tablename__ = "ht_fec_audits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task: Mapped[str] = mapped_column(String(255), index=True)
    functional_hash: Mapped[str] = mapped_column(String(255))
    trial_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    cached: Mapped[list[Any]] = mapped_column(JSON)
    fresh: Mapped[list[Any]] = mapped_column(JSON)
    abs_diff: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime())


class Worker(Base):
    """A worker's slot in a study (revision 0004): its stable number, run id and heartbeat.

    The slot seeds the worker's random stream; a slot whose holder stopped or went silent is
    taken over by the next worker that joins, so a restarted worker reuses it.
    """

    __tablename__ = "ht_workers"
    __table_args__ = (UniqueConstraint("study_id", "slot", name="uq_workers_study_slot"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("ht_studies.id", ondelete="CASCADE"))
    slot: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[str] = mapped_column(String(255), index=True)
    heartbeat_s: Mapped[float] = mapped_column(Float)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime())
    started_at: Mapped[datetime] = mapped_column(DateTime())
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)


class Artifact(Base):
    """A file a trial saved (revision 0008): where the artifact store keeps it, size, digest."""

    __tablename__ = "ht_artifacts"
    __table_args__ = (UniqueConstraint("trial_id", "name", name="uq_ht_artifacts_trial_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trial_id: Mapped[int] = mapped_column(
        ForeignKey("ht_trials.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    uri: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime())
