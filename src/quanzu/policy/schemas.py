"""The handling policy: SLA deadlines, the escalation ladder, and what closing a case requires."""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from quanzu.codes import WARNING_SIGN_LABELS, RiskLevel

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(value: object) -> timedelta:
    """'90s', '5m', '1h30m', '2d' or a number of seconds (tests use 2-second deadlines)."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    match = _DURATION.match(str(value).strip()) if isinstance(value, str) else None
    if not match or not any(match.groups()):
        raise ValueError(f"not a duration: {value!r} (use e.g. 90s, 5m, 1h30m, 2d)")
    d, h, m, s = (int(g or 0) for g in match.groups())
    return timedelta(days=d, hours=h, minutes=m, seconds=s)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]

SLA_KINDS = ("sign", "first_contact", "face_to_face", "feedback")
STEP_KINDS = ("sign", "phone", "analysis", "onsite_search", "verify_identity", "face_to_face", "feedback")
CLOSE_OUTCOMES = ("dissuaded", "lost", "not_fraud", "unreachable")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SlaDeadlines(_Strict):
    sign: Duration
    first_contact: Duration
    face_to_face: Duration | None = None
    feedback: Duration

    def items(self) -> list[tuple[str, timedelta]]:
        return [(k, v) for k in SLA_KINDS if (v := getattr(self, k)) is not None]


class Rung(_Strict):
    tier: int = Field(ge=1, le=3)
    notify: str = Field(pattern=r"^(duty_leader|chief|branch|centre)$")


class Escalation(_Strict):
    ladder: tuple[Rung, ...] = Field(min_length=1)
    wait: dict[RiskLevel, Duration]


class Banks(_Strict):
    watch_risk_levels: frozenset[RiskLevel] = frozenset({RiskLevel.HIGH, RiskLevel.EXTREME})
    watch_for: dict[RiskLevel, Duration]
    stop_payment_ack: Duration
    advice: dict[RiskLevel, str]


class Helpers(_Strict):
    link_lifetime: Duration = timedelta(hours=2)
    max_candidates: int = Field(default=20, ge=1, le=200)


class Review(_Strict):
    """The centre's review (复查): how long a station chief has to acknowledge an accountability
    notice before being reminded (and the branch told), and how often after that."""

    notice_ack: Duration = timedelta(hours=48)
    notice_remind_every: Duration = timedelta(hours=24)


_DEFAULT_CALLBACK_DAYS = {
    RiskLevel.EXTREME: (1, 3, 7, 14, 21, 28),
    RiskLevel.HIGH: (3, 7, 14, 28),
    RiskLevel.MEDIUM: (7, 28),
    RiskLevel.LOW: (28,),
}


class FollowUps(_Strict):
    """Follow-up callbacks (回访) after the first meeting: which days after it, per risk level;
    which successful calls also start a plan; when the officer is reminded and when a callback
    is overdue (the due day's end, local time, plus the grace); the warning signs a callback
    can record (each reopens the case)."""

    callback_days: dict[RiskLevel, tuple[int, ...]] = Field(
        default_factory=lambda: dict(_DEFAULT_CALLBACK_DAYS)
    )
    phone_dissuaded_starts: frozenset[RiskLevel] = frozenset({RiskLevel.LOW, RiskLevel.MEDIUM})
    remind_before: Duration = timedelta(hours=2)
    overdue_grace: Duration = timedelta(hours=2)
    warning_signs: tuple[str, ...] = tuple(WARNING_SIGN_LABELS)
    raise_risk_on_warning: bool = True

    @model_validator(mode="after")
    def _valid(self) -> FollowUps:
        for level in RiskLevel:
            days = self.callback_days.get(level)
            if days is None:
                raise ValueError(f"followups.callback_days must cover risk level {level}")
            if list(days) != sorted(set(days)) or any(d < 1 or d > 90 for d in days):
                raise ValueError(f"followups.callback_days.{level}: distinct days 1–90, ascending")
        unknown = set(self.warning_signs) - set(WARNING_SIGN_LABELS)
        if unknown:
            raise ValueError(f"followups.warning_signs: unknown signs {sorted(unknown)}")
        return self


class Intel(_Strict):
    """Intelligence (研判): whether the explained risk score may raise a case's level by itself
    (otherwise it is a second opinion shown on the case), the least confidence a scam-type
    suggestion needs to be offered, and how long a person alerted of a case's links is not
    alerted of that case's links again (0: every time)."""

    auto_raise_risk: bool = False
    min_confidence: float = Field(default=0.3, ge=0, le=1)
    link_alert_interval: Duration = timedelta(minutes=5)


class Briefings(_Strict):
    """The daily briefing (日报): generated every day at `at` (local Asia/Shanghai time) for the
    previous local day, for the district and for every station."""

    at: time = time(8, 0)


class Policy(_Strict):
    sla: dict[RiskLevel, SlaDeadlines]
    escalation: Escalation
    close_rules: dict[RiskLevel, dict[str, tuple[str, ...]]]
    reverse_check_required: tuple[str, ...] = ("dissuaded", "lost")
    helpers: Helpers = Helpers()
    banks: Banks
    followups: FollowUps = FollowUps()
    review: Review = Review()
    intel: Intel = Intel()
    briefings: Briefings = Briefings()

    @model_validator(mode="after")
    def _complete(self) -> Policy:
        for level in RiskLevel:
            per_level = (
                self.sla,
                self.escalation.wait,
                self.close_rules,
                self.banks.watch_for,
                self.banks.advice,
            )
            if any(level not in table for table in per_level):
                raise ValueError(f"the policy must cover risk level {level}")
            for outcome in CLOSE_OUTCOMES:
                steps = self.close_rules[level].get(outcome)
                if steps is None:
                    raise ValueError(f"close_rules.{level} must name the steps for {outcome}")
                unknown = set(steps) - set(STEP_KINDS)
                if unknown:
                    raise ValueError(f"close_rules.{level}.{outcome}: unknown steps {sorted(unknown)}")
        return self
