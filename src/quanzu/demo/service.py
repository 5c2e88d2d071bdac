"""Loading the demo district: the Wujiang-shaped organisation, synthetic staff and rosters,
a feed client for the demo feed."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from importlib import resources

import yaml
from sqlalchemy.orm import Session

from quanzu.auth import service as auth
from quanzu.auth.repository import client_by_name
from quanzu.codes import Role
from quanzu.demo.banks import load_banks
from quanzu.demo.guards import load_guards
from quanzu.demo.people import DEMO_PASSWORD, add_people
from quanzu.kit.runtime import Runtime
from quanzu.kit.validation import parse
from quanzu.org import repository as org_repo
from quanzu.org.schemas import OrgFile
from quanzu.org.service import ImportReport, import_org

DEMO_FEED_CLIENT = "demo-feed"
ROSTER_DAYS = 14


@dataclass(frozen=True, slots=True)
class DemoLoaded:
    report: ImportReport | None  # None: the district was there already
    feed_token: str | None  # only when the feed client was created now
    password: str
    guards: int = 0  # anti-fraud guards added now (12,000 on the first load)
    bank_token: str | None = None  # the demo bank system's token, when created now


def district_file() -> OrgFile:
    text = (resources.files("quanzu.demo") / "district.yaml").read_text(encoding="utf-8")
    return parse(OrgFile, yaml.safe_load(text))


def load(session: Session, rt: Runtime, *, seed: int = 2026) -> DemoLoaded:
    """Idempotent: a second run changes nothing, except that it extends the 24×7 roster when less
    than a week of it is left (so a long-running demo always has people on duty)."""
    report = None
    now = rt.clock.now()
    last_shift_end = org_repo.latest_shift_end(session) if org_repo.centre(session) else None
    if last_shift_end is None or last_shift_end < now + timedelta(days=7):
        start = max(last_shift_end or now, now) - timedelta(days=1)
        org = add_people(district_file(), random.Random(seed), start, ROSTER_DAYS)
        report = import_org(session, rt, org.model_dump(mode="json"))
    rt.org.invalidate()  # the guards' names are normalised with the district's place names
    guards = load_guards(session, rt, district_file(), random.Random(seed))
    token = None
    if client_by_name(session, DEMO_FEED_CLIENT) is None:
        token = auth.create_client(session, rt, DEMO_FEED_CLIENT, Role.FEED)
    bank_token = load_banks(session, rt)
    return DemoLoaded(
        report=report, feed_token=token, password=DEMO_PASSWORD, guards=guards, bank_token=bank_token
    )
