"""Planner statistics kept fresh for the tables facts are written to.

PostgreSQL plans a question from each table's statistics, which ANALYZE gathers. A monthly
partition starts empty and unanalyzed: the first days of a month the planner believed it held
one row and walked thousands by nested loops (a one-day ad-level question's series: 90 ms; the
question over HTTP took 103 ms, 66 ms once analyzed). Autovacuum analyzes a table once a tenth
of it has changed, but it may be off (some servers turn it off) and its first pass waits a
minute or more. So the worker analyzes, every minute, each table of metricx's schema whose
rows changed since its last analysis by at least ``share`` of its size (and by at least
``MIN_CHANGES`` rows, PostgreSQL's own threshold): with autovacuum on and keeping up, it finds
nothing to do. A floor of 500 rows left the small tables a question joins (its entities, a
month's action facts) never analyzed: with a few hundred rows taken for one, the planner read
an action-fact partition by its day index once per ad (12 ms instead of 1).

A table holding rows that was never analyzed is analyzed too, however few its rows: the
planner's guesses for it are the worst. And a sync does not wait for the minute: when it ends
it analyzes what it left stale or never analyzed. The first sync of a new install (or of a new
month) wrote into tables the planner believed empty, and for up to a minute an ad-level
question's attribution settings were read by walking the month's action facts once per ad
(85 ms instead of 1; under load, the question's tail). Never analyzed with rows is read from
the catalog (``reltuples`` -1, a non-zero size), true the moment the writer commits; the
counts of changes behind ``stale_tables`` reach the statistics system up to a second later.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

MIN_CHANGES = 50  # autovacuum_analyze_threshold's default
MOST_PER_RUN = 20  # the biggest changes first; the rest wait for the next minute

STALE_SQL = text(
    "SELECT format('%I.%I', schemaname, relname) FROM pg_stat_user_tables"
    " WHERE schemaname = current_schema()"
    " AND n_mod_since_analyze >= greatest(:floor, :share * greatest(n_live_tup, 0))"
    " ORDER BY n_mod_since_analyze DESC LIMIT :most"
)


NEVER_ANALYZED_SQL = text(
    "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c"
    " JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.reltuples < 0"
    " AND pg_relation_size(c.oid) > 0"
)


def stale_tables(session: Session, *, share: float) -> list[str]:
    """Tables (qualified, quoted) whose statistics lag their changes by ``share`` or more."""
    return list(
        session.execute(
            STALE_SQL, {"floor": MIN_CHANGES, "share": share, "most": MOST_PER_RUN}
        ).scalars()
    )


def analyze_stale_tables(session: Session, *, share: float) -> list[str]:
    """ANALYZE each stale table (``stale_tables``) and each table holding rows that was never
    analyzed; the names analyzed. ``share`` 0: none (statistics are left to autovacuum)."""
    if share <= 0:
        return []
    never = session.execute(NEVER_ANALYZED_SQL).scalars()
    analyzed = list(dict.fromkeys([*never, *stale_tables(session, share=share)]))
    for name in analyzed:
        session.execute(text(f"ANALYZE {name}"))  # names quoted by format('%I.%I')
    return analyzed
