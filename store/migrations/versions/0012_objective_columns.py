"""The second and third objectives as generated columns `value1`, `value2` (NULL unless a finite
number; virtual on SQLite, stored on PostgreSQL) and an index (study_id, value, value1, value2,
state, id): Pareto fronts of two and three objectives walk the index instead of parsing JSON.
`ix_ht_trials_study_dna` (study_id, the DNA's minified JSON on SQLite, an md5 of its jsonb on
PostgreSQL): `Study.enqueue` finds a trial with some DNA by an index seek.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

COLUMNS = ("value1", "value2")
INDEX = "ix_ht_trials_study_objectives"
DNA_INDEX = "ix_ht_trials_study_dna"


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    for j, name in enumerate(COLUMNS, start=1):
        if pg:
            expr = (f"CASE WHEN json_typeof(\"values\" -> {j}) = 'number' "
                    f"THEN (\"values\" ->> {j})::double precision END")  # fmt: skip
            kind, tail = "DOUBLE PRECISION", "STORED"
        else:
            expr = (f"CASE WHEN json_type(\"values\", '$[{j}]') IN ('real', 'integer') "
                    f"THEN json_extract(\"values\", '$[{j}]') END")  # fmt: skip
            kind, tail = "REAL", "VIRTUAL"
        op.execute(
            f"ALTER TABLE ht_trials ADD COLUMN {name} {kind} GENERATED ALWAYS AS ({expr}) {tail}"
        )
    op.execute(f"CREATE INDEX {INDEX} ON ht_trials (study_id, value, value1, value2, state, id)")
    dna = "md5((dna::jsonb)::text)" if pg else "json(dna)"
    op.execute(f"CREATE INDEX {DNA_INDEX} ON ht_trials (study_id, {dna})")


def downgrade() -> None:
    op.drop_index(DNA_INDEX, table_name="ht_trials")
    op.drop_index(INDEX, table_name="ht_trials")
    for name in reversed(COLUMNS):
        op.execute(f"ALTER TABLE ht_trials DROP COLUMN {name}")
