"""Police–bank linkage (警银联动): the watch list banks screen against, the attempts they report,
and emergency stop-payment requests (紧急止付).

Screening is the hot path: it reads the process's in-memory index and touches the database only
on a hit (to confirm it), and its audit entry is group-committed. Everything else is an ordinary
move in the caller's transaction: timeline event, audit entry, live alert after commit."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
from datetime import timedelta
from decimal import Decimal

from sqlalchemy.orm import Session, sessionmaker

from quanzu.audit import service as audit
from quanzu.auth.actor import SYSTEM, Actor
from quanzu.auth.scoping import bank_scope, require_role
from quanzu.banks import repository
from quanzu.banks.index import IndexedIdentifier
from quanzu.banks.keeper import announce_banks_change, announce_watch_change, announce_watch_created
from quanzu.banks.rules import OPEN_STOP_STATES, STOP_STATE_LABELS, StopAction, StopState, guard, outcome
from quanzu.banks.schemas import (
    MISS,
    BankEventIn,
    BankEventOut,
    BankLinkage,
    IdentifiersIn,
    ScreenIn,
    ScreenOut,
    StationContact,
    StopAccountView,
    StopAckIn,
    StopPaymentIn,
    StopPaymentView,
    StopResultIn,
    WatchEndIn,
    WatchIn,
    WatchView,
)
from quanzu.cases import repository as cases_repo
from quanzu.cases.timeline import add_event
from quanzu.codes import RiskLevel, Role
from quanzu.dispatch.service import Announcement, announce
from quanzu.escalation.service import climb_on_breach
from quanzu.kit.crypto import mask_id_number, mask_name, mask_phone
from quanzu.kit.db import add_with_id, advisory_lock, get, insert_rows
from quanzu.kit.errors import Conflict, FieldError, NotFound, ValidationFailed
from quanzu.kit.runtime import Runtime
from quanzu.models.banks import (
    Bank,
    BankBranch,
    BankEvent,
    StopPayment,
    StopPaymentAccount,
    WatchEntry,
    WatchIdentifier,
)
from quanzu.models.cases import Case, Person
from quanzu.models.timers import Timer
from quanzu.timers.service import new_token, schedule

OFFICERS = (Role.DISSUADER, Role.DUTY_LEADER, Role.CHIEF, Role.BRANCH, Role.CENTRE)
KIND_LABELS = {"id_number": "身份证号", "phone": "手机号", "account": "账号"}
EVENT_KIND_LABELS = {"withdrawal": "取款", "transfer": "转账"}
ACTION_LABELS = {"held": "已拦截", "delayed": "已暂缓", "completed": "已办理"}


def mask_account(account: str) -> str:
    return f"{account[:4]}****{account[-4:]}"


_MASKERS = {"id_number": mask_id_number, "phone": mask_phone, "account": mask_account}


# --- the registry -----------------------------------------------------------------------------


def register_bank(
    session: Session, rt: Runtime, code: str, name: str, actor: Actor = SYSTEM
) -> tuple[Bank, str]:
    """Registers a bank and returns it with its new blinding key (hex, shown once; `bank key`
    shows it again to an administrator, audited)."""
    if repository.bank_by_code(session, code) is not None:
        raise Conflict(f"bank {code!r} exists already")
    key = secrets.token_bytes(32)
    bank = Bank(
        code=code,
        name=name,
        blinding_key_enc=rt.cipher.encrypt(base64.b64encode(key).decode(), context=repository.KEY_CONTEXT),
        created_at=rt.clock.now(),
    )
    session.add(bank)
    session.flush()
    audit.record(session, rt.clock, actor, "bank.registered", "bank", bank.id, {"code": code})
    announce_banks_change(session, rt.watch)
    return bank, key.hex()


def blinding_key(session: Session, rt: Runtime, code: str, actor: Actor = SYSTEM) -> str:
    bank = _bank(session, code)
    audit.record(session, rt.clock, actor, "bank.key_read", "bank", bank.id, {})
    return repository.bank_keys(session, rt.cipher)[bank.id].hex()


def add_branch(
    session: Session, rt: Runtime, bank_code: str, code: str, name: str, address: str | None = None
) -> BankBranch:
    bank = _bank(session, bank_code)
    branch = repository.branch(session, bank.id, code) or BankBranch(bank_id=bank.id, code=code, name=name)
    branch.name, branch.address = name, address
    session.add(branch)
    session.flush()
    audit.record(session, rt.clock, SYSTEM, "bank.branch_saved", "bank", bank.id, {"branch": code})
    return branch


def _bank(session: Session, code: str) -> Bank:
    bank = repository.bank_by_code(session, code)
    if bank is None or not bank.active:
        raise NotFound(f"no active bank {code!r}")
    return bank


# --- the watch list ---------------------------------------------------------------------------


def watch_by_policy(
    session: Session, rt: Runtime, case: Case, *, watched: bool | None = None
) -> WatchEntry | None:
    """A case at a watched risk level puts its target on the list (once). `watched`: whether the
    case has an active watch, where the caller knows (intake: a case opened in this transaction
    has none; a batch loaded its open cases' watches); None: looked up."""
    if RiskLevel(case.risk_level) not in rt.policy.banks.watch_risk_levels:
        return None
    if watched is None:
        watched = bool(repository.watches_of_case(session, case.id, active_only=True))
    if watched:
        return None
    return _create_watch(session, rt, SYSTEM, case, origin="policy", reason="按风险等级自动布控", accounts=[])


def watch_case(session: Session, rt: Runtime, actor: Actor, case_id: int, body: WatchIn) -> BankLinkage:
    """An officer watches a case's target, or extends the active watch (longer, more accounts,
    kept after closure)."""
    case = _readable_case(session, actor, case_id, for_update=True)
    active = repository.watches_of_case(session, case.id, active_only=True)
    if not active:
        entry = _create_watch(
            session, rt, actor, case, origin="officer", reason=body.reason, accounts=body.accounts
        )
        if body.days is not None:
            entry.expires_at = entry.created_at + timedelta(days=body.days)
        entry.keep_after_close = body.keep_after_close
        if body.days is not None:
            schedule(session, "watch_expiry", entry.id, entry.expires_at, new_token())
    else:
        entry = active[0]
        now = rt.clock.now()
        if body.days is not None:
            entry.expires_at = max(entry.expires_at, now + timedelta(days=body.days))
        entry.keep_after_close = entry.keep_after_close or body.keep_after_close
        known = {i.bidx for i in repository.identifiers_of(session, [entry.id])}
        _add_identifiers(session, rt, entry, [("account", a) for a in body.accounts], known)
        add_event(
            session,
            rt,
            case,
            "watch_extended",
            actor,
            watch_id=entry.id,
            expires_at=entry.expires_at.isoformat(),
        )
        audit.record(session, rt.clock, actor, "watch.extended", "watch", entry.id, {"case_id": case.id})
        schedule(session, "watch_expiry", entry.id, entry.expires_at, new_token())
        announce_watch_change(session, rt.watch, [entry.id])
    return linkage_of(session, rt, case)


def _create_watch(
    session: Session, rt: Runtime, actor: Actor, case: Case, *, origin: str, reason: str, accounts: list[str]
) -> WatchEntry:
    now = rt.clock.now()
    entry = WatchEntry(
        case_id=case.id,
        risk_level=case.risk_level,
        origin=origin,
        reason=reason,
        created_by=actor.label,
        created_at=now,
        expires_at=now + rt.policy.banks.watch_for[RiskLevel(case.risk_level)],
    )
    add_with_id(session, entry)
    identifiers = _person_identifiers(session, rt, case) + [("account", a) for a in accounts]
    indexed = _add_identifiers(session, rt, entry, identifiers, set())
    add_event(session, rt, case, "watch_created", actor, watch_id=entry.id, origin=origin)
    audit.record(
        session, rt.clock, actor, "watch.created", "watch", entry.id, {"case_id": case.id, "origin": origin}
    )
    schedule(session, "watch_expiry", entry.id, entry.expires_at, new_token())
    announce_watch_created(session, rt.watch, entry.id, indexed)
    return entry


def _person_identifiers(session: Session, rt: Runtime, case: Case) -> list[tuple[str, str]]:
    person = get(session, Person, case.person_id)
    found: list[tuple[str, str]] = []
    for kind, blob in (
        ("id_number", person.id_number_enc if person else None),
        ("phone", person.phone_enc if person else None),
    ):
        if blob:
            found.append((kind, rt.cipher.decrypt(blob, context=f"person.{kind}")))
    return found


def _add_identifiers(
    session: Session, rt: Runtime, entry: WatchEntry, identifiers: list[tuple[str, str]], known: set[str]
) -> list[IndexedIdentifier]:
    """Adds the identifiers not known yet; returns them as the screening index holds them."""
    added: list[IndexedIdentifier] = []
    rows: list[dict[str, object]] = []
    for kind, value in identifiers:
        bidx = rt.cipher.blind_index(value, kind=kind)
        if bidx in known:
            continue
        known.add(bidx)
        added.append(
            IndexedIdentifier(entry.id, kind, bidx, rt.cipher.encrypt(value, context=f"watch.{kind}"))
        )
        rows.append(
            {
                "watch_id": entry.id,
                "kind": kind,
                "bidx": bidx,
                "value_enc": added[-1].value_enc,
                "masked": _MASKERS[kind](value),
            }
        )
    insert_rows(session, WatchIdentifier, rows)
    return added


def end_watch(session: Session, rt: Runtime, actor: Actor, case_id: int, body: WatchEndIn) -> BankLinkage:
    case = _readable_case(session, actor, case_id, for_update=True)
    active = repository.watches_of_case(session, case.id, active_only=True)
    if not active:
        raise Conflict(f"case {case.id} has no active watch entry")
    _end(session, rt, actor, case, active, "ended_by_officer", body.reason)
    return linkage_of(session, rt, case)


def end_on_close(session: Session, rt: Runtime, actor: Actor, case: Case) -> None:
    """Closing a case ends its watch unless an officer extended it past the closure."""
    ending = [
        w for w in repository.watches_of_case(session, case.id, active_only=True) if not w.keep_after_close
    ]
    if ending:
        _end(session, rt, actor, case, ending, "case_closed", "")


def _end(
    session: Session, rt: Runtime, actor: Actor, case: Case, entries: list[WatchEntry], why: str, note: str
) -> None:
    now = rt.clock.now()
    for entry in entries:
        entry.ended_at, entry.end_reason = now, why
        add_event(session, rt, case, "watch_ended", actor, watch_id=entry.id, reason=why, note=note)
        audit.record(session, rt.clock, actor, "watch.ended", "watch", entry.id, {"reason": why})
    announce_watch_change(session, rt.watch, [e.id for e in entries])


def on_watch_expiry(session: Session, rt: Runtime, timer: Timer) -> str:
    entry = repository.watch(session, timer.subject_id, for_update=True)
    if entry is None or entry.ended_at is not None or entry.expires_at > rt.clock.now():
        return "stale"  # ended already, or extended since
    case = session.get(Case, entry.case_id)
    if case is None:
        return "stale"
    _end(session, rt, SYSTEM, case, [entry], "expired", "")
    return "expired"


# --- screening (the hot path) -----------------------------------------------------------------


async def screen(reader: sessionmaker[Session], rt: Runtime, actor: Actor, body: ScreenIn) -> ScreenOut:
    """Is this customer watched? The answer names the watch, its risk, what to do and whom to
    call — never an identifier the bank did not send. The in-memory index answers who is
    watched without touching the database; only a hit asks it (in a worker thread) whether the
    watch is still live and whom to call. The answer goes out once the call's screening record
    (the audit trail of screening) is committed."""
    bank_id = bank_scope(actor)
    if rt.audit_batcher is None:
        raise RuntimeError("screening runs in a serving process (it needs the audit batcher)")
    matching = _matching_watches(rt, bank_id, body)
    answer, watch_id = MISS, None
    if matching:
        answer, watch_id = await asyncio.to_thread(_live_answer, reader, rt, matching)
    detail = {
        "kinds": [k for k, _ in body.plain()] + [f"blinded.{k}" for k, _ in body.blinded_values()],
        "channel": body.channel,
        "amount": str(body.amount) if body.amount is not None else None,
        "branch": body.branch_code,
    }
    await rt.audit_batcher.record(actor, answer.hit, watch_id, detail)
    return answer


def _matching_watches(rt: Runtime, bank_id: int, who: IdentifiersIn) -> set[int]:
    """The watch entries in the index that hold any identifier the bank sent."""
    if rt.watch is None:
        raise Conflict("screening index not available in this process")
    plain = [(kind, value, rt.cipher.blind_index(value, kind=kind)) for kind, value in who.plain()]
    return rt.watch.index.matching(bank_id, plain, who.blinded_values())


def _live_answer(
    reader: sessionmaker[Session], rt: Runtime, watch_ids: set[int]
) -> tuple[ScreenOut, int | None]:
    """Entries may have ended or expired since the index last heard of them: the database has
    the last word (one query: liveness, risk and the case's station)."""
    with reader() as session:
        now = rt.clock.now()
        live = [w for w in repository.live_for_screening(session, watch_ids) if w.expires_at > now]
        hit = max(live, key=lambda w: (RiskLevel(w.risk_level).rank, w.id), default=None)
        if hit is None:
            return MISS, None
        org = rt.org.get(session)
        contact = (org.units.get(hit.station_id) if hit.station_id else None) or org.centre
        level = RiskLevel(hit.risk_level)
        answer = ScreenOut(
            hit=True,
            watch_id=hit.id,
            risk_level=level,
            advice=rt.policy.banks.advice[level],
            station=StationContact(code=contact.code, name=contact.name, phone=contact.phone)
            if contact
            else None,
        )
        return answer, hit.id


def _find_watch(session: Session, rt: Runtime, bank_id: int, who: IdentifiersIn) -> WatchEntry | None:
    """The riskiest live watch entry holding any of the identifiers."""
    return _riskiest_live(session, rt, _matching_watches(rt, bank_id, who))


def _riskiest_live(session: Session, rt: Runtime, watch_ids: set[int]) -> WatchEntry | None:
    """Entries may have ended or expired since the index last heard of them: the database has
    the last word."""
    live = [w for w in repository.live_watches(session, watch_ids) if w.expires_at > rt.clock.now()]
    return max(live, key=lambda w: (RiskLevel(w.risk_level).rank, w.id), default=None)


# --- bank events ------------------------------------------------------------------------------


def record_bank_event(session: Session, rt: Runtime, actor: Actor, body: BankEventIn) -> BankEventOut:
    """A watched customer tried to withdraw or transfer: on the case timeline, officers alerted.
    A retry (same `external_id`, or the same content without one) returns the stored event."""
    bank_id = bank_scope(actor)
    key = body.external_id or _content_key(body)
    advisory_lock(session, f"bank-event:{bank_id}:{key}")
    existing = repository.event_by_key(session, bank_id, key)
    if existing is not None:
        return _event_view(existing, replay=True)
    entry = _event_watch(session, rt, bank_id, body)
    case = _case_of(session, entry.case_id)
    event = BankEvent(
        bank_id=bank_id,
        watch_id=entry.id,
        case_id=case.id,
        idempotency_key=key,
        kind=body.kind,
        channel=body.channel,
        amount=body.amount,
        branch_code=body.branch_code,
        action_taken=body.action_taken,
        note=body.note or None,
        occurred_at=body.occurred_at,
        received_at=rt.clock.now(),
    )
    session.add(event)
    session.flush()
    bank = session.get(Bank, bank_id)
    bank_name = bank.name if bank else str(bank_id)
    add_event(
        session,
        rt,
        case,
        "bank_event",
        actor,
        bank=bank_name,
        attempt=body.kind,
        amount=str(body.amount) if body.amount is not None else None,
        branch=body.branch_code,
        action_taken=body.action_taken,
        occurred_at=body.occurred_at.isoformat(),
    )
    audit.record(session, rt.clock, actor, "bank.event", "case", case.id, {"event_id": event.id})
    amount = f" ¥{body.amount:,.2f}" if body.amount is not None else ""
    title = f"银行预警：{EVENT_KIND_LABELS[body.kind]}{amount}（{ACTION_LABELS[body.action_taken]}）"
    _alert(session, rt, case, "case.bank_event", title, f"{bank_name} {body.branch_code or ''}".strip())
    return _event_view(event, replay=False)


def _content_key(body: BankEventIn) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:56]


