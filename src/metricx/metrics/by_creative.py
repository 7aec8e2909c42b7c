"""``group_by=creative``: the ads' figures summed per creative (issue 17).

The question is asked grouped by ad (same days, filters, currency and series choice), then
each ad's row is added to its creative's (per currency): summed measures add up exactly, and
the ratios (CTR, CPA, ROAS...) are computed again from the sums, never averaged. Ads with no
synced creative are grouped under "none". Reach does not add up across ads, so creative rows
have none. The totals are the ad-level question's (the same facts).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from metricx.creatives import repository as creatives
from metricx.creatives.thumbnails import api_path
from metricx.errors import InvalidInput
from metricx.facts import measures as registry
from metricx.metrics.rows import metric_row, one_result_type, ordered, with_result_type
from metricx.metrics.schemas import (
    GroupBy,
    GroupLevel,
    GroupRow,
    MetricQuery,
    MetricQueryResult,
    SeriesOf,
    SeriesPoint,
    trusted,
    trusted_all,
)
from metricx.models import Workspace

NONE = "none"
_MEASURES = registry.rolled()


def _creative_of(
    session: Session, workspace_id: uuid.UUID, ad_ids: Iterable[str]
) -> dict[str, str]:
    ids = [uuid.UUID(a) for a in set(ad_ids) if a and a != "all"]
    found = creatives.creatives_of_ads(session, workspace_id, ids)
    return {str(eid): ext for eid, ext in found.items()}


def _add(into: dict[str, Any], row: Any) -> None:
    for m in _MEASURES:
        v = getattr(row, m.name, None)
        if v is None:
            continue
        amount: int | Decimal = int(v) if m.whole else Decimal(str(v))
        into[m.name] = into.get(m.name, 0) + amount


def answer(
    session: Session,
    workspace: Workspace,
    query: MetricQuery,
    ask: Callable[[MetricQuery], MetricQueryResult],
) -> MetricQueryResult:
    if query.actions or query.conversion:
        raise InvalidInput(
            "actions and conversion columns are not available with group_by=creative",
            details={"field": "group_by"},
        )
    ads = ask(
        query.model_copy(
            update={
                "group_by": GroupBy.ENTITY,
                "level": GroupLevel.AD,
                "limit": None,
                "sort": "spend",
            }
        )
    )
    creative_of = _creative_of(
        session,
        workspace.id,
        [g.group for g in ads.groups] + [p.group or "" for p in ads.series],
    )
    sums: dict[tuple[str, str], dict[str, Any]] = {}
    kinds: dict[tuple[str, str], list[str | None]] = {}
    marks: dict[tuple[str, str], dict[str, Any]] = {}
    for g in ads.groups:
        key = (creative_of.get(g.group, NONE), g.currency)
        _add(sums.setdefault(key, {"currency": g.currency}), g)
        kinds.setdefault(key, []).append(g.result_type)
        converted = getattr(g, "converted", None)  # trusted rows carry only what was set
        if converted is not None:
            mark = marks.setdefault(key, {"converted": False, "original_currencies": set()})
            mark["converted"] = mark["converted"] or bool(converted)
            mark["original_currencies"].update(getattr(g, "original_currencies", None) or ())
    found = creatives.by_ids(session, workspace.id, [k for k, _ in sums if k != NONE])
    groups: list[dict[str, Any]] = []
    for key, values in sums.items():
        ext = key[0]
        row = metric_row(values)
        c = found.get(ext)
        row.update(
            {
                "group": ext,
                "name": (c.name if c else None) if ext != NONE else "(no creative)",
                "level": "creative",
                "title": c.title if c else None,
                "thumbnail_url": api_path(workspace.id, ext, c.thumbnail_sha256) if c else None,
                "actions": None,
                "conversion": None,
                "attribution_mixed": None,
                "converted": None,
                "original_currencies": None,
            }
        )
        if key in marks:
            row["converted"] = marks[key]["converted"]
            row["original_currencies"] = sorted(marks[key]["original_currencies"])
        with_result_type(row, one_result_type(kinds[key]))
        groups.append(row)
    groups = ordered(
        groups,
        query.sort,
        query.descending,
        query.limit,
        lambda r: (r["group"], r["currency"]),
    )
    series = ads.series
    if query.series is SeriesOf.GROUP:
        chosen = {g["group"] for g in groups}
        points: dict[tuple[str, str, str], dict[str, Any]] = {}
        extra: dict[tuple[str, str, str], SeriesPoint] = {}
        for p in ads.series:
            ext = creative_of.get(p.group or "", NONE)
            if ext not in chosen:
                continue
            key3 = (ext, p.bucket, p.currency)
            _add(points.setdefault(key3, {"currency": p.currency}), p)
            extra.setdefault(key3, p)
        rows = []
        for key3, values in sorted(points.items()):
            row = metric_row(values)
            first = extra[key3]
            row.update(
                {
                    "bucket": first.bucket,
                    "bucket_utc": getattr(first, "bucket_utc", None),
                    "group": key3[0],
                    "actions": None,
                    "conversion": None,
                    "attribution_mixed": None,
                    "converted": getattr(first, "converted", None),
                    "original_currencies": getattr(first, "original_currencies", None),
                }
            )
            with_result_type(row, one_result_type(kinds.get((key3[0], key3[2]), [None])))
            rows.append(row)
        series = trusted_all(SeriesPoint, rows)
    notes = [n for n in ads.notes if "group by ad set" not in n]
    notes.append(
        "group_by=creative: each creative's ads summed (ratios from the sums); ads without a "
        'synced creative are in "none"; reach does not add up across ads, so it is not shown'
    )
    return ads.model_copy(
        update={
            "group_by": GroupBy.CREATIVE,
            "level": GroupLevel.AD,
            "groups": [trusted(GroupRow, g) for g in groups],
            "series": series,
            "notes": notes,
        }
    )
