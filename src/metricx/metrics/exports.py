"""An answer as CSV: the series, one column per figure (what ``format=csv`` returns)."""

from __future__ import annotations

import csv
import io
from typing import Any

from metricx.metrics.schemas import GroupBy, MetricQueryResult

# A cell a spreadsheet would run as a formula (a campaign named "=HYPERLINK(...)"): kept as
# text by a leading apostrophe, as OWASP advises for CSV exports.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """``value``, with a text that starts like a formula made inert."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _csv(fields: dict[str, None], rows: list[dict[str, Any]]) -> str:
    """The rows under a header of ``fields`` (in their order), as CSV text."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fields), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def series_csv(result: MetricQueryResult) -> str:
    """The series as CSV, one column per figure: action columns (``actions=``) become
    ``action:<type>:count|value|cost_per``, a workspace conversion ``conversion_<figure>``."""
    names = {g.group: g.name for g in result.groups}
    rows: list[dict[str, Any]] = []
    fields: dict[str, None] = dict.fromkeys(["bucket", "group", "name"])
    for p in result.series:
        row = p.model_dump(exclude={"bucket_utc"})
        row["name"] = safe_cell(names.get(p.group or "", ""))
        for kind, figures in (row.pop("actions", None) or {}).items():
            for figure in ("count", "value", "cost_per"):
                row[f"action:{kind}:{figure}"] = figures[figure]
        conversion = row.pop("conversion", None)
        if conversion:
            for figure in ("count", "value", "cost_per", "roas"):
                row[f"conversion_{figure}"] = conversion[figure]
        fields.update(dict.fromkeys(row))
        rows.append(row)
    return _csv(fields, rows)


def breakdown_csv(result: MetricQueryResult) -> str:
    """A breakdown answer's rows as CSV: one column per breakdown field (age, gender...), then
    the group (with group_by=entity), the currency and every figure."""
    grouped = result.group_by is not GroupBy.NONE
    fields: dict[str, None] = dict.fromkeys(
        [*result.breakdown_fields, *(["group", "name"] if grouped else []), "currency"]
    )
    rows: list[dict[str, Any]] = []
    for g in result.groups:
        row = g.model_dump(
            exclude={
                "breakdown",
                "group",
                "name",
                "level",
                "title",
                "thumbnail_url",
                "actions",
                "conversion",
                "attribution_mixed",
                "converted",
                "original_currencies",
            }
        )
        row.update({k: safe_cell(v) for k, v in (g.breakdown or {}).items()})
        if grouped:
            row.update({"group": g.group, "name": safe_cell(g.name)})
        fields.update(dict.fromkeys(row))
        rows.append(row)
    return _csv(fields, rows)
