"""Social forces (社会力量) and the warning race (预警竞速赛): who can reach the victim first, asking
them through a one-time link, and recording who got there.

Officers work on cases they can read (`cases.repository.get_readable`); a helper sees only what
their one link shows. Every change writes an audit entry, and the case ones a timeline event; the
live alerts and the SMS leave only after commit."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources

import yaml
from sqlalchemy.orm import Session

from quanzu.audit import service as audit
from quanzu.auth.actor import Actor
from quanzu.auth.scoping import require_role
from quanzu.cases import repository as cases_repo
from quanzu.cases.timeline import add_event
from quanzu.codes import (
    HELP_ANSWER_LABELS,
    HELP_REACHED,
    HELPER_KIND_LABELS,
    SCAM_TYPE_LABELS,
    CaseState,
    HelpAnswer,
    Role,
)
from quanzu.dispatch.service import Announcement, announce, broadcast_change, send_to_person
from quanzu.dissuasion.service import record_contact
from quanzu.helpers import ranking, repository
from quanzu.helpers.schemas import (
    AnswerIn,
    CandidateOut,
    ContactIn,
    ContactOut,
    HelperBrief,
    HelperRef,
    HelpRequestCreated,
    HelpRequestIn,
    HelpRequestOut,
    LeaderboardRow,
    RevealedHelper,
    RevealIn,
)
from quanzu.kit.crypto import mask_name, mask_phone
from quanzu.kit.errors import Conflict, FieldError, NotFound, ValidationFailed
from quanzu.kit.runtime import Runtime
from quanzu.models.cases import Case, Person
from quanzu.models.dispatch import ChannelEndpointRow, OutboxMessage
from quanzu.models.helpers import Guard, HelpRequest, PersonContact

HANDLERS = (Role.DISSUADER, Role.DUTY_LEADER, Role.CHIEF, Role.BRANCH, Role.CENTRE)
GUARD_NAME, GUARD_PHONE = "guard.name", "guard.phone"
CONTACT_NAME, CONTACT_PHONE = "person_contact.name", "person_contact.phone"


# --- cases the officer may work on ---------------------------------------------------------------


def _readable_case(session: Session, actor: Actor, case_id: int, *, for_update: bool = False) -> Case:
    case = cases_repo.get_readable(session, actor, case_id, for_update=for_update)
    if case is None:
        raise NotFound(f"case {case_id} not found")
    return case


def _handled_case(session: Session, actor: Actor, case_id: int) -> Case:
    require_role(actor, *HANDLERS)
    return _readable_case(session, actor, case_id, for_update=True)


def _person(session: Session, case: Case) -> Person:
    person = session.get(Person, case.person_id)
    if person is None:
        raise NotFound(f"case {case.id} has no target")
    return person


def _audience(session: Session, case: Case) -> list[int]:
    """The people dissuasion's moves tell: the case's officers, the centre, the station's duty
    leaders and chief."""
    return cases_repo.audience(session, case, centre=True)


def regions(session: Session, rt: Runtime) -> tuple[str, ...]:
    """The district's own place names, stripped from the front of enterprise names."""
    rules = rt.org.get(session).rules
    towns = [a.name for a in rules.areas if a.level in ("town", "street")]
    return ranking.region_words(rules.province, rules.city, rules.district, towns)


# --- the people around a target --------------------------------------------------------------------


def _contact_out(c: PersonContact) -> ContactOut:
    return ContactOut(
        contact_id=c.id,
        relation=c.relation,
        relationship=c.relationship,
        name=c.name_masked,
        phone=c.phone_masked,
        note=c.note,
        added_by=c.added_by,
        created_at=c.created_at,
    )


def list_contacts(session: Session, actor: Actor, case_id: int) -> list[ContactOut]:
    case = _readable_case(session, actor, case_id)
    return [_contact_out(c) for c in repository.contacts_of(session, case.person_id)]