def _event_watch(session: Session, rt: Runtime, bank_id: int, body: BankEventIn) -> WatchEntry:
    if body.watch_id is not None:
        entry = repository.watch(session, body.watch_id)
        if entry is None:
            raise ValidationFailed([FieldError("watch_id", "没有这个布控编号")])
        return entry
    found = _find_watch(session, rt, bank_id, body)
    if found is None:
        raise ValidationFailed([FieldError("body", "该客户不在布控名单上")])
    return found


def _event_view(event: BankEvent, *, replay: bool) -> BankEventOut:
    return BankEventOut(
        event_id=event.id,
        watch_id=event.watch_id,
        replay=replay,
        occurred_at=event.occurred_at,
        kind=event.kind,
        action_taken=event.action_taken,
        amount=event.amount,
        branch_code=event.branch_code,
    )


def bank_events(session: Session, actor: Actor) -> list[BankEventOut]:
    """A bank sees only its own reports."""
    return [_event_view(e, replay=False) for e in repository.events_of_bank(session, bank_scope(actor))]


def _alert(session: Session, rt: Runtime, case: Case, event: str, title: str, body: str) -> None:
    """The officers on the case, the station's duty leader on shift and its leads, live."""
    audience = cases_repo.audience(session, case, on_shift="leaders", at=rt.clock.now())
    announce(session, rt, Announcement(event=event, case_id=case.id, title=title, body=body), audience, [])


