"""The hash algorithm's version joins the cache key: entries of another version are never matched.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: The version every entry stored before this revision was hashed with.
PREVIOUS_VERSION = "hashtune-ufh-v2"


def upgrade() -> None:
    with op.batch_alter_table("fec_cache") as batch:
        batch.add_column(
            sa.Column(
                "hash_version",
                sa.String(length=64),
                nullable=False,
                server_default=PREVIOUS_VERSION,
            )
        )
    with op.batch_alter_table("fec_cache") as batch:
        batch.alter_column("hash_version", server_default=None)
        batch.drop_constraint("pk_fec_cache", type_="primary")
        batch.create_primary_key("pk_fec_cache", ["task", "functional_hash", "hash_version"])


def downgrade() -> None:
    op.execute(
        sa.text("DELETE FROM fec_cache WHERE hash_version <> :v").bindparams(v=PREVIOUS_VERSION)
    )
    with op.batch_alter_table("fec_cache") as batch:
        batch.drop_constraint("pk_fec_cache", type_="primary")
        batch.create_primary_key("pk_fec_cache", ["task", "functional_hash"])
        batch.drop_column("hash_version")
