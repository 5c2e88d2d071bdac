"""Writing a run into its throwaway database: the organisation (the real import), then every
simulated case as the rows the real services write (cases, warnings, steps, SLA clocks), in
bulk, so the real KPI code can read them."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from quanzu.auth.actor import Actor
from quanzu.auth.service import actor_for
from quanzu.codes import CaseState
from quanzu.demo.people import add_people
from quanzu.kit.db import insert_rows
from quanzu.kit.runtime import Runtime
from quanzu.models.cases import Case, CaseSla, CaseStep, EarlyWarning, Person
from quanzu.models.org import OrgUnit, User
from quanzu.org.service import import_org
from quanzu.simulation.district import District
from quanzu.simulation.model import CaseRecord

ROSTER_DAYS = 1  # the staffing is the scenario's; the database needs the people, not a year of shifts
BATCH = 2000


def load_org(session: Session, rt: Runtime, district: District, start: datetime) -> None:
    org = add_people(district.org, random.Random(0), start, ROSTER_DAYS)
    # Nobody signs in to a throwaway database: no passwords, so no argon2 hashing (seconds).
    org = org.model_copy(update={"users": [u.model_copy(update={"password": None}) for u in org.users]})
    import_org(session, rt, org.model_dump(mode="json"))
    rt.org.invalidate()


def centre_actor(session: Session) -> Actor:
    user = session.scalars(select(User).where(User.role == "centre").order_by(User.id)).first()
    if user is None:
        raise LookupError("the simulated district has no centre user")
    return actor_for(session, user)


def write_cases(session: Session, rt: Runtime, records: list[CaseRecord], start: datetime) -> None:
    units = list(session.scalars(select(OrgUnit)))
    station_ids = {u.code: u.id for u in units}
    names = {u.code: u.name for u in units}
    target = rt.cipher.encrypt(json.dumps({"name": "模拟对象"}, ensure_ascii=False), context="warning.target")
    for i in range(0, len(records), BATCH):
        _write_batch(session, records[i : i + BATCH], start, station_ids, names, target)


def _at(start: datetime, t: float | None) -> datetime | None:
    return None if t is None else start + timedelta(seconds=t)


def _money(x: float | None) -> Decimal | None:
    return None if x is None else Decimal(str(round(x, 2)))


def _write_batch(
    session: Session,
    batch: list[CaseRecord],
    start: datetime,
    station_ids: dict[str, int],
    names: dict[str, str],
    target: bytes,
) -> None:
    persons, cases, warnings, steps, slas = [], [], [], [], []
    for r in batch:
        pid = r.index + 1
        opened = start + timedelta(seconds=r.received)
        station_id = station_ids[r.station] if r.station else None
        persons.append({"id": pid, "name_masked": "模*", "created_at": opened})
        cases.append(_case_row(r, pid, station_id, opened, start, names))
        warnings.append(
            {
                "id": pid,
                "source": "national",
                "external_id": f"SIM-{r.index:07d}",
                "content_hash": f"{r.index:064x}",
                "case_id": pid,
                "person_id": pid,
                "merged": False,
                "issued_at": opened,
                "received_at": opened,
                "scam_type": r.scam_type,
                "risk_level": r.risk,
                "amount_at_risk": _money(r.amount),
                "description": "",
                "routing_method": r.routing_method,
                "routing_detail": r.routing_detail,
                "station_id": station_id,
                "target_enc": target,
            }
        )
        steps += [
            {
                "case_id": pid,
                "kind": s.kind,
                "actor": f"sim:{s.actor}",
                "started_at": _at(start, s.started),
                "ended_at": _at(start, s.ended),
                "outcome": s.outcome,
                "note": "",
            }
            for s in r.steps
        ]
        if r.closed_at is not None:
            at = _at(start, r.closed_at)
            steps.append(
                {
                    "case_id": pid,
                    "kind": "feedback",
                    "actor": "sim:dissuader",
                    "started_at": at,
                    "ended_at": at,
                    "outcome": "submitted",
                    "note": "",
                }
            )
        slas += [
            {
                "case_id": pid,
                "kind": kind,
                "due_at": _at(start, due),
                "met_at": _at(start, met),
                "breached_at": _at(start, breached),
                "token": "sim",
            }
            for kind, (due, met, breached) in r.slas.items()
        ]
    for model, rows in (
        (Person, persons),
        (Case, cases),
        (EarlyWarning, warnings),
        (CaseStep, steps),
        (CaseSla, slas),
    ):
        insert_rows(session, model, rows)  # Core executemany: the ORM's bulk path costs more per row


def _case_row(
    r: CaseRecord, pid: int, station_id: int | None, opened: datetime, start: datetime, names: dict[str, str]
) -> dict[str, Any]:
    closed = _at(start, r.closed_at)
    method, detail = r.routing_method, r.routing_detail
    if r.routed_at is not None and r.station is not None:  # the centre routed it (dissuasion.route)
        method, detail = "manual", f"反诈中心人工指派 → {names[r.station]}"
    return {
        "id": pid,
        "person_id": pid,
        "station_id": station_id,
        "state": CaseState.CLOSED if closed else CaseState.IN_PROGRESS,
        "tier": r.tier,
        "risk_level": r.risk,
        "scam_type": r.scam_type,
        "urgency": 0,
        "signal_count": 1,
        "amount_at_risk": _money(r.amount),
        "routing_method": method,
        "routing_detail": detail,
        "opened_at": opened,
        "updated_at": closed or opened,
        "closed_at": closed,
        "outcome": r.outcome,
        "signed_at": _at(start, r.signed_at),
        "first_contact_at": _at(start, r.first_contact_at),
        "first_meeting_outcome": r.first_meeting_outcome,
        "amount_protected": _money(r.amount_protected),
        "amount_lost": _money(r.amount_lost),
        "escalation": _escalation(start, r.escalated_at),
        # Its own new person (one per case, `person_id = id`): no earlier warning, as in intake.
        "repeat_warned_30d": False,
    }


def _escalation(start: datetime, at: float | None) -> dict[str, Any] | None:
    """The case went up the ladder (its tier says how far); the real plan's details stay out."""
    began = _at(start, at)
    return None if began is None else {"state": "simulated", "started_at": began.isoformat()}