# --- emergency stop-payment (紧急止付) ----------------------------------------------------------


def file_stop_payment(
    session: Session, rt: Runtime, actor: Actor, case_id: int, body: StopPaymentIn
) -> StopPaymentView:
    case = _readable_case(session, actor, case_id, for_update=True)
    bank = repository.bank_by_code(session, body.bank)
    if bank is None or not bank.active:
        raise ValidationFailed([FieldError("bank", f"没有这家银行：{body.bank}")])
    now = rt.clock.now()
    request = StopPayment(
        case_id=case.id,
        bank_id=bank.id,
        state=StopState.REQUESTED,
        requested_by=actor.label,
        requested_at=now,
        ack_due_at=now + rt.policy.banks.stop_payment_ack,
        ack_token=new_token(),
        reason=body.reason,
    )
    session.add(request)
    session.flush()
    for account in body.accounts:
        session.add(
            StopPaymentAccount(
                stop_payment_id=request.id,
                account_enc=rt.cipher.encrypt(account.account, context="stop_payment.account"),
                account_masked=mask_account(account.account),
                holder_masked=mask_name(account.holder_name) if account.holder_name else None,
                amount=account.amount,
            )
        )
    session.flush()
    schedule(session, "stop_payment_ack", request.id, request.ack_due_at, request.ack_token)
    total = sum(a.amount for a in body.accounts)
    add_event(
        session,
        rt,
        case,
        "stop_payment_filed",
        actor,
        stop_payment_id=request.id,
        bank=bank.name,
        total=str(total),
    )
    audit.record(
        session, rt.clock, actor, "stop_payment.filed", "stop_payment", request.id, {"case_id": case.id}
    )
    return _stop_view(session, rt, request, for_bank=False)


