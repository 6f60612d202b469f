"""Artifacts: files a trial saved (checkpoints, plots, logs), kept by an artifact store.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "ht_artifacts" in sa.inspect(op.get_bind()).get_table_names():
        return  # created with the schema of a new store
    op.create_table(
        "ht_artifacts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["trial_id"],
            ["ht_trials.id"],
            name="fk_ht_artifacts_trial_id_ht_trials",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_ht_artifacts"),
        sa.UniqueConstraint("trial_id", "name", name="uq_ht_artifacts_trial_name"),
    )
    op.create_index("ix_ht_artifacts_trial_id", "ht_artifacts", ["trial_id"])


def downgrade() -> None:
    op.drop_index("ix_ht_artifacts_trial_id", table_name="ht_artifacts")
    op.drop_table("ht_artifacts")
