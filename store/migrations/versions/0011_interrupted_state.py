"""An explicit INTERRUPTED trial state: trials failed by an interruption (error text starting
with "interrupted") become INTERRUPTED, so no query parses error text for meaning.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE ht_trials SET state = 'INTERRUPTED' "
        "WHERE state = 'FAILED' AND error LIKE 'interrupted%'"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE ht_trials SET state = 'FAILED', "
        "error = COALESCE(error, 'interrupted') WHERE state = 'INTERRUPTED'"
    )
