"""The KPI query and report. The exact meaning of every figure is in `DEFINITIONS`, which is also
the API's description, so the documentation and the code cannot drift apart."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from quanzu.codes import ScamType

# The district's day: trend buckets and date-only bounds are local days.
LOCAL_TZ = ZoneInfo("Asia/Shanghai")

DEFINITIONS = """\
Every figure is about one **cohort**: the cases the caller may read (the same scoping as
`GET /api/v1/cases`) that were **opened** in `[from, to)`, optionally of one `station` and one
`scam_type`, **as they stand when the report is asked for** (a case opened in the period and closed
since counts with its outcome). Only `warnings` looks at another column (`received_at`).

- `from` / `to`: ISO date (a local Asia/Shanghai day: `from` = its 00:00, `to` = the end of that
  day, inclusive) or ISO datetime with a zone. Default: the 7 days up to now. At most 366 days.
  The answer's `period` is the resolved `[start, end)` in UTC.
- `warnings`: warnings received in `[from, to)` whose case the caller may read (station and scam
  type filters apply to that case).
- `cases`: cases opened in the period; `open_cases`: those of them not closed yet.
- `dissuaded`, `lost`, `not_fraud`, `unreachable`: cases closed with that outcome.
  `money_protected` = sum of `amount_protected` over the dissuaded; `money_lost` = sum of
  `amount_lost` over the lost (decimal strings, yuan).
- `time_to_sign_s`: end of the case's first `sign` step − case opened, in seconds.
- `time_to_first_contact_s`: earliest successful two-way contact with the target − case opened:
  a `phone` step answered / dissuaded / not_convinced / refused, or a `face_to_face` step with an
  outcome. Cases without one are not in `n`. Median and p90 are interpolated percentiles
  (PostgreSQL's `percentile_cont`); null when `n` is 0. On PostgreSQL, whole past days are read
  from daily rollups (docs/kpis.md) that keep durations in 5 %-wide buckets: when the period
  includes such days (and no `scam_type` filter is given), median and p90 are interpolated from
  the buckets and are within 2.5 % of the exact value; `n` and every other figure are exact.
- `first_meeting_success_rate`: cases whose first finished `face_to_face` step has outcome
  `dissuaded` / cases with a finished `face_to_face` step; null when there are none.
- `sla_breach_rate[kind]` for `sign`, `first_contact`, `face_to_face`, `feedback`: `counted` =
  clocks of that kind that are decided — met, or past due while the case was still open (a clock
  still running, or one the case closed before it fell due, is not counted); `breached` = counted
  clocks not met by their deadline (met late, or never met); `rate` = breached / counted, null
  when nothing is counted.
- `escalated`: cases whose tier is above 1 (the escalation ladder climbed beyond the station,
  or the branch took the case).
- `repeat_warning_rate_30d`: cases whose target person had another warning received within the
  30 days before the case opened (any station, any earlier case) / `cases`; null when `cases` is 0.
- `follow_ups` and `follow_up_completion_rate` (回访完成率): over the follow-up callbacks whose
  **due time** falls in `[from, to)`, on cases the caller may read (station and scam type filters
  apply to the case, whenever it opened). `counted` = those that are decided: a result was
  recorded (reached or not reached), or their overdue deadline (the due day's local end plus the
  policy's grace) has passed unrecorded; a callback still within its deadline and not recorded
  is not counted yet. `completed` = counted callbacks whose result was recorded on or before the
  overdue deadline: the callback was made in time, whether or not the target answered (a missed
  answer is recorded, and chased by the plan's next callback). A callback recorded after its
  deadline counts against the rate. `rate` = completed / counted; null when nothing is counted.
- `by_day`: one row per local day of the period: `warnings` received that day, and the
  `dissuaded` count and `money_protected` of the cases opened that day (rows add up to the
  totals).
- `by_scam_type`: cases and dissuaded per scam type, most cases first.
- `station_ranking` (预警竞速赛): per station with cases in the cohort, its cases, dissuaded,
  money protected, median time to sign and to first contact, and breached SLA clocks (as
  counted above), and its follow-up completion rate (callbacks as above, by the case's
  station); fastest median first contact first, stations with no contact last. Triage cases (no
  station) are in the totals only.
"""

_MOMENT_ERROR = "应为日期（2026-11-28）或带时区的时间（2026-11-28T14:00:00+08:00）"


class KpiQuery(BaseModel):
    """`from` and `to` stay as given (a date or an aware datetime): what a date means depends on
    which bound it is, which the service resolves."""

    model_config = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True)

    from_: date | datetime | None = Field(default=None, alias="from")
    to: date | datetime | None = None
    station: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)] | None = (
        None
    )
    scam_type: ScamType | None = None

    @field_validator("from_", "to", mode="plain")
    @classmethod
    def _moment(cls, value: Any) -> date | datetime | None:
        if value is None or value == "":
            return None
        if isinstance(value, datetime):
            return _aware(value)
        if isinstance(value, date):
            return value
        if not isinstance(value, str):
            raise ValueError(_MOMENT_ERROR)
        return _parse_moment(value.strip())


def _parse_moment(text: str) -> date | datetime:
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return _aware(datetime.fromisoformat(text))
    except ValueError:
        raise ValueError(_MOMENT_ERROR) from None


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(_MOMENT_ERROR)
    return value


class Period(BaseModel):
    start: datetime
    end: datetime
    timezone: str = LOCAL_TZ.key


class DurationStats(BaseModel):
    median: float | None
    p90: float | None
    n: int


class SlaBreach(BaseModel):
    breached: int
    counted: int
    rate: float | None


class DayPoint(BaseModel):
    date: date
    warnings: int
    dissuaded: int
    money_protected: Decimal


class ScamTypeRow(BaseModel):
    scam_type: str
    cases: int
    dissuaded: int


class StationRank(BaseModel):
    code: str
    name: str
    cases: int
    dissuaded: int
    money_protected: Decimal
    median_time_to_sign_s: float | None
    median_time_to_first_contact_s: float | None
    sla_breaches: int
    follow_up_completion_rate: float | None = None


class FollowUpCompletion(BaseModel):
    completed: int
    counted: int
    rate: float | None


class KpiReport(BaseModel):
    period: Period
    station: str | None
    scam_type: str | None
    warnings: int
    cases: int
    open_cases: int
    dissuaded: int
    money_protected: Decimal
    lost: int
    money_lost: Decimal
    not_fraud: int
    unreachable: int
    escalated: int
    time_to_sign_s: DurationStats
    time_to_first_contact_s: DurationStats
    first_meeting_success_rate: float | None
    sla_breach_rate: dict[str, SlaBreach]
    repeat_warning_rate_30d: float | None
    follow_up_completion_rate: float | None = Field(
        default=None, description="Callbacks due in the period made in time / decided ones (回访完成率)."
    )
    by_day: list[DayPoint]
    by_scam_type: list[ScamTypeRow]
    station_ranking: list[StationRank]
    follow_ups: FollowUpCompletion = Field(
        default_factory=lambda: FollowUpCompletion(completed=0, counted=0, rate=None)
    )
