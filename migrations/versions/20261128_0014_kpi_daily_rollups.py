"""KPI daily rollups

Per local day: additive KPI figures per station and scam type, SLA clocks per kind, duration
histograms per station, and the day's version. On PostgreSQL, triggers on the tables the KPIs
read bump the version of every day a change touches, so a rollup built before the change is not
read (quanzu.reports.repository.refresh_day rebuilds it). SQLite has the tables, no triggers, and
reports there read the raw tables only.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FUNCTIONS = r"""
CREATE FUNCTION quanzu_kpi_local_day(t timestamptz) RETURNS date LANGUAGE sql IMMUTABLE AS
$$ SELECT (t AT TIME ZONE 'Asia/Shanghai')::date $$;

-- Only a day that has a rollup row is touched: days never rolled up (today) take no lock.
CREATE FUNCTION quanzu_kpi_touch(d date) RETURNS void LANGUAGE sql AS
$$ UPDATE kpi_rollup_days SET version = version + 1 WHERE day = d $$;

CREATE FUNCTION quanzu_kpi_cases_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    PERFORM quanzu_kpi_touch(quanzu_kpi_local_day(OLD.opened_at));
  END IF;
  IF TG_OP <> 'DELETE' THEN
    PERFORM quanzu_kpi_touch(quanzu_kpi_local_day(NEW.opened_at));
  END IF;
  -- Warnings and callbacks are counted under their case's station and scam type.
  IF TG_OP = 'UPDATE' AND (OLD.station_id IS DISTINCT FROM NEW.station_id
                           OR OLD.scam_type IS DISTINCT FROM NEW.scam_type) THEN
    PERFORM quanzu_kpi_touch(d) FROM (
      SELECT quanzu_kpi_local_day(received_at) AS d FROM warnings WHERE case_id = NEW.id
      UNION SELECT quanzu_kpi_local_day(due_at) FROM follow_up_callbacks WHERE case_id = NEW.id) s;
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION quanzu_kpi_slas_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM quanzu_kpi_touch(quanzu_kpi_local_day(c.opened_at)) FROM cases c
  WHERE c.id IN (CASE WHEN TG_OP <> 'INSERT' THEN OLD.case_id END,
                 CASE WHEN TG_OP <> 'DELETE' THEN NEW.case_id END);
  RETURN NULL;
END $$;

CREATE FUNCTION quanzu_kpi_warnings_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    PERFORM quanzu_kpi_touch(quanzu_kpi_local_day(OLD.received_at));
  END IF;
  IF TG_OP <> 'DELETE' THEN
    PERFORM quanzu_kpi_touch(quanzu_kpi_local_day(NEW.received_at));
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION quanzu_kpi_callbacks_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    PERFORM quanzu_kpi_touch(quanzu_kpi_local_day(OLD.due_at));
  END IF;
  IF TG_OP <> 'DELETE' THEN
    PERFORM quanzu_kpi_touch(quanzu_kpi_local_day(NEW.due_at));
  END IF;
  RETURN NULL;
END $$;
"""

_TRIGGERS = {
    "cases": "quanzu_kpi_cases_changed",
    "case_slas": "quanzu_kpi_slas_changed",
    "warnings": "quanzu_kpi_warnings_changed",
    "follow_up_callbacks": "quanzu_kpi_callbacks_changed",
}


def upgrade() -> None:
    op.create_table(
        "kpi_rollup_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("computed_version", sa.Integer(), nullable=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_kpi_rollup_days")),
    )
    op.create_table(
        "kpi_days",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=True),
        sa.Column("scam_type", sa.String(length=32), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in ("cases", "open_cases", "dissuaded")),
        sa.Column("money_protected", sa.Numeric(18, 2), nullable=False),
        sa.Column("lost", sa.Integer(), nullable=False),
        sa.Column("money_lost", sa.Numeric(18, 2), nullable=False),
        *(
            sa.Column(name, sa.Integer(), nullable=False)
            for name in (
                "not_fraud",
                "unreachable",
                "escalated",
                "first_meeting_dissuaded",
                "first_meetings",
                "repeat_warned",
                "warnings",
                "callbacks_counted",
                "callbacks_completed",
            )
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kpi_days")),
    )
    op.create_index(op.f("ix_kpi_days_day"), "kpi_days", ["day"])
    op.create_table(
        "kpi_day_slas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=True),
        sa.Column("scam_type", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("counted", sa.Integer(), nullable=False),
        sa.Column("breached", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kpi_day_slas")),
    )
    op.create_index(op.f("ix_kpi_day_slas_day"), "kpi_day_slas", ["day"])
    op.create_table(
        "kpi_day_durations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=True),
        sa.Column("metric", sa.String(length=8), nullable=False),
        sa.Column("bucket", sa.SmallInteger(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kpi_day_durations")),
    )
    op.create_index(op.f("ix_kpi_day_durations_day"), "kpi_day_durations", ["day"])
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_FUNCTIONS)
    for table, function in _TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER {table}_kpi_rollup AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {function}()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, function in _TRIGGERS.items():
            op.execute(f"DROP TRIGGER IF EXISTS {table}_kpi_rollup ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
        op.execute("DROP FUNCTION IF EXISTS quanzu_kpi_touch(date)")
        op.execute("DROP FUNCTION IF EXISTS quanzu_kpi_local_day(timestamptz)")
    for table in ("kpi_day_durations", "kpi_day_slas", "kpi_days", "kpi_rollup_days"):
        op.drop_table(table)
