"""Run only by test_open_catalogue.py, in a process whose registry holds one extra measure
(``-p tests.facts.extra_measure_plugin``): the measure is ingested, rolled up, queried and
exported with no other change to metricx."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from metricx.facts import measures
from tests.factories import make_keyed_workspace
from tests.facts.extra_measure_plugin import MIGRATION
from tests.ingest.helpers import fact, ingest


def test_an_extra_measure_travels_the_whole_way(client: TestClient, db: Session) -> None:
    assert "video_30s_plays" in measures.by_name()
    for statement in MIGRATION:
        db.execute(text(statement))
    ws = make_keyed_workspace(db)
    records = [
        fact("ad-1", "2026-01-05T10:00:00Z", video_30s_plays=40),
        fact("ad-1", "2026-01-05T11:00:00Z", video_30s_plays=2),
        fact("ad-2", "2026-01-05T10:00:00Z"),  # not sent: 0, like clicks
        fact("ad-3", "2026-01-05T10:00:00Z", video_30s_plays="1.5"),  # not whole: refused
        fact("ad-4", "2026-01-05T10:00:00Z", video_30s_plays=-1),  # negative: refused
    ]
    body = ingest(client, ws, records).json()
    assert (body["inserted"], body["failed"]) == (3, 2), body
    assert {(e["index"], e["field"]) for e in body["errors"]} == {
        (3, "video_30s_plays"),
        (4, "video_30s_plays"),
    }

    stored = db.execute(
        text("SELECT sum(video_30s_plays), count(*) FROM metric_facts WHERE workspace_id = :ws"),
        {"ws": ws.workspace.id},
    ).one()
    assert (stored[0], stored[1]) == (42, 3)
    rolled = db.execute(
        text(
            "SELECT sum(video_30s_plays) FROM metric_rollups WHERE workspace_id = :ws"
            " AND level = 'workspace' AND granularity = 'hour'"
        ),
        {"ws": ws.workspace.id},
    ).scalar_one()
    assert rolled == 42

    # A revision moves the rollup by its delta.
    body = ingest(client, ws, [fact("ad-1", "2026-01-05T11:00:00Z", video_30s_plays=5)]).json()
    assert body["updated"] == 1

    url = f"/api/v1/workspaces/{ws.workspace.id}/metrics/query"
    params = {"start": "2026-01-05", "end": "2026-01-05", "level": "ad", "group_by": "entity"}
    answer = client.get(url, params=params, headers=ws.headers)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert [t["video_30s_plays"] for t in result["totals"]] == [45]
    assert sorted(g["video_30s_plays"] for g in result["groups"]) == [0, 45]
    assert sum(p["video_30s_plays"] for p in result["series"]) == 45

    # The workspace level answers from the rollups.
    whole = client.get(
        url,
        params={"start": "2026-01-05", "end": "2026-01-05", "level": "workspace"},
        headers=ws.headers,
    )
    assert whole.status_code == 200, whole.text
    assert [t["video_30s_plays"] for t in whole.json()["totals"]] == [45]

    exported = client.get(url, params={**params, "format": "csv"}, headers=ws.headers)
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert "video_30s_plays" in rows[0]
    assert sum(Decimal(r["video_30s_plays"]) for r in rows) == 45

    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert "video_30s_plays" in schema["MetricFactCreate"]["properties"]
