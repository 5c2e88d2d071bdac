"""Cases by closing time

`ix_cases_closed_at`: the daily briefing's overdue SLA clocks are those of the cases still open at
the day's end (`closed_at IS NULL OR closed_at > end`). Without an index PostgreSQL started from
every unmet clock — most of them on long-closed cases, which keep their unmet clocks for good —
and probed `cases` once per clock: 1.7 s over 10 M cases. With it, a BitmapOr of the two ranges
finds the ~24,000 cases open then, and the query takes 45 ms (bench/kpis.py data, EXPLAIN ANALYZE).

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-28 17:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_cases_closed_at", "cases", ["closed_at"])


def downgrade() -> None:
    op.drop_index("ix_cases_closed_at", table_name="cases")
