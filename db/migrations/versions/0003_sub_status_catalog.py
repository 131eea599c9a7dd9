"""Sub-status catalog managed by admins, seeded with the labels the product starts with.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A copy, not an import of rules.SUB_STATUSES: a migration must not change when the code does.
SEED = [("PROCESSING", "IN_PRODUCTION"), ("PROCESSING", "PACKED"), ("SHIPPED", "AWAITING_ACCEPTANCE")]


def upgrade() -> None:
    table = op.create_table(
        "sub_statuses",
        sa.Column("status", sa.String(20), primary_key=True),
        sa.Column("label", sa.String(40), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    now = datetime.now(UTC)
    op.bulk_insert(table, [{"status": status, "label": label, "created_at": now} for status, label in SEED])


def downgrade() -> None:
    op.drop_table("sub_statuses")