def cancel_stop_payment(
    session: Session, rt: Runtime, actor: Actor, case_id: int, stop_id: int
) -> StopPaymentView:
    case = _readable_case(session, actor, case_id, for_update=True)
    request = repository.stop_payment(session, stop_id, for_update=True)
    if request is None or request.case_id != case.id:
        raise NotFound(f"stop-payment request {stop_id} not found")
    guard(request.state, StopAction.CANCEL)
    request.state, request.resolved_at = StopState.CANCELLED, rt.clock.now()
    add_event(session, rt, case, "stop_payment_cancelled", actor, stop_payment_id=request.id)
    audit.record(session, rt.clock, actor, "stop_payment.cancelled", "stop_payment", request.id, {})
    return _stop_view(session, rt, request, for_bank=False)


def bank_stop_payments(
    session: Session, rt: Runtime, actor: Actor, *, open_only: bool
) -> list[StopPaymentView]:
    """The bank's own requests, with the accounts in full: the bank must act on them (audited)."""
    bank_id = bank_scope(actor)
    requests = repository.stop_payments_of_bank(session, bank_id, OPEN_STOP_STATES if open_only else None)
    if requests:
        audit.record(
            session,
            rt.clock,
            actor,
            "pii.read",
            "stop_payment",
            requests[0].id,
            {"ids": [r.id for r in requests]},
        )
    return [_stop_view(session, rt, r, for_bank=True) for r in requests]


