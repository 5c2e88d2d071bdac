"""A batch's stored warnings found in its locks' statement (PostgreSQL)

A group commit's batch takes its advisory locks (and draws its ids) in one statement, then looked
up the warnings already received under its idempotency keys in a second: a round trip per
transaction, almost always to find none. The lookup cannot be a subquery of the locking
statement: in READ COMMITTED a statement reads the snapshot taken when it started, before it
waited for the locks, and would miss the warning committed by the batch it waited for (a retry
racing its original). `quanzu_stored_warnings(locked, keys)` runs its query in a statement of its
own (a VOLATILE function's statements each take a fresh snapshot), called after the locks: it
takes their count. `keys` are `source:external_id` (a source holds no colon). SQLite needs none
of it (BEGIN IMMEDIATE serialises its writers; intake looks the warnings up itself).

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-30 02:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UPGRADE = r"""
CREATE FUNCTION quanzu_stored_warnings(locked bigint, keys text[]) RETURNS SETOF integer
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RETURN QUERY
    SELECT w.id FROM unnest(keys) AS k(key)
    JOIN warnings w ON w.source = split_part(k.key, ':', 1)
                   AND w.external_id = substr(k.key, strpos(k.key, ':') + 1);
END $$;
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_UPGRADE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION quanzu_stored_warnings(bigint, text[])")
