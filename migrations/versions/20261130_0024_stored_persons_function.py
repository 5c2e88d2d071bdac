"""A batch's stored persons found in its locks' statement (PostgreSQL)

A group commit's batch found its stored warnings with its locks (revision 0022), then looked up
the persons its person keys (blind indexes of ID numbers and phones) match, with their open
cases: a round trip per transaction, though most warnings are about someone never warned about
before, and then it finds nobody. `quanzu_stored_persons(locked, keys)` finds their ids in the
locks' statement, after the locks, in a statement of its own (a VOLATILE function's statements
each take a fresh snapshot, so it sees the person the batch it waited for committed), as
`intake.repository.persons_with_any` would: the persons holding one of the ID numbers, and each
phone's newest holder. The persons and their open cases are then loaded by id, and not at all
when there are none. SQLite needs none of it.

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-30 05:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UPGRADE = r"""
CREATE FUNCTION quanzu_stored_persons(locked bigint, keys text[]) RETURNS SETOF integer
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RETURN QUERY
    SELECT p.id FROM persons p WHERE p.id_number_bidx = ANY(keys)
    UNION
    SELECT h.id FROM unnest(keys) AS k(bidx),
      LATERAL (SELECT max(n.id) AS id FROM persons n WHERE n.phone_bidx = k.bidx) AS h
    WHERE h.id IS NOT NULL;
END $$;
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_UPGRADE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION quanzu_stored_persons(bigint, text[])")
