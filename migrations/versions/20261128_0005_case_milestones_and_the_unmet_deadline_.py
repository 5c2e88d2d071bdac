"""case milestones and the unmet-deadline index

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 07:37:18.442272
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case_slas", schema=None) as batch_op:
        batch_op.create_index(
            "ix_case_slas_unmet",
            ["case_id", "due_at"],
            unique=False,
            sqlite_where=sa.text("met_at IS NULL"),
            postgresql_where=sa.text("met_at IS NULL"),
        )

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("first_contact_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("first_meeting_outcome", sa.String(length=20), nullable=True))

    # Backfill from the steps already recorded (the two-way contact outcomes as of this revision).
    op.execute(
        """
        UPDATE cases SET
          signed_at = (SELECT min(s.ended_at) FROM case_steps s WHERE s.case_id = cases.id AND s.kind = 'sign'),
          first_contact_at = (
            SELECT min(s.ended_at) FROM case_steps s WHERE s.case_id = cases.id AND (
              (s.kind = 'phone' AND s.outcome IN ('answered', 'dissuaded', 'not_convinced', 'refused'))
              OR (s.kind = 'face_to_face' AND s.outcome IN ('dissuaded', 'not_convinced')))),
          first_meeting_outcome = (
            SELECT s.outcome FROM case_steps s
            WHERE s.case_id = cases.id AND s.kind = 'face_to_face' AND s.ended_at IS NOT NULL
            ORDER BY s.id LIMIT 1)
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("first_meeting_outcome")
        batch_op.drop_column("first_contact_at")
        batch_op.drop_column("signed_at")

    with op.batch_alter_table("case_slas", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_case_slas_unmet",
            sqlite_where=sa.text("met_at IS NULL"),
            postgresql_where=sa.text("met_at IS NULL"),
        )
