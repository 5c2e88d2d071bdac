"""daily briefings (日报)

One row per scope (district or station code) and local day with the computed figures as JSON;
indexes for what the briefing reads by day (tier climbs and handover notes, review decisions).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "briefings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("generated_by", sa.String(length=100), nullable=False),
        sa.Column("generations", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["station_id"], ["org_units.id"], name=op.f("fk_briefings_station_id_org_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_briefings")),
        sa.UniqueConstraint("scope", "day", name=op.f("uq_briefings_scope_day")),
    )
    op.create_index(op.f("ix_briefings_day"), "briefings", ["day"], unique=False)
    op.create_index(op.f("ix_briefings_station_id"), "briefings", ["station_id"], unique=False)
    # What the briefing reads by day: a day's tier climbs and handover notes, a day's review decisions.
    kinds = sa.text("kind IN ('escalated', 'handover')")
    op.create_index(
        "ix_case_events_briefing_kinds",
        "case_events",
        ["at"],
        unique=False,
        sqlite_where=kinds,
        postgresql_where=kinds,
    )
    op.create_index(op.f("ix_case_reviews_decided_at"), "case_reviews", ["decided_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_case_reviews_decided_at"), table_name="case_reviews")
    op.drop_index("ix_case_events_briefing_kinds", table_name="case_events")
    op.drop_index(op.f("ix_briefings_station_id"), table_name="briefings")
    op.drop_index(op.f("ix_briefings_day"), table_name="briefings")
    op.drop_table("briefings")
