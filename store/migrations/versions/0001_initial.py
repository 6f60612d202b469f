"""Initial schema: studies, trials, intermediate values, lineage, FEC cache and audits.

Revision ID: 0001
Revises:
Create Date: 2024-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "studies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("directions", sa.JSON(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_studies"),
        sa.UniqueConstraint("name", name="uq_studies_name"),
    )
    op.create_table(
        "trials",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("candidate", sa.Text(), nullable=False),
        sa.Column("dna", sa.JSON(), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("values", sa.JSON(), nullable=True),
        sa.Column("user_attrs", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("worker", sa.Text(), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("functional_hash", sa.Text(), nullable=True),
        sa.Column("task", sa.Text(), nullable=True),
        sa.Column("cached_from_trial_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["study_id"], ["studies.id"], name="fk_trials_study_id_studies", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["cached_from_trial_id"],
            ["trials.id"],
            name="fk_trials_cached_from_trial_id_trials",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_trials"),
        sa.UniqueConstraint("study_id", "number", name="uq_trials_study_number"),
    )
    op.create_index("ix_trials_study_id", "trials", ["study_id"])
    op.create_index("ix_trials_functional_hash", "trials", ["functional_hash"])
    op.create_table(
        "intermediate_values",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["trial_id"],
            ["trials.id"],
            name="fk_intermediate_values_trial_id_trials",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_intermediate_values"),
        sa.UniqueConstraint("trial_id", "step", name="uq_intermediate_trial_step"),
    )
    op.create_table(
        "lineage",
        sa.Column("child_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=False),
        sa.Column("mutation", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["child_id"], ["trials.id"], name="fk_lineage_child_id_trials", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["trials.id"], name="fk_lineage_parent_id_trials", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("child_id", "parent_id", name="pk_lineage"),
    )
    op.create_index("ix_lineage_parent_id", "lineage", ["parent_id"])
    op.create_table(
        "fec_cache",
        sa.Column("task", sa.String(length=255), nullable=False),
        sa.Column("functional_hash", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("claimed_by_trial_id", sa.Integer(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("mean", sa.JSON(), nullable=False),
        sa.Column("m2", sa.JSON(), nullable=False),
        sa.Column("first_trial_id", sa.Integer(), nullable=True),
        sa.Column("eval_seconds", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("task", "functional_hash", name="pk_fec_cache"),
    )
    op.create_table(
        "fec_audits",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task", sa.String(length=255), nullable=False),
        sa.Column("functional_hash", sa.String(length=255), nullable=False),
        sa.Column("trial_id", sa.Integer(), nullable=True),
        sa.Column("cached", sa.JSON(), nullable=False),
        sa.Column("fresh", sa.JSON(), nullable=False),
        sa.Column("abs_diff", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_fec_audits"),
    )


def downgrade() -> None:
    op.drop_table("fec_audits")
    op.drop_table("fec_cache")
    op.drop_index("ix_lineage_parent_id", table_name="lineage")
    op.drop_table("lineage")
    op.drop_table("intermediate_values")
    op.drop_index("ix_trials_functional_hash", table_name="trials")
    op.drop_index("ix_trials_study_id", table_name="trials")
    op.drop_table("trials")
    op.drop_table("studies")
