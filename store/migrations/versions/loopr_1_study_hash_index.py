"""Indexes for `study_stats` at scale: distinct functions (study_id, functional_hash) and per-state
counts and paid seconds (study_id, state, duration_s), both read from the index alone.

Revision ID: loopr_1
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "loopr_1"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_trials_study_hash", "trials", ["study_id", "functional_hash"])
    op.create_index("ix_trials_study_state_duration", "trials", ["study_id", "state", "duration_s"])


def downgrade() -> None:
    op.drop_index("ix_trials_study_state_duration", table_name="trials")
    op.drop_index("ix_trials_study_hash", table_name="trials")
