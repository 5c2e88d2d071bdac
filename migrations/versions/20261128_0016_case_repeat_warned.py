"""The repeat-warning flag kept on the case

`cases.repeat_warned_30d`: the case's person had another warning (of another case) received
strictly before the case opened and at most 30 days (720 hours, `codes.REPEAT_WARNING_WINDOW`)
earlier. Intake decides it when the case opens; reports count it instead of searching every
case's history (the repeat check was most of the one-day report's time on PostgreSQL). Existing
rows are backfilled set-based with that definition: only the cases that are repeats are written.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-28 16:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The window's lower bound on each engine. SQLite keeps timestamps as 'YYYY-MM-DD HH:MM:SS.ffffff'
# (UTC): datetime() drops the fraction, which whole days leave unchanged, so it is put back.
_LOWER = {
    "postgresql": "cases.opened_at - interval '720 hours'",
    "sqlite": "datetime(cases.opened_at, '-30 days') || substr(cases.opened_at, 20)",
}

_BACKFILL = """
UPDATE cases SET repeat_warned_30d = true
WHERE EXISTS (SELECT 1 FROM warnings e
              WHERE e.person_id = cases.person_id AND e.case_id <> cases.id
                AND e.received_at < cases.opened_at AND e.received_at >= {lower})
"""


def upgrade() -> None:
    # A plain ADD COLUMN on both engines (a batch copy on SQLite would drop `cases`, which the
    # warnings' foreign key refuses once there are rows; PostgreSQL only records the default).
    op.add_column(
        "cases", sa.Column("repeat_warned_30d", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.execute(_BACKFILL.format(lower=_LOWER[op.get_bind().dialect.name]))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch_op:
        batch_op.drop_column("repeat_warned_30d")
