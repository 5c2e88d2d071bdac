"""Queries of the police–bank linkage. What a bank system may touch is scoped by its bank id
(`auth.scoping.bank_scope`); what an officer may touch follows the case (`cases.repository`)."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from quanzu.banks.index import IndexedIdentifier
from quanzu.kit.crypto import PiiCipher
from quanzu.models.banks import (
    Bank,
    BankBranch,
    BankEvent,
    StopPayment,
    StopPaymentAccount,
    WatchEntry,
    WatchIdentifier,
)
from quanzu.models.cases import Case

KEY_CONTEXT = "bank.blinding_key"


def bank_keys(session: Session, cipher: PiiCipher) -> dict[int, bytes]:
    rows = session.execute(select(Bank.id, Bank.blinding_key_enc).where(Bank.active))
    return {bank_id: base64.b64decode(cipher.decrypt(enc, context=KEY_CONTEXT)) for bank_id, enc in rows}


def active_identifiers(session: Session, watch_ids: Iterable[int] | None = None) -> list[IndexedIdentifier]:
    stmt = (
        select(
            WatchIdentifier.watch_id, WatchIdentifier.kind, WatchIdentifier.bidx, WatchIdentifier.value_enc
        )
        .join(WatchEntry, WatchEntry.id == WatchIdentifier.watch_id)
        .where(WatchEntry.ended_at.is_(None))
    )
    if watch_ids is None:  # the whole index: streamed
        rows = session.execute(stmt.execution_options(yield_per=10_000))
    else:
        # A refresh after every warning that starts a watch, in every serving process: through
        # Core, with neither the ORM's execution path nor a server-side cursor (yield_per).
        rows = session.connection().execute(stmt.where(WatchIdentifier.watch_id.in_(list(watch_ids))))
    return [IndexedIdentifier(w, k, b, e) for w, k, b, e in rows]


def bank_by_code(session: Session, code: str) -> Bank | None:
    return session.scalars(select(Bank).where(Bank.code == code)).first()


def banks(session: Session) -> list[Bank]:
    return list(session.scalars(select(Bank).order_by(Bank.code)))


def branch(session: Session, bank_id: int, code: str) -> BankBranch | None:
    return session.scalars(
        select(BankBranch).where(BankBranch.bank_id == bank_id, BankBranch.code == code)
    ).first()


def live_watches(session: Session, watch_ids: Iterable[int]) -> list[WatchEntry]:
    ids = list(watch_ids)
    if not ids:
        return []
    return list(
        session.scalars(select(WatchEntry).where(WatchEntry.id.in_(ids), WatchEntry.ended_at.is_(None)))
    )


class LiveWatch(NamedTuple):
    id: int
    risk_level: str
    expires_at: datetime
    station_id: int | None  # the case's station: whom the bank calls


def live_for_screening(session: Session, watch_ids: Iterable[int]) -> list[LiveWatch]:
    """`live_watches` with the case's station, as plain rows in one query (a screening hit)."""
    ids = list(watch_ids)
    if not ids:
        return []
    stmt = (
        select(WatchEntry.id, WatchEntry.risk_level, WatchEntry.expires_at, Case.station_id)
        .join(Case, Case.id == WatchEntry.case_id)
        .where(WatchEntry.id.in_(ids), WatchEntry.ended_at.is_(None))
    )
    return [LiveWatch(*row) for row in session.execute(stmt)]


def identifiers_of(session: Session, watch_ids: list[int]) -> list[WatchIdentifier]:
    if not watch_ids:
        return []
    return list(session.scalars(select(WatchIdentifier).where(WatchIdentifier.watch_id.in_(watch_ids))))


def watches_of_case(session: Session, case_id: int, *, active_only: bool = False) -> list[WatchEntry]:
    stmt = select(WatchEntry).where(WatchEntry.case_id == case_id)
    if active_only:
        stmt = stmt.where(WatchEntry.ended_at.is_(None))
    return list(session.scalars(stmt.order_by(WatchEntry.id)))


def watch(session: Session, watch_id: int, *, for_update: bool = False) -> WatchEntry | None:
    stmt = select(WatchEntry).where(WatchEntry.id == watch_id)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def event_by_key(session: Session, bank_id: int, key: str) -> BankEvent | None:
    return session.scalars(
        select(BankEvent).where(BankEvent.bank_id == bank_id, BankEvent.idempotency_key == key)
    ).first()


def events_of_bank(session: Session, bank_id: int, limit: int = 100) -> list[BankEvent]:
    stmt = select(BankEvent).where(BankEvent.bank_id == bank_id).order_by(BankEvent.id.desc()).limit(limit)
    return list(session.scalars(stmt))


def events_of_case(session: Session, case_id: int) -> list[BankEvent]:
    return list(session.scalars(select(BankEvent).where(BankEvent.case_id == case_id).order_by(BankEvent.id)))


def stop_payment(
    session: Session, stop_id: int, *, bank_id: int | None = None, for_update: bool = False
) -> StopPayment | None:
    stmt = select(StopPayment).where(StopPayment.id == stop_id)
    if bank_id is not None:
        stmt = stmt.where(StopPayment.bank_id == bank_id)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def stop_payments_of_case(session: Session, case_id: int) -> list[StopPayment]:
    return list(
        session.scalars(select(StopPayment).where(StopPayment.case_id == case_id).order_by(StopPayment.id))
    )


def stop_payments_of_bank(
    session: Session, bank_id: int, states: Iterable[str] | None = None
) -> list[StopPayment]:
    stmt = select(StopPayment).where(StopPayment.bank_id == bank_id)
    if states is not None:
        stmt = stmt.where(StopPayment.state.in_(list(states)))
    return list(session.scalars(stmt.order_by(StopPayment.id.desc()).limit(200)))


def stop_payment_accounts(session: Session, stop_ids: list[int]) -> list[StopPaymentAccount]:
    if not stop_ids:
        return []
    stmt = select(StopPaymentAccount).where(StopPaymentAccount.stop_payment_id.in_(stop_ids))
    return list(session.scalars(stmt.order_by(StopPaymentAccount.id)))


def banks_by_ids(session: Session, ids: set[int]) -> dict[int, Bank]:
    if not ids:
        return {}
    return {b.id: b for b in session.scalars(select(Bank).where(Bank.id.in_(ids)))}
