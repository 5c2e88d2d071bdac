"""intel: scam-type suggestions and fraudster identifiers linked across cases

Fraudster contacts are stored encrypted with a blind index (quanzu.models.intel); a sighting ties
one identifier to one case.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fraud_identifiers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value_bidx", sa.String(length=64), nullable=False),
        sa.Column("value_enc", sa.LargeBinary(), nullable=False),
        sa.Column("value_masked", sa.String(length=300), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fraud_identifiers")),
        sa.UniqueConstraint("kind", "value_bidx", name=op.f("uq_fraud_identifiers_kind_value_bidx")),
    )
    op.create_table(
        "fraud_sightings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identifier_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_fraud_sightings_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["identifier_id"],
            ["fraud_identifiers.id"],
            name=op.f("fk_fraud_sightings_identifier_id_fraud_identifiers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fraud_sightings")),
        sa.UniqueConstraint(
            "identifier_id", "case_id", name=op.f("uq_fraud_sightings_identifier_id_case_id")
        ),
    )
    with op.batch_alter_table("fraud_sightings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fraud_sightings_case_id"), ["case_id"], unique=False)

    op.create_table(
        "scam_suggestions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("scam_type", sa.String(length=32), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("model", sa.String(length=32), nullable=False),
        sa.Column("drivers", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("decided_type", sa.String(length=32), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_scam_suggestions_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scam_suggestions")),
        sa.UniqueConstraint("case_id", name=op.f("uq_scam_suggestions_case_id")),
    )


def downgrade() -> None:
    op.drop_table("scam_suggestions")
    with op.batch_alter_table("fraud_sightings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fraud_sightings_case_id"))

    op.drop_table("fraud_sightings")
    op.drop_table("fraud_identifiers")
