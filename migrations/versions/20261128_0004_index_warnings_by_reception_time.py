"""index warnings by reception time

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 07:16:58.561672
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The KPI report counts warnings by reception time across the district.
    op.create_index("ix_warnings_received_at", "warnings", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_warnings_received_at", table_name="warnings")