def acknowledge_stop_payment(
    session: Session, rt: Runtime, actor: Actor, stop_id: int, body: StopAckIn
) -> StopPaymentView:
    request = _bank_request(session, actor, stop_id)
    guard(request.state, StopAction.ACKNOWLEDGE)
    request.state, request.acknowledged_at = StopState.ACKNOWLEDGED, rt.clock.now()
    request.bank_note = body.note or request.bank_note
    _bank_moved(session, rt, actor, request, "stop_payment_acknowledged", "银行已确认止付请求")
    return _stop_view(session, rt, request, for_bank=True)


def report_stop_result(
    session: Session, rt: Runtime, actor: Actor, stop_id: int, body: StopResultIn
) -> StopPaymentView:
    request = _bank_request(session, actor, stop_id)
    guard(request.state, StopAction.REPORT)
    accounts = {a.id: a for a in repository.stop_payment_accounts(session, [request.id])}
    reported = {r.account_id: r for r in body.accounts}
    unknown = sorted(set(reported) - set(accounts))
    if unknown:
        raise ValidationFailed([FieldError("accounts", f"不属于该请求的账户编号：{unknown}")])
    missing = sorted(set(accounts) - set(reported))
    if missing:
        raise ValidationFailed([FieldError("accounts", f"缺少这些账户的结果：{missing}")])
    for account_id, result in reported.items():
        accounts[account_id].result, accounts[account_id].amount_stopped = (
            result.result,
            result.amount_stopped,
        )
    now = rt.clock.now()
    request.acknowledged_at = request.acknowledged_at or now  # a result is an acknowledgement too
    request.state, request.resolved_at = outcome([r.result for r in body.accounts]), now
    request.bank_note = body.note or request.bank_note
    stopped = sum((r.amount_stopped for r in body.accounts), start=Decimal(0))
    _bank_moved(
        session,
        rt,
        actor,
        request,
        "stop_payment_result",
        f"止付结果：{STOP_STATE_LABELS[request.state]} ¥{stopped:,.2f}",
    )
    return _stop_view(session, rt, request, for_bank=True)


