"""The audit chain's lock and head in the statement that writes a transaction's rows (PostgreSQL)

At commit a transaction writes the rows it kept back in one statement, then sealing its audit
entries took the chain's lock and read its head in another (revision 0020), then inserted the
entries: three round trips. `quanzu_audit_chain_head(lock_key, written)` lets the first two share
one statement (`kit.db.read_after_kept_rows`). `written` is the count of rows the statement
inserted: it is ignored, but the function's argument is computed before the call, so the rows
are in before the lock is taken. Otherwise the statement could take the chain's lock first and
then wait on a row another transaction holds, while that one queues for the chain's lock at its
own commit. SQLite needs none of it (BEGIN IMMEDIATE serialises its writers).

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-30 05:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UPGRADE = r"""
CREATE FUNCTION quanzu_audit_chain_head(lock_key bigint, written bigint, OUT seq integer, OUT hash varchar)
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
        op.execute("DROP FUNCTION quanzu_audit_chain_head(bigint, bigint)")