def add_contact(session: Session, rt: Runtime, actor: Actor, case_id: int, body: ContactIn) -> ContactOut:
    """Adds (or, for a phone already known for this person, updates) a relative, work-unit leader
    or village/community worker."""
    case = _handled_case(session, actor, case_id)
    bidx = rt.cipher.blind_index(body.phone, kind="phone")
    row = repository.contact(session, case.person_id, bidx)
    created = row is None
    if row is None:
        row = PersonContact(
            person_id=case.person_id,
            case_id=case.id,
            phone_bidx=bidx,
            phone_enc=rt.cipher.encrypt(body.phone, context=CONTACT_PHONE),
            phone_masked=mask_phone(body.phone),
            added_by=actor.label,
            created_at=rt.clock.now(),
        )
        session.add(row)
    row.relation, row.relationship, row.note = body.relation, body.relationship, body.note
    row.name_enc = rt.cipher.encrypt(body.name, context=CONTACT_NAME)
    row.name_masked = mask_name(body.name)
    session.flush()
    label = HELPER_KIND_LABELS[body.relation]
    add_event(
        session,
        rt,
        case,
        "helper_contact_added" if created else "helper_contact_updated",
        actor,
        contact_id=row.id,
        relation=body.relation,
        note=f"{label}{('（' + body.relationship + '）') if body.relationship else ''} {row.name_masked}",
    )
    audit.record(
        session,
        rt.clock,
        actor,
        "helpers.contact_added" if created else "helpers.contact_updated",
        "person_contact",
        row.id,
        {"case_id": case.id, "relation": body.relation},
    )
    return _contact_out(row)


# --- who can reach the victim first ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Ranked:
    candidates: list[ranking.Candidate]
    guards: dict[int, Guard]
    contacts: dict[int, PersonContact]


def _rank(session: Session, rt: Runtime, case: Case, person: Person) -> _Ranked:
    region_names = regions(session, rt)
    address = rt.cipher.decrypt(person.address_enc, context="person.address") if person.address_enc else None
    target = ranking.Target(employer=person.employer, address=address, regions=region_names)
    employer_keys = ranking.close_names(
        ranking.normalise_enterprise(person.employer, region_names),
        repository.distinct_employer_keys(session),
        region_names,
    )
    community_keys = ranking.close_communities(
        ranking.target_communities(target), repository.distinct_community_keys(session)
    )
    guards = {g.id: g for g in repository.guards_matching(session, employer_keys, community_keys)}
    contacts = {c.id: c for c in repository.contacts_of(session, person.id)}
    ranked = ranking.rank(
        target,
        [
            ranking.GuardEntry(
                id=g.id,
                employer=g.employer,
                community=g.community,
                trained=g.trained,
                consented=g.consented,
                active=g.active,
                employer_key=g.employer_key or "",
                community_key=g.community_key or "",
            )
            for g in guards.values()
        ],
        [
            ranking.ContactEntry(id=c.id, relation=c.relation, relationship=c.relationship)
            for c in contacts.values()
        ],
        limit=rt.policy.helpers.max_candidates,
    )
    return _Ranked(ranked, guards, contacts)


def candidates(session: Session, rt: Runtime, actor: Actor, case_id: int) -> list[CandidateOut]:
    """Ranked helpers for a case, each with the reason; names and phones masked."""
    case = _readable_case(session, actor, case_id)
    ranked = _rank(session, rt, case, _person(session, case))
    asked = {(r.guard_id, r.contact_id) for r in repository.open_requests(session, case.id, rt.clock.now())}
    out = []
    for c in ranked.candidates:
        if c.kind == "guard":
            g = ranked.guards[c.id]
            name, phone, employer, community = g.name_masked, g.phone_masked, g.employer, g.community
            key: tuple[int | None, int | None] = (g.id, None)
        else:
            p = ranked.contacts[c.id]
            name, phone, employer, community, key = p.name_masked, p.phone_masked, None, None, (None, p.id)
        out.append(
            CandidateOut(
                kind=c.kind,
                id=c.id,
                helper_kind=c.helper_kind,
                name=name,
                phone=phone,
                employer=employer,
                community=community,
                score=c.score,
                reason=c.reason,
                already_asked=key in asked,
            )
        )
    return out


