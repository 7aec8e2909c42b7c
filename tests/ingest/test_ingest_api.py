"""The ingest API through HTTP: counts, duplicates, partial batches, bodies, validation."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from decimal import Decimal

from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from metricx.facts.tables import MetricFact
from metricx.facts.types import FLAG_CLICKS_OVER_IMPRESSIONS
from metricx.models import Entity, FailedRecord
from metricx.runtime import Runtime
from tests.factories import make_keyed_workspace
from tests.ingest.helpers import fact, ingest, ingest_url, make_connection


def facts_of(db: Session, workspace_id: object) -> list[MetricFact]:
    db.expire_all()
    return list(
        db.scalars(
            select(MetricFact)
            .where(MetricFact.workspace_id == workspace_id)
            .order_by(MetricFact.event_at)
        )
    )


def test_new_facts_are_inserted_and_entities_created(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db)
    r = ingest(client, ws, [fact("ad-1"), fact("ad-2")])
    assert r.status_code == 200
    body = r.json()
    assert (body["inserted"], body["updated"], body["unchanged"], body["failed"]) == (2, 0, 0, 0)
    assert body["entities_created"] == 2 and body["errors"] == [] and body["status"] == "success"
    rows = facts_of(db, ws.workspace.id)
    assert {r.spend for r in rows} == {Decimal("12.5")}
    assert all(r.event_at.isoformat() == "2026-01-05T10:00:00+00:00" for r in rows)


def test_reingest_updates_in_place_and_identical_is_unchanged(
    client: TestClient, db: Session
) -> None:
    ws = make_keyed_workspace(db)
    ingest(client, ws, [fact("ad-1"), fact("ad-2")])
    body = ingest(client, ws, [fact("ad-1", spend="20"), fact("ad-2")]).json()
    assert (body["inserted"], body["updated"], body["unchanged"]) == (0, 1, 1)
    assert body["entities_created"] == 0
    rows = facts_of(db, ws.workspace.id)
    assert len(rows) == 2
    assert sorted(r.spend for r in rows) == [Decimal("12.5"), Decimal("20")]


def test_duplicates_in_one_batch_last_wins(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db)
    body = ingest(client, ws, [fact(spend="1"), fact(spend="2"), fact(spend="3")]).json()
    assert (body["inserted"], body["duplicates"]) == (1, 2)
    assert [r.spend for r in facts_of(db, ws.workspace.id)] == [Decimal("3")]


def test_bad_record_does_not_sink_its_batch(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db)
    bad = fact("ad-2", impressions=-5)
    r = ingest(client, ws, [fact("ad-1"), bad, fact("ad-3")])
    body = r.json()
    assert r.status_code == 200 and body["status"] == "partial"
    assert (body["inserted"], body["failed"]) == (2, 1)
    assert body["errors"] == [
        {"index": 1, "field": "impressions", "reason": "must not be negative", "code": "invalid"}
    ]
    assert len(facts_of(db, ws.workspace.id)) == 2
    listed = client.get(
        f"/api/v1/workspaces/{ws.workspace.id}/metrics/failed-records",
        params={"import_id": body["import_id"]},
        headers=ws.headers,
    ).json()
    assert len(listed) == 1
    assert listed[0]["payload"] == bad and listed[0]["record_index"] == 1
    assert listed[0]["status"] == "pending"
    imp = client.get(
        f"/api/v1/workspaces/{ws.workspace.id}/metrics/imports/{body['import_id']}",
        headers=ws.headers,
    ).json()
    assert (imp["status"], imp["received"], imp["inserted"], imp["failed"]) == ("partial", 3, 2, 1)


def test_all_records_failing_is_a_422_with_the_answer(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db)
    r = ingest(client, ws, [fact(event_at="2026-01-05T10:00:00")])
    assert r.status_code == 422
    assert r.json()["status"] == "failed"
    assert r.json()["errors"][0]["field"] == "event_at"
    assert "naive" in r.json()["errors"][0]["reason"]
    assert db.scalar(select(FailedRecord).where(FailedRecord.workspace_id == ws.workspace.id))


def test_replay_of_a_fixed_failed_record(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db)
    ingest(client, ws, [fact("ad-1"), fact("ad-2", currency="XYZ")])
    base = f"/api/v1/workspaces/{ws.workspace.id}/metrics/failed-records"
    [failed] = client.get(base, params={"status": "pending"}, headers=ws.headers).json()
    again = client.post(f"{base}/{failed['id']}/replay", headers=ws.headers)
    assert again.status_code == 422
    assert again.json()["failed_record"]["status"] == "pending"
    fixed = client.post(
        f"{base}/{failed['id']}/replay",
        headers=ws.headers,
        json={"record": fact("ad-2", currency="USD")},
    )
    assert fixed.status_code == 200
    assert fixed.json()["result"]["inserted"] == 1
    assert fixed.json()["failed_record"]["status"] == "replayed"
    assert (
        fixed.json()["failed_record"]["replayed_import_id"] == fixed.json()["result"]["import_id"]
    )
    assert len(facts_of(db, ws.workspace.id)) == 2
    twice = client.post(f"{base}/{failed['id']}/replay", headers=ws.headers)
    assert twice.status_code == 409
    assert client.get(base, params={"status": "pending"}, headers=ws.headers).json() == []


def test_idempotent_retry_returns_first_answer(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db)
    headers = {"Idempotency-Key": "batch-42"}
    first = ingest(client, ws, [fact("ad-1")], headers=headers)
    retry = ingest(client, ws, [fact("ad-1")], headers=headers)
    assert retry.status_code == 200 and retry.json() == first.json()
    assert retry.json()["inserted"] == 1
    imports = client.get(
        f"/api/v1/workspaces/{ws.workspace.id}/metrics/imports", headers=ws.headers
    ).json()
    assert len(imports) == 1
    other = ingest(client, ws, [fact("ad-1", spend="99")], headers=headers)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert [f.spend for f in facts_of(db, ws.workspace.id)] == [Decimal("12.5")]


def test_gzip_json_body(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db)
    raw = gzip.compress(json.dumps({"records": [fact("ad-1"), fact("ad-2")]}).encode())
    r = client.post(
        ingest_url(ws.workspace.id),
        content=raw,
        headers={**ws.headers, "Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert r.status_code == 200 and r.json()["inserted"] == 2


def test_ndjson_stream_in_chunks_gzipped(client: TestClient, db: Session, runtime: Runtime) -> None:
    runtime.settings.ingest_chunk_records = 3
    ws = make_keyed_workspace(db)
    lines = [json.dumps(fact(f"ad-{i}")).encode() for i in range(10)]
    lines.insert(4, b"{not json")
    payload = gzip.compress(b"\n".join(lines) + b"\n")

    def body() -> Iterator[bytes]:
        for i in range(0, len(payload), 50):
            yield payload[i : i + 50]

    r = client.post(
        ingest_url(ws.workspace.id),
        content=body(),
        headers={**ws.headers, "Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"},
    )
    assert r.status_code == 200
    assert (r.json()["inserted"], r.json()["failed"]) == (10, 1)
    assert r.json()["errors"][0]["index"] == 4
    assert len(facts_of(db, ws.workspace.id)) == 10


def test_oversized_json_body_is_413_with_the_limit(
    client: TestClient, db: Session, runtime: Runtime
) -> None:
    runtime.settings.ingest_max_json_bytes = 2000
    ws = make_keyed_workspace(db)
    r = ingest(client, ws, [fact(f"ad-{i}") for i in range(20)])
    assert r.status_code == 413
    assert "2000 bytes" in r.json()["error"]["message"]
    raw = gzip.compress(json.dumps({"records": [fact(f"ad-{i}") for i in range(20)]}).encode())
    zipped = client.post(
        ingest_url(ws.workspace.id),
        content=raw,
        headers={**ws.headers, "Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert len(raw) < 2000 and zipped.status_code == 413


def test_malformed_body_is_a_4xx_not_a_500(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db)
    url = ingest_url(ws.workspace.id)
    assert (
        client.post(
            url, content=b"{", headers={**ws.headers, "Content-Type": "application/json"}
        ).status_code
        == 422
    )
    assert (
        client.post(url, json={"rows": []}, headers=ws.headers).json()["error"]["details"][0][
            "field"
        ]
        == "records"
    )
    assert (
        client.post(
            url, content=b"x", headers={**ws.headers, "Content-Type": "text/csv"}
        ).status_code
        == 415
    )


def test_measures_must_be_finite_and_not_negative(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db)
    records = [
        fact("a", spend=-1),
        fact("b", spend="NaN"),
        fact("c", clicks="Infinity"),
        fact("d", impressions=1.5),
        fact("e", spend=10**13),
        fact("f", reach=True),
    ]
    raw = json.dumps({"records": records}).encode()
    raw = raw.replace(b'"NaN"', b"NaN")  # a literal NaN, as some JSON encoders write it
    r = client.post(
        ingest_url(ws.workspace.id),
        content=raw,
        headers={**ws.headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 422
    fields = [(e["index"], e["field"]) for e in r.json()["errors"]]
    assert fields == [
        (0, "spend"),
        (1, "spend"),
        (2, "clicks"),
        (3, "impressions"),
        (4, "spend"),
        (5, "reach"),
    ]
    assert "finite" in r.json()["errors"][1]["reason"]


def test_currency_unknown_or_contradicting_the_account(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db)
    conn = make_connection(db, ws.workspace.id, currency="EUR")
    r = client.post(
        ingest_url(ws.workspace.id),
        params={"connection_id": str(conn.id)},
        json={
            "records": [
                fact("a", currency="ZZZ"),
                fact("b", currency="USD"),
                fact("c", currency=None),
                fact("d", currency="eur"),
            ]
        },
        headers=ws.headers,
    )
    body = r.json()
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(0, "currency"), (1, "currency")]
    assert "contradicts" in body["errors"][1]["reason"]
    assert {f.currency for f in facts_of(db, ws.workspace.id)} == {"EUR"}
    plain = ingest(client, ws, [fact("e", currency=None)]).json()
    assert plain["errors"][0]["field"] == "currency"


def test_absurd_dates_are_refused(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db)
    body = ingest(
        client, ws, [fact(event_at="2099-01-01T00:00:00Z"), fact(event_at="1990-01-01T00:00:00Z")]
    ).json()
    assert [e["field"] for e in body["errors"]] == ["event_at", "event_at"]
    assert "future" in body["errors"][0]["reason"]


def test_clicks_over_impressions_are_stored_and_flagged(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db)
    body = ingest(client, ws, [fact("a", clicks=50, impressions=10), fact("b")]).json()
    assert (body["inserted"], body["flagged"], body["failed"]) == (2, 1, 0)
    flags = {f.clicks: f.flags for f in facts_of(db, ws.workspace.id)}
    assert flags[50] & FLAG_CLICKS_OVER_IMPRESSIONS and not flags[10]


def test_other_workspaces_entity_and_workspace_are_not_found(
    client: TestClient, db: Session
) -> None:
    mine, theirs = make_keyed_workspace(db), make_keyed_workspace(db)
    ingest(client, theirs, [fact("their-ad")])
    their_entity = db.scalar(select(Entity.id).where(Entity.workspace_id == theirs.workspace.id))
    body = ingest(
        client,
        mine,
        [fact(None, entity_id=str(their_entity), provider=None, level=None), fact("my-ad")],
    ).json()
    assert body["errors"] == [
        {"index": 0, "field": "entity_id", "reason": "unknown entity", "code": "not_found"}
    ]
    assert body["inserted"] == 1
    r = client.post(
        ingest_url(theirs.workspace.id), json={"records": [fact()]}, headers=mine.headers
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    other_conn = make_connection(db, theirs.workspace.id)
    r = client.post(
        ingest_url(mine.workspace.id),
        params={"connection_id": str(other_conn.id)},
        json={"records": [fact()]},
        headers=mine.headers,
    )
    assert r.status_code == 404


def test_entity_id_reference_uses_the_known_entity(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db)
    ingest(client, ws, [fact("ad-1")])
    entity = db.scalar(select(Entity.id).where(Entity.workspace_id == ws.workspace.id))
    body = ingest(
        client,
        ws,
        [
            {
                "entity_id": str(entity),
                "granularity": "hour",
                "event_at": "2026-01-05T10:00:00Z",
                "spend": 30,
                "currency": "USD",
            }
        ],
    ).json()
    assert (body["updated"], body["inserted"]) == (1, 0)


def test_client_may_not_send_natural_key(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db)
    body = ingest(client, ws, [fact(natural_key="x")]).json()
    assert body["errors"][0]["field"] == "natural_key"


def test_prometheus_metrics_count_records(
    client: TestClient, db: Session, runtime: Runtime
) -> None:
    runtime.settings.metrics_token = SecretStr("t")  # /metrics is for its bearer only
    ws = make_keyed_workspace(db)
    ingest(client, ws, [fact("a"), fact("b", spend=-1)])
    text = client.get("/metrics", headers={"Authorization": "Bearer t"}).text
    assert 'metricx_ingest_records_total{outcome="failed"}' in text
    assert "metricx_ingest_request_seconds_bucket" in text
    assert "metricx_ingest_batch_records_bucket" in text
