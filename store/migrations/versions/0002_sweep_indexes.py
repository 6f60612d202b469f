"""Indexes for the stale-trial sweep / per-state counts and for audits by task.

Revision ID: 0002
Revises: 0001
Create Date: 2024-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_trials_study_state", "trials", ["study_id", "state"])
    op.create_index("ix_fec_audits_task", "fec_audits", ["task"])


def downgrade() -> None:
    op.drop_index("ix_fec_audits_task", table_name="fec_audits")
    op.drop_index("ix_trials_study_state", table_name="trials")