def reveal_helper(
    session: Session, rt: Runtime, actor: Actor, case_id: int, body: RevealIn
) -> RevealedHelper:
    """A helper's full name and phone, for an officer who will call them: only a helper suggested
    for, or asked on, this case (the registry is not browsable this way); audited."""
    require_role(actor, *HANDLERS)
    case = _readable_case(session, actor, case_id)
    person = _person(session, case)
    if body.kind == "contact":
        contact = session.get(PersonContact, body.id)
        if contact is None or contact.person_id != person.id:
            raise NotFound(f"contact {body.id} not found on case {case_id}")
        name = rt.cipher.decrypt(contact.name_enc, context=CONTACT_NAME)
        phone = rt.cipher.decrypt(contact.phone_enc, context=CONTACT_PHONE)
        subject: tuple[str, int] = ("person_contact", contact.id)
    else:
        asked = any(r.guard_id == body.id for r, _ in repository.requests_of(session, case.id))
        suggested = asked or body.id in _rank(session, rt, case, person).guards
        guard = session.get(Guard, body.id)
        if guard is None or not suggested:
            raise NotFound(f"guard {body.id} is not a helper of case {case_id}")
        name = rt.cipher.decrypt(guard.name_enc, context=GUARD_NAME)
        phone = rt.cipher.decrypt(guard.phone_enc, context=GUARD_PHONE)
        subject = ("guard", guard.id)
    audit.record(session, rt.clock, actor, "pii.read", subject[0], subject[1], {"case_id": case.id})
    return RevealedHelper(kind=body.kind, id=body.id, name=name, phone=phone)


# --- the race: asking ---------------------------------------------------------------------------------


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class _Helper:
    guard: Guard | None
    contact: PersonContact | None
    kind: str
    name_masked: str
    phone_masked: str
    phone: str


def _resolve(session: Session, rt: Runtime, person: Person, index: int, ref: HelperRef) -> _Helper:
    field = f"helpers.{index}.id"
    if ref.kind == "guard":
        guard = session.get(Guard, ref.id)
        if guard is None or not guard.active:
            raise ValidationFailed([FieldError(field, f"没有编号为 {ref.id} 的在册反诈卫士")])
        phone = rt.cipher.decrypt(guard.phone_enc, context=GUARD_PHONE)
        return _Helper(guard, None, "guard", guard.name_masked, guard.phone_masked, phone)
    contact = session.get(PersonContact, ref.id)
    if contact is None or contact.person_id != person.id:
        raise ValidationFailed([FieldError(field, f"本案对象没有编号为 {ref.id} 的联系人")])
    phone = rt.cipher.decrypt(contact.phone_enc, context=CONTACT_PHONE)
    return _Helper(None, contact, contact.relation, contact.name_masked, contact.phone_masked, phone)


def request_help(
    session: Session, rt: Runtime, actor: Actor, case_id: int, body: HelpRequestIn
) -> list[HelpRequestCreated]:
    """Sends a one-time link to each chosen helper (SMS through the outbox when a gateway is
    configured). The links are in the answer once; only their hashes are stored."""
    case = _handled_case(session, actor, case_id)
    if case.state == CaseState.CLOSED:
        raise Conflict(f"case {case.id} is closed")
    person = _person(session, case)
    now = rt.clock.now()
    open_keys = {(r.guard_id, r.contact_id) for r in repository.open_requests(session, case.id, now)}
    helpers = [_resolve(session, rt, person, i, ref) for i, ref in enumerate(body.helpers)]
    reasons = _reasons(session, rt, case, person)
    endpoint = _sms_endpoint(session, rt)
    created = []
    for i, helper in enumerate(helpers):
        key = (helper.guard.id if helper.guard else None, helper.contact.id if helper.contact else None)
        if key in open_keys:
            raise Conflict(f"helpers.{i}: {helper.name_masked} 已有未过期的协助请求")
        open_keys.add(key)
        created.append(_ask(session, rt, actor, case, person, helper, reasons, endpoint, body.note))
    names = "、".join(h.name_masked for h in helpers)
    announce(
        session,
        rt,
        Announcement(
            "help.requested",
            case.id,
            f"案件 #{case.id} 已请求社会力量协助",
            f"{actor.name}：已请 {names} 协助劝阻。",
        ),
        _audience(session, case),
        [],
    )
    broadcast_change(session, rt, case.id, case.state, _audience(session, case))
    return created


