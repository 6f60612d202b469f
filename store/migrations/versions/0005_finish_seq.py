"""Finish order of trials: `trials.finish_seq` numbered per study, counter `studies.finish_seq`.

Peers learn "trials finished since my last look" by a cursor on this column. Existing finished
trials are numbered in (finished_at, number) order, so an upgraded store reads like a new one.

Revision ID: 0005
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_FINISHED = ("COMPLETE", "FAILED", "PRUNED", "CACHED")


def upgrade() -> None:
    # Plain ADD COLUMN on every backend: a batch (copy-and-drop) of `studies` on SQLite would
    # cascade-delete every trial when the old table is dropped.
    op.add_column(
        "studies",
        sa.Column("finish_seq", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    op.add_column("trials", sa.Column("finish_seq", sa.Integer(), nullable=True))
    op.create_index("ix_trials_study_finish_seq", "trials", ["study_id", "finish_seq"])
    _backfill()


def _backfill() -> None:
    """Number the already finished trials of every study (one UPDATE per trial, in batches)."""
    conn = op.get_bind()
    trials = sa.table(
        "trials",
        sa.column("id", sa.Integer),
        sa.column("study_id", sa.Integer),
        sa.column("number", sa.Integer),
        sa.column("state", sa.String),
        sa.column("finished_at", sa.DateTime),
        sa.column("finish_seq", sa.Integer),
    )
    studies = sa.table("studies", sa.column("id", sa.Integer), sa.column("finish_seq", sa.Integer))
    rows = conn.execute(
        sa.select(trials.c.id, trials.c.study_id)
        .where(trials.c.state.in_(_FINISHED))
        .order_by(trials.c.study_id, trials.c.finished_at, trials.c.number)
    ).all()
    counts: dict[int, int] = {}
    params = []
    for trial_id, study_id in rows:
        counts[study_id] = counts.get(study_id, 0) + 1
        params.append({"tid": trial_id, "seq": counts[study_id]})
    if params:
        conn.execute(
            trials.update().where(trials.c.id == sa.bindparam("tid")).values(
                finish_seq=sa.bindparam("seq")
            ),
            params,
        )
    if counts:
        conn.execute(
            studies.update().where(studies.c.id == sa.bindparam("sid")).values(
                finish_seq=sa.bindparam("n")
            ),
            [{"sid": sid, "n": n} for sid, n in counts.items()],
        )


def downgrade() -> None:
    op.drop_index("ix_trials_study_finish_seq", table_name="trials")
    op.drop_column("trials", "finish_seq")  # DROP COLUMN: SQLite >= 3.35, no table copy
    op.drop_column("studies", "finish_seq")
