"""Indexes for the dashboard: trials sorted by value / finished time, hash classes, audits by trial.

Revision ID: 0006
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_trials_study_value", "trials", ["study_id", "value"])
    op.create_index("ix_trials_study_finished", "trials", ["study_id", "finished_at"])
    op.create_index("ix_trials_task_hash", "trials", ["task", "functional_hash"])
    op.create_index("ix_fec_audits_trial_id", "fec_audits", ["trial_id"])


def downgrade() -> None:
    op.drop_index("ix_fec_audits_trial_id", table_name="fec_audits")
    op.drop_index("ix_trials_task_hash", table_name="trials")
    op.drop_index("ix_trials_study_finished", table_name="trials")
    op.drop_index("ix_trials_study_value", table_name="trials")