def _reasons(session: Session, rt: Runtime, case: Case, person: Person) -> dict[tuple[str, int], str]:
    return {(c.kind, c.id): c.reason for c in _rank(session, rt, case, person).candidates}


def _ask(
    session: Session,
    rt: Runtime,
    actor: Actor,
    case: Case,
    person: Person,
    helper: _Helper,
    reasons: dict[tuple[str, int], str],
    endpoint: ChannelEndpointRow | None,
    note: str,
) -> HelpRequestCreated:
    now = rt.clock.now()
    token = secrets.token_urlsafe(24)
    ref = (
        ("guard", helper.guard.id)
        if helper.guard
        else ("contact", helper.contact.id if helper.contact else 0)
    )
    row = HelpRequest(
        case_id=case.id,
        guard_id=helper.guard.id if helper.guard else None,
        contact_id=helper.contact.id if helper.contact else None,
        helper_kind=helper.kind,
        helper_masked=helper.name_masked,
        phone_masked=helper.phone_masked,
        reason=reasons.get(ref, "民警指定"),
        token_hash=token_hash(token),
        requested_by=actor.label,
        requested_at=now,
        expires_at=now + rt.policy.helpers.link_lifetime,
    )
    session.add(row)
    session.flush()
    link = f"{rt.base_url}/h/{token}"
    outbox = None
    if endpoint is not None:
        text = _sms_text(person, link, note)
        outbox = send_to_person(
            session, rt, endpoint.id, event="help.request", case_id=case.id, text=text, recipient=helper.phone
        )
        row.outbox_id = outbox.id
    label = HELPER_KIND_LABELS.get(helper.kind, helper.kind)
    add_event(
        session,
        rt,
        case,
        "help_requested",
        actor,
        request_id=row.id,
        helper_kind=helper.kind,
        helper=helper.name_masked,
        sms=outbox is not None,
        note=f"{label} {helper.name_masked}（{row.reason}）",
    )
    audit.record(
        session,
        rt.clock,
        actor,
        "help.requested",
        "help_request",
        row.id,
        {
            "case_id": case.id,
            "helper_kind": helper.kind,
            "guard_id": row.guard_id,
            "contact_id": row.contact_id,
        },
    )
    return HelpRequestCreated(**_request_out(row, outbox, now).model_dump(), link=link)


def _sms_text(person: Person, link: str, note: str) -> str:
    """No more PII than the page: the greeting (surname) only, and the link."""
    extra = f"{note}。" if note else ""
    return (
        f"【反诈预警协助】{_greeting(person)}可能正在遭遇电信网络诈骗，请您尽快联系并当面劝阻。{extra}"
        f"详情和反馈：{link} （限时有效，请勿转发）"
    )


def _sms_endpoint(session: Session, rt: Runtime) -> ChannelEndpointRow | None:
    """The outbox's SMS endpoint, kept in step with the settings (QUANZU_SMS_GATEWAY_URL …)."""
    centre = rt.org.get(session).centre
    if rt.sms is None or centre is None:
        return None
    row = repository.sms_endpoint(session, centre.id)
    if row is None:
        row = ChannelEndpointRow(org_unit_id=centre.id, kind="sms", target=rt.sms.url, options={})
        session.add(row)
    row.target, row.secret, row.active = rt.sms.url, rt.sms.secret, True
    row.options = {"sender": rt.sms.sender}
    session.flush()
    return row


def _status(row: HelpRequest, now: datetime) -> str:
    if row.answered_at is not None:
        return "answered"
    if now >= row.expires_at:
        return "expired"
    return "opened" if row.opened_at is not None else "sent"


def _sms_status(outbox: OutboxMessage | None) -> str | None:
    if outbox is None:
        return None
    if outbox.delivered_at is not None:
        return "delivered"
    return "failed" if outbox.dead_at is not None else "queued"


