"""Indexes for `study_stats` at scale: distinct functions (study_id, functional_hash) and per-state
counts and paid seconds (study_id, state, duration_s), both read from the index alone.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_ht_trials_study_hash", "ht_trials", ["study_id", "functional_hash"])
    op.create_index("ix_ht_trials_study_state_duration", "ht_trials", ["study_id", "state", "duration_s"])


def downgrade() -> None:
    op.drop_index("ix_ht_trials_study_state_duration", table_name="ht_trials")
    op.drop_index("ix_ht_trials_study_hash", table_name="ht_trials")
