"""Which monthly fact partitions this process knows exist, so a chunk asks the database only
about months it has not seen yet."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import date

from sqlalchemy.orm import Session

from metricx.metrics.partitions import ensure_partitions


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
        from metricx.metrics.partitions import partition_name

        # Sessions are short-lived (a request, a job): what one made stays unremembered.
        made_here: set[str] = session.info.setdefault("metricx_partitions_created", set())
        made_here |= created
        with self._lock:
            known.update(m for m in todo if partition_name(m) not in made_here)
