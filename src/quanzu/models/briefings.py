"""The daily briefing (日报): one row per scope (the district, or one station) and local day,
holding the computed figures as JSON so every rendering (HTML, PDF, Excel) of a stored briefing
is reproducible; regenerating the same day updates the row."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from quanzu.kit.db import Base, UTCDateTime


class Briefing(Base):
    __tablename__ = "briefings"
    __table_args__ = (UniqueConstraint("scope", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(32))  # "district" or the station's code
    station_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    generated_by: Mapped[str] = mapped_column(String(100))
    generations: Mapped[int] = mapped_column(default=1)  # how often this day was (re)generated
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
