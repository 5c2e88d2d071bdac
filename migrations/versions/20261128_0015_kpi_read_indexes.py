"""KPI read indexes

What the KPI report reads by range: a station's cases by opening time (the raw part of a
station's report), follow-up callbacks by due time (every raw part, and the rollup rebuild), and
a station's rolled-up days (a station's year without reading the district's rows). The index on
warnings(person_id) goes: ix_warnings_person_received (person_id, received_at) leads with the
same column, and while both existed the planner probed the narrower one for the repeat-warning
check and fetched every warning of the person to test its time. On PostgreSQL ix_warnings_received_at
also carries the person and the case, so that check reads a month of warnings from the index only.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-28 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = {
    "ix_cases_station_opened": ("cases", ["station_id", "opened_at"]),
    "ix_follow_up_callbacks_due_at": ("follow_up_callbacks", ["due_at"]),
    "ix_kpi_days_station_day": ("kpi_days", ["station_id", "day"]),
    "ix_kpi_day_slas_station_day": ("kpi_day_slas", ["station_id", "day"]),
    "ix_kpi_day_durations_station_day": ("kpi_day_durations", ["station_id", "day"]),
}


def upgrade() -> None:
    for name, (table, columns) in _INDEXES.items():
        op.create_index(name, table, columns)
    op.drop_index("ix_warnings_person_id", table_name="warnings")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_warnings_received_at", table_name="warnings")
        op.create_index(
            "ix_warnings_received_at",
            "warnings",
            ["received_at"],
            postgresql_include=["person_id", "case_id"],
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_warnings_received_at", table_name="warnings")
        op.create_index("ix_warnings_received_at", "warnings", ["received_at"])
    op.create_index("ix_warnings_person_id", "warnings", ["person_id"])
    for name, (table, _columns) in _INDEXES.items():
        op.drop_index(name, table_name=table)