def _request_out(row: HelpRequest, outbox: OutboxMessage | None, now: datetime) -> HelpRequestOut:
    return HelpRequestOut(
        request_id=row.id,
        case_id=row.case_id,
        helper_kind=row.helper_kind,
        helper=row.helper_masked,
        phone=row.phone_masked,
        reason=row.reason,
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        expires_at=row.expires_at,
        status=_status(row, now),
        opened_at=row.opened_at,
        answered_at=row.answered_at,
        answer=row.answer,
        answer_note=row.answer_note,
        first_to_reach=row.first_to_reach,
        sms=_sms_status(outbox),
    )


def list_requests(session: Session, rt: Runtime, actor: Actor, case_id: int) -> list[HelpRequestOut]:
    case = _readable_case(session, actor, case_id)
    now = rt.clock.now()
    return [_request_out(r, o, now) for r, o in repository.requests_of(session, case.id)]


# --- the race: the helper's one-time link -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkRefusal:
    status: int  # 404 unknown or forged, 410 used / expired / case closed
    reason: str  # unknown | answered | expired | closed
    message: str  # Simplified Chinese, for the helper


@dataclass(frozen=True, slots=True)
class LinkOutcome:
    brief: HelperBrief | None
    refusal: LinkRefusal | None = None


_REFUSALS = {
    "unknown": LinkRefusal(404, "unknown", "链接无效。请核对短信中的链接，或直接联系当地派出所。"),
    "answered": LinkRefusal(410, "answered", "这条链接已经反馈过，不能再次使用。感谢您的协助！"),
    "expired": LinkRefusal(410, "expired", "这条链接已过期。如仍需协助，请等待民警联系。"),
    "closed": LinkRefusal(410, "closed", "该预警已处置完毕，无需再协助。感谢您的支持！"),
}
_ANONYMOUS = Actor(kind="anonymous", id=None, name="helper-link", role=Role.GUARD)


def _helper_actor(row: HelpRequest) -> Actor:
    return Actor(kind="helper", id=row.id, name=f"{row.helper_kind}:{row.helper_masked}", role=Role.GUARD)


def _refuse(session: Session, rt: Runtime, row: HelpRequest | None, reason: str, digest: str) -> LinkOutcome:
    """A refused link is an outcome, not an error: the audit entry must be committed with it."""
    actor = _helper_actor(row) if row is not None else _ANONYMOUS
    subject = row.id if row is not None else "unknown"
    detail = {"reason": reason, "token_hash_prefix": digest[:12]}
    audit.record(session, rt.clock, actor, "help.link_refused", "help_request", subject, detail)
    return LinkOutcome(brief=None, refusal=_REFUSALS[reason])


def _usable(
    session: Session, rt: Runtime, token: str, *, for_update: bool
) -> tuple[HelpRequest, Case] | LinkOutcome:
    digest = token_hash(token)
    row = repository.request_by_token_hash(session, digest, for_update=for_update)
    if row is None:
        return _refuse(session, rt, None, "unknown", digest)
    case = repository.case_for_update(session, row.case_id) if for_update else session.get(Case, row.case_id)
    if row.answered_at is not None:
        return _refuse(session, rt, row, "answered", digest)
    if rt.clock.now() >= row.expires_at:
        return _refuse(session, rt, row, "expired", digest)
    if case is None or case.state == CaseState.CLOSED:
        return _refuse(session, rt, row, "closed", digest)
    return row, case


def open_link(session: Session, rt: Runtime, token: str) -> LinkOutcome:
    """What the helper sees. The first opening is on the timeline (the officers see the helper
    is on it)."""
    found = _usable(session, rt, token, for_update=True)
    if isinstance(found, LinkOutcome):
        return found
    row, case = found
    if row.opened_at is None:
        row.opened_at = rt.clock.now()
        actor = _helper_actor(row)
        add_event(session, rt, case, "help_opened", actor, request_id=row.id, helper=row.helper_masked)
        audit.record(session, rt.clock, actor, "help.opened", "help_request", row.id, {"case_id": case.id})
        broadcast_change(session, rt, case.id, case.state, _audience(session, case))
    return LinkOutcome(brief=_brief(session, rt, row, case))


