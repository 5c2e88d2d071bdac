"""helpers registry and help requests

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "guards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name_enc", sa.LargeBinary(), nullable=False),
        sa.Column("name_masked", sa.String(length=64), nullable=False),
        sa.Column("phone_enc", sa.LargeBinary(), nullable=False),
        sa.Column("phone_bidx", sa.String(length=64), nullable=False),
        sa.Column("phone_masked", sa.String(length=32), nullable=False),
        sa.Column("employer", sa.String(length=200), nullable=True),
        sa.Column("employer_key", sa.String(length=200), nullable=True),
        sa.Column("workplace", sa.String(length=200), nullable=True),
        sa.Column("community", sa.String(length=100), nullable=True),
        sa.Column("community_key", sa.String(length=100), nullable=True),
        sa.Column("trained", sa.Boolean(), nullable=False),
        sa.Column("consented", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_guards")),
        sa.UniqueConstraint("phone_bidx", name=op.f("uq_guards_phone_bidx")),
    )
    with op.batch_alter_table("guards", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_guards_community_key"), ["community_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_guards_employer_key"), ["employer_key"], unique=False)

    op.create_table(
        "person_contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("relation", sa.String(length=20), nullable=False),
        sa.Column("relationship", sa.String(length=50), nullable=False),
        sa.Column("name_enc", sa.LargeBinary(), nullable=False),
        sa.Column("name_masked", sa.String(length=64), nullable=False),
        sa.Column("phone_enc", sa.LargeBinary(), nullable=False),
        sa.Column("phone_bidx", sa.String(length=64), nullable=False),
        sa.Column("phone_masked", sa.String(length=32), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("added_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_person_contacts_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_person_contacts_person_id_persons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_contacts")),
        sa.UniqueConstraint("person_id", "phone_bidx", name=op.f("uq_person_contacts_person_id_phone_bidx")),
    )
    with op.batch_alter_table("person_contacts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_person_contacts_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_person_contacts_person_id"), ["person_id"], unique=False)

    op.create_table(
        "help_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("guard_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("helper_kind", sa.String(length=20), nullable=False),
        sa.Column("helper_masked", sa.String(length=64), nullable=False),
        sa.Column("phone_masked", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer", sa.String(length=24), nullable=True),
        sa.Column("answer_note", sa.Text(), nullable=False),
        sa.Column("first_to_reach", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_help_requests_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["person_contacts.id"], name=op.f("fk_help_requests_contact_id_person_contacts")
        ),
        sa.ForeignKeyConstraint(["guard_id"], ["guards.id"], name=op.f("fk_help_requests_guard_id_guards")),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], name=op.f("fk_help_requests_outbox_id_outbox")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_help_requests")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_help_requests_token_hash")),
    )
    with op.batch_alter_table("help_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_help_requests_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_help_requests_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_help_requests_guard_id"), ["guard_id"], unique=False)
        batch_op.create_index(
            "uq_help_requests_first_reach",
            ["case_id"],
            unique=True,
            sqlite_where=sa.text("first_to_reach"),
            postgresql_where=sa.text("first_to_reach"),
        )


def downgrade() -> None:
    with op.batch_alter_table("help_requests", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_help_requests_first_reach",
            sqlite_where=sa.text("first_to_reach"),
            postgresql_where=sa.text("first_to_reach"),
        )
        batch_op.drop_index(batch_op.f("ix_help_requests_guard_id"))
        batch_op.drop_index(batch_op.f("ix_help_requests_contact_id"))
        batch_op.drop_index(batch_op.f("ix_help_requests_case_id"))
    op.drop_table("help_requests")

    with op.batch_alter_table("person_contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_contacts_person_id"))
        batch_op.drop_index(batch_op.f("ix_person_contacts_case_id"))
    op.drop_table("person_contacts")

    with op.batch_alter_table("guards", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_guards_employer_key"))
        batch_op.drop_index(batch_op.f("ix_guards_community_key"))
    op.drop_table("guards")
