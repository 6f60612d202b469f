"""Every table gets the prefix `ht_`, so hashtune and Optuna can share one database.

Tables, their indexes and (on PostgreSQL) their primary/foreign keys and id sequences are renamed;
rows are kept. The version table moves from `alembic_version` to `ht_alembic_version` in
`hashtune.store.engine.migrate` (Alembic writes the version table it was configured with).
Stores created after this revision get the prefixed schema directly; on them this is a no-op.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

#: Marks the revision that renames tables (the engine finds it by this, whatever its id).
RENAMES_TABLES = True

TABLES = ("studies", "trials", "intermediate_values", "lineage", "fec_cache", "fec_audits", "workers")
#: index → (table, columns) as revisions 0001-0006 created them.
INDEXES = {
    "ix_trials_study_id": ("trials", ["study_id"]),
    "ix_trials_functional_hash": ("trials", ["functional_hash"]),
    "ix_trials_study_state": ("trials", ["study_id", "state"]),
    "ix_trials_study_finish_seq": ("trials", ["study_id", "finish_seq"]),
    "ix_trials_study_value": ("trials", ["study_id", "value"]),
    "ix_trials_study_finished": ("trials", ["study_id", "finished_at"]),
    "ix_trials_task_hash": ("trials", ["task", "functional_hash"]),
    "ix_lineage_parent_id": ("lineage", ["parent_id"]),
    "ix_fec_audits_task": ("fec_audits", ["task"]),
    "ix_fec_audits_trial_id": ("fec_audits", ["trial_id"]),
    "ix_workers_run_id": ("workers", ["run_id"]),
}
#: PostgreSQL constraint renames (SQLite keeps constraint names inside the table's SQL).
CONSTRAINTS = {
    "trials": {
        "fk_trials_study_id_studies": "fk_ht_trials_study_id_ht_studies",
        "fk_trials_cached_from_trial_id_trials": "fk_ht_trials_cached_from_trial_id_ht_trials",
    },
    "intermediate_values": {
        "fk_intermediate_values_trial_id_trials": "fk_ht_intermediate_values_trial_id_ht_trials"
    },
    "lineage": {
        "fk_lineage_child_id_trials": "fk_ht_lineage_child_id_ht_trials",
        "fk_lineage_parent_id_trials": "fk_ht_lineage_parent_id_ht_trials",
    },
    "workers": {"fk_workers_study_id_studies": "fk_ht_workers_study_id_ht_studies"},
}
SEQUENCES = ("studies", "trials", "intermediate_values", "fec_audits", "workers")


def _new(name: str) -> str:
    """ix_trials_x → ix_ht_trials_x; trials → ht_trials."""
    head, _, rest = name.partition("_")
    return f"{head}_ht_{rest}" if head in ("ix", "pk", "fk", "uq") else f"ht_{name}"


def upgrade() -> None:
    conn = op.get_bind()
    existing = set(sa.inspect(conn).get_table_names())
    if "studies" not in existing or "ht_studies" in existing:
        return  # created with the prefix already
    pg = conn.dialect.name == "postgresql"
    for table in TABLES:
        op.rename_table(table, f"ht_{table}")
        if pg:
            op.execute(f'ALTER TABLE "ht_{table}" RENAME CONSTRAINT "pk_{table}" TO "pk_ht_{table}"')
            for old, new in CONSTRAINTS.get(table, {}).items():
                op.execute(f'ALTER TABLE "ht_{table}" RENAME CONSTRAINT "{old}" TO "{new}"')
    for index, (table, columns) in INDEXES.items():
        if pg:
            op.execute(f'ALTER INDEX "{index}" RENAME TO "{_new(index)}"')
        else:  # SQLite cannot rename an index: build the new one, drop the old
            op.create_index(_new(index), f"ht_{table}", columns)
            op.drop_index(index, table_name=f"ht_{table}")
    if pg:
        for table in SEQUENCES:
            op.execute(f'ALTER SEQUENCE "{table}_id_seq" RENAME TO "ht_{table}_id_seq"')


def downgrade() -> None:
    conn = op.get_bind()
    pg = conn.dialect.name == "postgresql"
    for table in TABLES:
        op.rename_table(f"ht_{table}", table)
        if pg:
            op.execute(f'ALTER TABLE "{table}" RENAME CONSTRAINT "pk_ht_{table}" TO "pk_{table}"')
            for old, new in CONSTRAINTS.get(table, {}).items():
                op.execute(f'ALTER TABLE "{table}" RENAME CONSTRAINT "{new}" TO "{old}"')
    for index, (table, columns) in INDEXES.items():
        if pg:
            op.execute(f'ALTER INDEX "{_new(index)}" RENAME TO "{index}"')
        else:
            op.create_index(index, table, columns)
            op.drop_index(_new(index), table_name=table)
    if pg:
        for table in SEQUENCES:
            op.execute(f'ALTER SEQUENCE "ht_{table}_id_seq" RENAME TO "{table}_id_seq"')
