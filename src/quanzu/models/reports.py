"""Daily KPI rollups (PostgreSQL only; SQLite reports read the raw tables). One set of rows per
local (Asia/Shanghai) day, rebuilt whole by `reports.repository.refresh_days`; triggers on the
tables the KPIs read bump the day's `version`, so a rollup built before a change is never read
(see docs/kpis.md)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, Index, Integer, Numeric, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from quanzu.kit.db import Base, UTCDateTime


class KpiRollupDay(Base):
    """Whether a day's rollup may be read: yes while `computed_version` = `version` (no change
    since it was built) and `computed_at` <= now < `valid_until` (the first moment a figure of the
    day changes by time alone: an open SLA clock falling due, a callback passing its deadline)."""

    __tablename__ = "kpi_rollup_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    computed_version: Mapped[int | None] = mapped_column(Integer)
    computed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class KpiDay(Base):
    """Per day, station (null: triage) and scam type: the additive KPI figures. Case figures are
    of the cases opened that day, `warnings` of the warnings received that day, `callbacks_*` of
    the follow-up callbacks due that day (station and scam type of their case)."""

    __tablename__ = "kpi_days"
    __table_args__ = (Index("ix_kpi_days_station_day", "station_id", "day"),)  # a station's days

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    station_id: Mapped[int | None] = mapped_column(Integer)
    scam_type: Mapped[str] = mapped_column(String(32))
    cases: Mapped[int] = mapped_column(Integer)
    open_cases: Mapped[int] = mapped_column(Integer)
    dissuaded: Mapped[int] = mapped_column(Integer)
    money_protected: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    lost: Mapped[int] = mapped_column(Integer)
    money_lost: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    not_fraud: Mapped[int] = mapped_column(Integer)
    unreachable: Mapped[int] = mapped_column(Integer)
    escalated: Mapped[int] = mapped_column(Integer)
    first_meeting_dissuaded: Mapped[int] = mapped_column(Integer)
    first_meetings: Mapped[int] = mapped_column(Integer)
    repeat_warned: Mapped[int] = mapped_column(Integer)
    warnings: Mapped[int] = mapped_column(Integer)
    callbacks_counted: Mapped[int] = mapped_column(Integer)
    callbacks_completed: Mapped[int] = mapped_column(Integer)


class KpiDaySla(Base):
    """Per day of opening, station, scam type and clock kind: decided and breached clocks."""

    __tablename__ = "kpi_day_slas"
    __table_args__ = (Index("ix_kpi_day_slas_station_day", "station_id", "day"),)  # a station's days

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    station_id: Mapped[int | None] = mapped_column(Integer)
    scam_type: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(20))
    counted: Mapped[int] = mapped_column(Integer)
    breached: Mapped[int] = mapped_column(Integer)


class KpiDayDuration(Base):
    """Per day of opening and station: how many cases took a duration in each bucket, for time
    to sign (`metric` "sign") and to first contact ("contact"). Bucket 0 is under a second, bucket
    b >= 1 is [1.05^(b-1), 1.05^b) seconds: percentiles merged from buckets are within 2.5 %."""

    __tablename__ = "kpi_day_durations"
    __table_args__ = (Index("ix_kpi_day_durations_station_day", "station_id", "day"),)  # a station's days

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    station_id: Mapped[int | None] = mapped_column(Integer)
    metric: Mapped[str] = mapped_column(String(8))
    bucket: Mapped[int] = mapped_column(SmallInteger)
    n: Mapped[int] = mapped_column(Integer)
