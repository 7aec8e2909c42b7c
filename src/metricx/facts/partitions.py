"""Monthly partitions of metric_facts, created ahead of time (and on demand for backfills),
and the cache of months this process knows exist, so a chunk asks the database only about
months it has not seen yet."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import UTC, date, datetime

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session


def month_start(d: date | datetime) -> date:
    return date(d.year, d.month, 1)


def add_months(d: date, months: int) -> date:
    index = d.year * 12 + (d.month - 1) + months
    return date(index // 12, index % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"metric_facts_p{month.year:04d}_{month.month:02d}"


def ensure_partitions(db: Session | Connection, months: Iterable[date]) -> list[str]:
    """Create the monthly partitions that are missing; return the names created.

    Rows already caught by the default partition for such a month are moved into it.
    """
    created: list[str] = []
    for month in sorted({month_start(m) for m in months}):
        made = db.execute(
            text("SELECT metricx_ensure_fact_partition(:m)"), {"m": month}
        ).scalar_one()
        if made:
            created.append(partition_name(month))
    return created


def ensure_partitions_ahead(
    db: Session | Connection, *, months_ahead: int, now: datetime | None = None
) -> list[str]:
    """The maintenance step: this month, last month and ``months_ahead`` months to come."""
    this_month = month_start(now or datetime.now(UTC))
    return ensure_partitions(db, (add_months(this_month, k) for k in range(-1, months_ahead + 1)))


def existing_partitions(db: Session | Connection) -> list[str]:
    rows = db.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'metric_facts' "
            "ORDER BY c.relname"
        )
    )
    return [r[0] for r in rows]


class PartitionCache:
    """Months known to have a partition, per database. A month is remembered only when the
    database said it already existed and this session did not create it (a partition created
    in a transaction that later rolls back must be asked about again, even after the same
    transaction's next chunk found it there); a dropped partition costs at worst rows in the
    default partition, which the next ``ensure_partitions`` moves out."""

    def __init__(self) -> None:
        self._known: dict[str, set[date]] = {}
        self._lock = threading.Lock()

    def ensure(self, session: Session, months: Iterable[date]) -> None:
        bind = session.connection()
        db = bind.engine.url.render_as_string(hide_password=True)
        with self._lock:
            known = self._known.setdefault(db, set())
            todo = sorted(set(months) - known)
        if not todo:
            return
        created = set(ensure_partitions(session, todo))
        # Sessions are short-lived (a request, a job): what one made stays unremembered.
        made_here: set[str] = session.info.setdefault("metricx_partitions_created", set())
        made_here |= created
        with self._lock:
            known.update(m for m in todo if partition_name(m) not in made_here)