def answer_link(session: Session, rt: Runtime, token: str, body: AnswerIn) -> LinkOutcome:
    """The helper's answer. A helper who reached the target is a two-way contact (the case's
    first-contact SLA and milestone); the first of them on a case wins the race."""
    found = _usable(session, rt, token, for_update=True)
    if isinstance(found, LinkOutcome):
        return found
    row, case = found
    now = rt.clock.now()
    row.opened_at = row.opened_at or now
    row.answered_at, row.answer, row.answer_note = now, body.answer, body.note
    reached = body.answer in HELP_REACHED
    if reached:
        record_contact(session, case, now)
        if repository.first_reach(session, case.id) is None:
            row.first_to_reach = True
    session.flush()
    _tell_officers(session, rt, case, row, reached)
    return LinkOutcome(brief=_brief(session, rt, row, case))


def _tell_officers(session: Session, rt: Runtime, case: Case, row: HelpRequest, reached: bool) -> None:
    actor = _helper_actor(row)
    label = HELPER_KIND_LABELS.get(row.helper_kind, row.helper_kind)
    answer = HELP_ANSWER_LABELS.get(row.answer or "", row.answer or "")
    first = "（首个到达）" if row.first_to_reach else ""
    summary = f"{label} {row.helper_masked}：{answer}{first}" + (
        f"。{row.answer_note}" if row.answer_note else ""
    )
    add_event(
        session,
        rt,
        case,
        "help_answered",
        actor,
        request_id=row.id,
        helper_kind=row.helper_kind,
        helper=row.helper_masked,
        answer=row.answer,
        first_to_reach=row.first_to_reach,
        note=summary,
    )
    audit.record(
        session,
        rt.clock,
        actor,
        "help.answered",
        "help_request",
        row.id,
        {"case_id": case.id, "answer": row.answer, "first_to_reach": row.first_to_reach},
    )
    station = rt.org.get(session).with_children(case.station_id) if reached else []
    audience = _audience(session, case)
    announce(
        session,
        rt,
        Announcement("help.answered", case.id, f"协助反馈：案件 #{case.id}", summary),
        audience,
        station,
    )
    broadcast_change(session, rt, case.id, case.state, audience)


def _greeting(person: Person) -> str:
    surname = (person.name_masked or "")[:1]
    if not surname:
        return "当事人"
    return {"male": f"{surname}先生", "female": f"{surname}女士"}.get(person.gender or "", person.name_masked)


@cache
def scripts() -> dict[str, str]:
    text = (resources.files("quanzu.helpers") / "scripts.yaml").read_text(encoding="utf-8")
    loaded: dict[str, str] = yaml.safe_load(text)
    return loaded


def _brief(session: Session, rt: Runtime, row: HelpRequest, case: Case) -> HelperBrief:
    person = _person(session, case)
    address = rt.cipher.decrypt(person.address_enc, context="person.address") if person.address_enc else None
    lines = scripts()
    return HelperBrief(
        case_open=case.state != CaseState.CLOSED,
        greeting=_greeting(person),
        phone=person.phone_masked,
        place=ranking.place_hint(person.employer, address, regions(session, rt)),
        scam_type=SCAM_TYPE_LABELS.get(case.scam_type, case.scam_type),
        script=" ".join(filter(None, (lines.get(case.scam_type, ""), lines.get("default", "")))),
        expires_at=row.expires_at,
        answered=row.answered_at is not None,
        answer=row.answer,
    )


# --- guards' contributions -----------------------------------------------------------------------------


def leaderboard(
    session: Session,
    actor: Actor,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
) -> list[LeaderboardRow]:
    """Guards by first reaches, then reaches, then answers, on the cases the actor may read."""
    rows = repository.leaderboard(session, actor, since, until, limit)
    return [
        LeaderboardRow(
            guard_id=guard.id,
            name=guard.name_masked,
            employer=guard.employer,
            community=guard.community,
            requests=requests,
            answered=answered,
            reached=int(reached or 0),
            stopped=int(stopped or 0),
            first_to_reach=int(first or 0),
        )
        for guard, requests, answered, reached, stopped, first in rows
    ]


__all__ = ["HelpAnswer", "LinkOutcome", "LinkRefusal"]
