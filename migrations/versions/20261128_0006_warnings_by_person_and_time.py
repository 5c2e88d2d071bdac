"""warnings by person and time

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 07:50:58.951332
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("warnings", schema=None) as batch_op:
        batch_op.create_index("ix_warnings_person_received", ["person_id", "received_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("warnings", schema=None) as batch_op:
        batch_op.drop_index("ix_warnings_person_received")
