"""Reach and frequency over a range of days, from Meta's own deduplicated figures.

Reach is never summed (across days, ads or levels). A range's reach is what Meta answered for
that exact range (``reach_ranges``): the sync keeps the standard ranges of every account,
campaign and ad set (last 7, 14 and 30 days, this and last week, this and last month, in the
account's calendar); any other range is asked of Meta on demand by a job, and answered
``pending`` until it is there. Frequency is the same answer's impressions / reach.

Statuses: ``fresh`` (Meta's figure for the range is stored), ``pending`` (a job is fetching
it), ``unavailable`` (Meta has no such figure: ad level, hour ranges, older than 37 months).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from metricx.jobs.enqueue import defer_job
from metricx.metrics.calendar import WEEKDAYS

RANGE_TASK = "fetch_reach_range"  # sync/reach_ranges.py runs it
REACH_LEVELS = ("account", "campaign", "adset")
META_HISTORY_DAYS = 37 * 30  # Meta answers no insights older than 37 months
FRESH, PENDING, UNAVAILABLE = "fresh", "pending", "unavailable"

Range = tuple[date, date]


def standard_ranges(today: date, week_start: str = "monday") -> list[Range]:
    """The ranges the sync keeps for an account whose today is ``today``: last 7, 14 and 30
    days (whole days before today, as Meta's presets), this week and last week (weeks start
    on the workspace's week start), this month and last month."""
    yesterday = today - timedelta(days=1)
    first = WEEKDAYS.index(week_start) if week_start in WEEKDAYS else 0
    week = today - timedelta(days=(today.weekday() - first) % 7)
    month = today.replace(day=1)
    last_month_end = month - timedelta(days=1)
    ranges = [(yesterday - timedelta(days=n - 1), yesterday) for n in (7, 14, 30)] + [
        (week, today),
        (week - timedelta(days=7), week - timedelta(days=1)),
        (month, today),
        (last_month_end.replace(day=1), last_month_end),
    ]
    return list(dict.fromkeys(ranges))  # distinct, in order


@dataclass(frozen=True)
class RangeReach:
    reach: int
    impressions: int

    @property
    def frequency(self) -> float | None:
        return self.impressions / self.reach if self.reach else None


@dataclass(frozen=True)
class EntityAccount:
    """Where an entity's range reach lives: its level, connection and account entity."""

    entity_id: uuid.UUID
    level: str
    connection_id: uuid.UUID | None
    account_entity_id: uuid.UUID | None
    zone: str | None


# An account's own entity, found through the unique (workspace, provider, level, external id)
# index: the connection names its ad account.
_ACCOUNT_OF = (
    "JOIN entities a ON a.workspace_id = c.workspace_id AND a.provider = c.provider"
    " AND a.level = 'account' AND a.external_id = c.external_account_id"
)
_ACCOUNTS = text(
    f"""
    SELECT e.id, e.level, e.connection_id, c.timezone, a.id
    FROM entities e LEFT JOIN (connections c {_ACCOUNT_OF}) ON c.id = e.connection_id
    WHERE e.workspace_id = :ws AND e.id = ANY(CAST(:ids AS uuid[]))
    """
)


def entity_accounts(
    session: Session, workspace_id: uuid.UUID, entity_ids: Iterable[uuid.UUID | str]
) -> dict[str, EntityAccount]:
    ids = sorted({str(i) for i in entity_ids})
    if not ids:
        return {}
    rows = session.execute(_ACCOUNTS, {"ws": workspace_id, "ids": ids})
    return {str(r[0]): EntityAccount(r[0], str(r[1]), r[2], r[4], r[3]) for r in rows}


_ONE_ACCOUNT = text(
    f"""
    SELECT a.id, c.id, c.timezone FROM connections c {_ACCOUNT_OF}
    WHERE c.workspace_id = :ws
      AND (CAST(:conns AS uuid[]) IS NULL OR c.id = ANY(CAST(:conns AS uuid[])))
    """
)


def workspace_accounts(
    session: Session, workspace_id: uuid.UUID, connection_ids: list[uuid.UUID] | None
) -> list[EntityAccount]:
    conns = [str(c) for c in connection_ids] if connection_ids else None
    rows = session.execute(_ONE_ACCOUNT, {"ws": workspace_id, "conns": conns})
    return [EntityAccount(r[0], "account", r[1], r[0], r[2]) for r in rows]


_READ = text(
    """
    SELECT entity_id::text, since, until, reach, impressions FROM reach_ranges
    WHERE workspace_id = :ws AND entity_id = ANY(CAST(:ids AS uuid[]))
      AND since = ANY(CAST(:sinces AS date[])) AND until = ANY(CAST(:untils AS date[]))
    """
)


def stored(
    session: Session, workspace_id: uuid.UUID, keys: Iterable[tuple[uuid.UUID | str, Range]]
) -> dict[tuple[str, Range], RangeReach]:
    """(entity id, range) -> Meta's stored figure, for the asked keys that are stored."""
    wanted = {(str(e), r) for e, r in keys}
    if not wanted:
        return {}
    params = {
        "ws": workspace_id,
        "ids": sorted({e for e, _ in wanted}),
        "sinces": sorted({r[0] for _, r in wanted}),
        "untils": sorted({r[1] for _, r in wanted}),
    }
    out = {}
    for entity_id, since, until, reach, impressions in session.execute(_READ, params):
        key = (entity_id, (since, until))
        if key in wanted:
            out[key] = RangeReach(int(reach), int(impressions))
    return out


_QUEUED = text(
    "SELECT 1 FROM procrastinate_jobs WHERE queueing_lock = :lock"
    " AND status IN ('todo', 'doing') LIMIT 1"
)


def queueing_lock(connection_id: uuid.UUID, span: Range) -> str:
    return f"{RANGE_TASK}:{connection_id}:{span[0].isoformat()}:{span[1].isoformat()}"


def request_range(session: Session, connection_id: uuid.UUID, span: Range) -> None:
    """Queue the fetch of ``span``'s reach for the connection's account, campaigns and ad
    sets (committed with the caller's unit of work); a fetch already queued is left alone."""
    lock = queueing_lock(connection_id, span)
    if session.execute(_QUEUED, {"lock": lock}).first() is not None:
        return
    try:
        with session.begin_nested():
            defer_job(
                session,
                RANGE_TASK,
                {
                    "connection_id": str(connection_id),
                    "since": span[0].isoformat(),
                    "until": span[1].isoformat(),
                },
                queue="sync",
                queueing_lock=lock,
            )
    except IntegrityError:  # a concurrent request queued it first: its job answers both
        pass


@dataclass
class RangeAnswer:
    status: str | None = None
    notes: list[str] | None = None


def _window_for(
    windows: Iterable[tuple[Range, tuple[str, ...] | None]], zone: str | None
) -> Range | None:
    for span, zones in windows:
        if zones is None or zone in zones:
            return span
    return None


def attach(
    session: Session,
    workspace_id: uuid.UUID,
    *,
    windows: list[tuple[Range, tuple[str, ...] | None]],
    level: str,
    by_entity: bool,
    groups: list[dict[str, object]],
    totals: list[dict[str, object]],
    connection_ids: list[uuid.UUID] | None,
    today: date,
    entity_ids: list[uuid.UUID] | None = None,
    statuses: bool = False,
    queue: Session | None = None,
) -> RangeAnswer:
    """Put Meta's reach and frequency for the range on each group (entities of a level Meta
    reports range reach for) or on the total (one ad account in view); queue the fetch of
    ranges not stored yet. ``windows``: the range per account zone (None: every zone)."""
    notes: list[str] = []
    targets: list[tuple[dict[str, object], EntityAccount | None]] = []
    if by_entity and level not in REACH_LEVELS:
        notes.append(
            "reach over several days is Meta's per account, campaign and ad set; "
            "it is not shown per ad"
        )
    elif by_entity:
        owners = entity_accounts(session, workspace_id, [str(g["group"]) for g in groups])
        targets = [(g, owners.get(str(g["group"]))) for g in groups]
    # The total: the account's own reach when one ad account is in view (people reached by
    # several accounts cannot be deduplicated across them); narrowed to one campaign or ad set
    # (a drill-down), that one's; narrowed otherwise (several entities, a status), none.
    accounts = workspace_accounts(session, workspace_id, connection_ids)
    only = entity_accounts(session, workspace_id, entity_ids or [])
    if entity_ids or statuses:
        one = next(iter(only.values())) if len(only) == 1 and not statuses else None
        if one is not None and one.level in REACH_LEVELS and len(totals) == 1:
            targets.append((totals[0], one))
        elif totals:
            notes.append(
                "reach is not shown for the total of a filtered selection (Meta deduplicates "
                "people per account, campaign and ad set)"
            )
    elif len(accounts) == 1 and len(totals) == 1:
        targets.append((totals[0], accounts[0]))
    elif len(accounts) > 1 and not by_entity:
        notes.append(
            "reach is not shown for several ad accounts together (Meta deduplicates people "
            "per account)"
        )
    if not targets:
        return RangeAnswer(UNAVAILABLE if by_entity else None, notes)
    wanted: list[tuple[uuid.UUID, Range]] = []
    spans: dict[int, Range] = {}
    for i, (_, owner) in enumerate(targets):
        if owner is None or owner.account_entity_id is None:
            continue
        span = _window_for(windows, owner.zone)
        if span is None:
            continue
        spans[i] = span
        wanted += [(owner.entity_id, span), (owner.account_entity_id, span)]
    found = stored(session, workspace_id, wanted)
    pending: set[tuple[uuid.UUID, Range]] = set()
    too_old = False
    shown = 0
    for i, (row, owner) in enumerate(targets):
        span = spans.get(i)
        if span is None or owner is None or owner.account_entity_id is None:
            continue
        figure = found.get((str(owner.entity_id), span))
        if figure is not None:
            row["reach"], row["frequency"] = figure.reach, figure.frequency
            shown += 1
        elif (today - span[0]).days > META_HISTORY_DAYS:
            too_old = True
        elif (str(owner.account_entity_id), span) not in found and owner.connection_id:
            pending.add((owner.connection_id, span))
    for connection_id, span in sorted(pending, key=str):
        request_range(queue or session, connection_id, span)
    if pending:
        notes.append(
            "reach for this range is being fetched from Meta (it is never a sum of days): "
            "ask again shortly"
        )
        return RangeAnswer(PENDING, notes)
    if too_old and not shown:
        notes.append("Meta keeps no reach older than 37 months")
    if by_entity and level not in REACH_LEVELS:
        return RangeAnswer(UNAVAILABLE, notes)
    return RangeAnswer(FRESH if shown else UNAVAILABLE, notes)
