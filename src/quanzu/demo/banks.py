"""The demo district's banks: the local rural commercial bank and two national banks' Wujiang
branches, each with a few branches, and a bank system client for trying the screening API."""

from __future__ import annotations

from sqlalchemy.orm import Session

from quanzu.auth import service as auth
from quanzu.auth.repository import client_by_name
from quanzu.banks import repository
from quanzu.banks import service as banks
from quanzu.codes import Role
from quanzu.kit.runtime import Runtime

DEMO_BANK_CLIENT = "demo-bank"
BANKS = {
    "WJRCB": (
        "吴江农商银行",
        [("SL01", "松陵支行"), ("SZ01", "盛泽支行"), ("FH01", "汾湖支行"), ("ZZ01", "震泽支行")],
    ),
    "ICBC-WJ": ("工商银行吴江支行", [("SL01", "松陵营业部"), ("SZ01", "盛泽分理处"), ("PW01", "平望分理处")]),
    "ABC-WJ": ("农业银行吴江支行", [("SL01", "松陵营业部"), ("TL01", "同里分理处"), ("LL01", "黎里分理处")]),
}


def load_banks(session: Session, rt: Runtime) -> str | None:
    """Idempotent; returns the demo bank client's token when it was created now."""
    for code, (name, branches) in BANKS.items():
        if repository.bank_by_code(session, code) is None:
            banks.register_bank(session, rt, code, name)
        for branch_code, branch_name in branches:
            banks.add_branch(session, rt, code, branch_code, branch_name)
    if client_by_name(session, DEMO_BANK_CLIENT) is not None:
        return None
    bank = repository.bank_by_code(session, "WJRCB")
    return auth.create_client(session, rt, DEMO_BANK_CLIENT, Role.BANK, bank_id=bank.id if bank else None)
