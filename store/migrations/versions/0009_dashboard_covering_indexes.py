"""Covering indexes for the dashboard's history: the best-so-far window queries and the min/max
buckets of a 100,000-trial study read only the index (EXPLAIN: USING COVERING INDEX).

`ix_ht_trials_study_finished` (study_id, finished_at) becomes `ix_ht_trials_study_finished_cover`
(study_id, finished_at, number, state, value): the same prefix, so polling by finish time keeps it.
`ix_ht_trials_study_stats` covers the study stats (distinct functions, seconds paid and saved), the
hashing buckets, hash classes and per-worker counts.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SERIES = ["study_id", "number", "state", "value", "finished_at"]
FINISHED = ["study_id", "finished_at", "number", "state", "value"]
STATS = [
    "study_id", "state", "number", "worker", "functional_hash", "task", "cached_from_trial_id",
    "duration_s", "id",
]  # fmt: skip


def upgrade() -> None:
    op.create_index("ix_ht_trials_study_series", "ht_trials", SERIES)
    op.create_index("ix_ht_trials_study_finished_cover", "ht_trials", FINISHED)
    op.create_index("ix_ht_trials_study_stats", "ht_trials", STATS)
    op.drop_index("ix_ht_trials_study_finished", table_name="ht_trials")


def downgrade() -> None:
    op.create_index("ix_ht_trials_study_finished", "ht_trials", ["study_id", "finished_at"])
    op.drop_index("ix_ht_trials_study_stats", table_name="ht_trials")
    op.drop_index("ix_ht_trials_study_finished_cover", table_name="ht_trials")
    op.drop_index("ix_ht_trials_study_series", table_name="ht_trials")
