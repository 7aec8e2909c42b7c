"""breakdown rollups by calendar month

``breakdown_rollups`` gains month rows (``span`` 31, ``day`` the month's first): the sum of the
month's day rows per level, entity, value and currency, kept by the write path and retention
as the week rows are. A reader covers a range with months, weeks and days, adding and
subtracting: 30 days read 2 to 9 rows per entity and value instead of up to 12. This fills
them from the day rows already stored.

Revision ID: 5c6d1f4b8e32
Revises: 5c5b7e3a9d21
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "5c6d1f4b8e32"
down_revision: str | None = "5c5b7e3a9d21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The rollups' summed measures as of this revision (later measures are not this one's).
_MEASURES = (
    "spend, impressions, clicks, link_clicks, conversions, leads, purchases, purchase_value,"
    " results"
)


def upgrade() -> None:
    sums = ", ".join(f"sum({m.strip()})" for m in _MEASURES.split(","))
    op.execute(
        "INSERT INTO breakdown_rollups (workspace_id, breakdown, level, span, day, entity_id,"
        f" key1, key2, currency, facts, link_n, conversions_n, results_n, {_MEASURES})"
        " SELECT workspace_id, breakdown, level, 31, date_trunc('month', day)::date, entity_id,"
        " key1, key2, currency, sum(facts), sum(link_n), sum(conversions_n), sum(results_n),"
        f" {sums} FROM breakdown_rollups WHERE span = 1"
        " GROUP BY workspace_id, breakdown, level, date_trunc('month', day), entity_id, key1,"
        " key2, currency"
    )


def downgrade() -> None:
    op.execute("DELETE FROM breakdown_rollups WHERE span = 31")
