"""KPI rollup triggers in PL/pgSQL, each a direct indexed lookup

Revision 0014's row triggers called `quanzu_kpi_touch`, an SQL function: PostgreSQL cannot
inline a function that updates, so it parsed and planned its UPDATE again on every call, and the
SLA clock trigger looked its case up through `id IN (CASE …, CASE …)`. Every warning fires
these triggers about six times (its case, the warning, three or four SLA clocks): measured with
pg_stat_statements at 200 warnings/s, the SLA clocks' inserts were the most expensive statement
of intake (0.77 ms each; the same insert without the trigger, 0.05 ms). In PL/pgSQL the
statements' plans are kept for the session, and the case is looked up by its key. Same
triggers, same effect: the version of every day a change touches goes up by one.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-29 01:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UPGRADE = r"""
CREATE OR REPLACE FUNCTION quanzu_kpi_touch(d date) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  UPDATE kpi_rollup_days SET version = version + 1 WHERE day = d;
END $$;

CREATE OR REPLACE FUNCTION quanzu_kpi_slas_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'DELETE' THEN
    PERFORM quanzu_kpi_touch(quanzu_kpi_local_day(c.opened_at)) FROM cases c WHERE c.id = NEW.case_id;
  END IF;
  IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.case_id <> NEW.case_id) THEN
    PERFORM quanzu_kpi_touch(quanzu_kpi_local_day(c.opened_at)) FROM cases c WHERE c.id = OLD.case_id;
  END IF;
  RETURN NULL;
END $$;
"""

# Revision 0014's definitions, as they were.
_DOWNGRADE = r"""
CREATE OR REPLACE FUNCTION quanzu_kpi_touch(d date) RETURNS void LANGUAGE sql AS
$$ UPDATE kpi_rollup_days SET version = version + 1 WHERE day = d $$;

CREATE OR REPLACE FUNCTION quanzu_kpi_slas_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM quanzu_kpi_touch(quanzu_kpi_local_day(c.opened_at)) FROM cases c
  WHERE c.id IN (CASE WHEN TG_OP <> 'INSERT' THEN OLD.case_id END,
                 CASE WHEN TG_OP <> 'DELETE' THEN NEW.case_id END);
  RETURN NULL;
END $$;
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_UPGRADE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_DOWNGRADE)
