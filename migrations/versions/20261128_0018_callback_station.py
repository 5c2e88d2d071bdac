"""The case's station kept on its follow-up callbacks

`follow_up_callbacks.station_id`: the station of the callback's case, set when the plan makes
the callbacks and moved with the case when the centre routes it elsewhere. The daily briefing
counts and lists the overdue callbacks per station; with the station only on `cases`, PostgreSQL
probed `cases` by primary key once per overdue callback (~116,000 a day over 10 M warnings, most
of the whole briefing's time). Existing rows are backfilled from their case (every case with a
follow-up plan has a station: a plan starts from a recorded step, which needs a routed case).

Two indexes serve "overdue at a moment, not recorded by then": the unrecorded callbacks by
overdue time (partial; on PostgreSQL carrying what the briefing counts and lists, so it reads
the index alone), and every callback by recording time for those recorded only after the
moment (a past day's briefing).

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-28 18:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BACKFILL = {
    # One join instead of a primary-key probe per callback.
    "postgresql": "UPDATE follow_up_callbacks f SET station_id = c.station_id FROM cases c WHERE c.id = f.case_id",
    "sqlite": (
        "UPDATE follow_up_callbacks SET station_id = "
        "(SELECT station_id FROM cases WHERE cases.id = follow_up_callbacks.case_id)"
    ),
}
# Revision 0014's trigger bumps the rollup version of each changed callback's day; the backfill
# changes no KPI figure (the KPIs count callbacks under the case's station), so it would only
# invalidate every rolled-up day, one row update per callback.
_ROLLUP_TRIGGER = "follow_up_callbacks_kpi_rollup"


def upgrade() -> None:
    op.add_column("follow_up_callbacks", sa.Column("station_id", sa.Integer(), nullable=True))
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(f"ALTER TABLE follow_up_callbacks DISABLE TRIGGER {_ROLLUP_TRIGGER}")
    op.execute(_BACKFILL[dialect])
    if dialect == "postgresql":
        op.execute(f"ALTER TABLE follow_up_callbacks ENABLE TRIGGER {_ROLLUP_TRIGGER}")
    with op.batch_alter_table("follow_up_callbacks", schema=None) as batch_op:
        batch_op.alter_column("station_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_follow_up_callbacks_station_id_org_units"), "org_units", ["station_id"], ["id"]
        )
        batch_op.create_index(
            "ix_follow_up_callbacks_overdue_unrecorded",
            ["overdue_at", "id"],
            unique=False,
            sqlite_where=sa.text("done_at IS NULL"),
            postgresql_where=sa.text("done_at IS NULL"),
            postgresql_include=["station_id", "case_id", "seq", "due_at"],
        )
        batch_op.create_index(
            "ix_follow_up_callbacks_done_at",
            ["done_at"],
            unique=False,
            postgresql_include=["overdue_at", "station_id", "case_id", "seq", "due_at", "id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("follow_up_callbacks", schema=None) as batch_op:
        batch_op.drop_index("ix_follow_up_callbacks_done_at")
        batch_op.drop_index(
            "ix_follow_up_callbacks_overdue_unrecorded",
            sqlite_where=sa.text("done_at IS NULL"),
            postgresql_where=sa.text("done_at IS NULL"),
        )
        batch_op.drop_constraint(
            batch_op.f("fk_follow_up_callbacks_station_id_org_units"), type_="foreignkey"
        )
        batch_op.drop_column("station_id")
