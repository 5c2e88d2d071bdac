"""The audit chain's lock and head in one round trip (PostgreSQL)

Sealing a transaction's audit entries takes the chain's advisory lock, then reads the chain's
last entry, then inserts the new entries after it: three statements, each a round trip, in every
writing transaction (a group commit's batch of warnings included). The lock and the read cannot
share a plain statement: in READ COMMITTED a statement reads the snapshot taken when it started,
before it waited for the lock, and would miss the entries of the writer it waited for.
`quanzu_audit_chain_head(lock_key)` takes the lock, then reads the head in a statement of its
own: a VOLATILE function's statements each take a fresh snapshot, so the read sees what the
previous holder committed. SQLite needs neither (BEGIN IMMEDIATE serialises its writers).

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-29 18:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UPGRADE = r"""
CREATE FUNCTION quanzu_audit_chain_head(lock_key bigint, OUT seq integer, OUT hash varchar)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(lock_key);
  SELECT a.seq, a.hash INTO seq, hash FROM audit_log a ORDER BY a.seq DESC LIMIT 1;
END $$;
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_UPGRADE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION quanzu_audit_chain_head(bigint)")