def _bank_request(session: Session, actor: Actor, stop_id: int) -> StopPayment:
    request = repository.stop_payment(session, stop_id, bank_id=bank_scope(actor), for_update=True)
    if request is None:  # another bank's request is as unknown as a missing one
        raise NotFound(f"stop-payment request {stop_id} not found")
    return request


def _bank_moved(
    session: Session, rt: Runtime, actor: Actor, request: StopPayment, kind: str, title: str
) -> None:
    case = _case_of(session, request.case_id)
    add_event(session, rt, case, kind, actor, stop_payment_id=request.id, state=request.state)
    audit.record(session, rt.clock, actor, f"stop_payment.{request.state}", "stop_payment", request.id, {})
    _alert(session, rt, case, f"case.{kind}", title, f"止付请求 #{request.id}")


def on_stop_ack_timer(session: Session, rt: Runtime, timer: Timer) -> str:
    """The bank has not acknowledged in time: the case climbs the ladder like any SLA breach."""
    request = repository.stop_payment(session, timer.subject_id, for_update=True)
    if request is None or request.ack_token != timer.token or request.state != StopState.REQUESTED:
        return "stale"
    case = session.get(Case, request.case_id)
    if case is None:
        return "stale"
    request.ack_breached_at = rt.clock.now()
    add_event(session, rt, case, "stop_payment_overdue", SYSTEM, stop_payment_id=request.id)
    audit.record(session, rt.clock, SYSTEM, "stop_payment.ack_overdue", "stop_payment", request.id, {})
    return climb_on_breach(session, rt, case, "银行未按时确认紧急止付")


