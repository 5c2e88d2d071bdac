"""Persons by phone, newest first

Intake matches a phone alone to the newest person holding it (`intake.service`), so it looks up
only that holder: `max(id)` among a phone's holders. With the phone's index extended by the id,
that is one step down the index whatever the count; a number that many people have given (a
placeholder an upstream platform fills in, a shared line) used to load every one of them, and
their open cases, with every warning carrying it. The new index serves plain lookups by phone
as the old one did.

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-30 02:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_persons_phone_bidx_id", "persons", ["phone_bidx", "id"])
    op.drop_index("ix_persons_phone_bidx", table_name="persons")


def downgrade() -> None:
    op.create_index("ix_persons_phone_bidx", "persons", ["phone_bidx"])
    op.drop_index("ix_persons_phone_bidx_id", table_name="persons")
