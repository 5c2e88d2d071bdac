"""screening log, sealed into the audit chain

Bank screening calls are audited in their own append-only table, written in batches; the audit
chain seals them by id range (see quanzu.audit.screening).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 10:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "screening_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("hit", sa.Boolean(), nullable=False),
        sa.Column("watch_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_screening_log")),
    )
    if op.get_bind().dialect.name == "postgresql":  # quanzu_append_only() comes from revision 0002
        op.execute(
            "CREATE TRIGGER screening_log_append_only BEFORE UPDATE OR DELETE ON screening_log "
            "FOR EACH ROW EXECUTE FUNCTION quanzu_append_only()"
        )
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER screening_log_no_{action.lower()} BEFORE {action} ON screening_log "
            "BEGIN SELECT RAISE(ABORT, 'screening_log is append-only'); END"
        )


def downgrade() -> None:
    op.drop_table("screening_log")  # its triggers go with it