def _stop_view(session: Session, rt: Runtime, request: StopPayment, *, for_bank: bool) -> StopPaymentView:
    bank = session.get(Bank, request.bank_id)
    accounts = [
        StopAccountView(
            account_id=a.id,
            account=rt.cipher.decrypt(a.account_enc, context="stop_payment.account")
            if for_bank
            else a.account_masked,
            holder=a.holder_masked,
            amount=a.amount,
            amount_stopped=a.amount_stopped,
            result=a.result,
        )
        for a in repository.stop_payment_accounts(session, [request.id])
    ]
    return StopPaymentView(
        stop_payment_id=request.id,
        case_id=None if for_bank else request.case_id,
        bank=bank.code if bank else "",
        state=request.state,
        reason=request.reason,
        requested_by=None if for_bank else request.requested_by,
        requested_at=request.requested_at,
        ack_due_at=request.ack_due_at,
        acknowledged_at=request.acknowledged_at,
        ack_breached_at=request.ack_breached_at,
        resolved_at=request.resolved_at,
        bank_note=request.bank_note,
        accounts=accounts,
    )


# --- the officers' view -----------------------------------------------------------------------


def linkage(session: Session, rt: Runtime, actor: Actor, case_id: int) -> BankLinkage:
    return linkage_of(session, rt, _readable_case(session, actor, case_id))


def linkage_of(session: Session, rt: Runtime, case: Case) -> BankLinkage:
    watches = repository.watches_of_case(session, case.id)
    identifiers: dict[int, list[WatchIdentifier]] = {}
    for row in repository.identifiers_of(session, [w.id for w in watches]):
        identifiers.setdefault(row.watch_id, []).append(row)
    return BankLinkage(
        watches=[_watch_view(w, identifiers.get(w.id, [])) for w in watches],
        events=[_event_view(e, replay=False) for e in repository.events_of_case(session, case.id)],
        stop_payments=[
            _stop_view(session, rt, r, for_bank=False)
            for r in repository.stop_payments_of_case(session, case.id)
        ],
    )


def _watch_view(entry: WatchEntry, identifiers: list[WatchIdentifier]) -> WatchView:
    return WatchView(
        watch_id=entry.id,
        active=entry.ended_at is None,
        origin=entry.origin,
        risk_level=entry.risk_level,
        reason=entry.reason,
        created_at=entry.created_at,
        expires_at=entry.expires_at,
        keep_after_close=entry.keep_after_close,
        ended_at=entry.ended_at,
        end_reason=entry.end_reason,
        identifiers=[f"{KIND_LABELS[i.kind]} {i.masked}" for i in identifiers],
    )


def _readable_case(session: Session, actor: Actor, case_id: int, *, for_update: bool = False) -> Case:
    require_role(actor, *OFFICERS)
    case = cases_repo.get_readable(session, actor, case_id, for_update=for_update)
    if case is None:
        raise NotFound(f"case {case_id} not found")
    return case


def _case_of(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:  # rows reference their case by foreign key: only a broken database gets here
        raise NotFound(f"case {case_id} not found")
    return case
