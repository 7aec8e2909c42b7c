"""Small builders for ingest tests."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.orm import Session

from metricx.models import Connection, Provider


def ingest_url(workspace_id: uuid.UUID) -> str:
    return f"/api/v1/workspaces/{workspace_id}/metrics/ingest"


def fact(ad: str = "ad-1", event_at: str = "2026-01-05T10:00:00Z", **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "external_entity_id": ad,
        "provider": "meta",
        "level": "ad",
        "granularity": "hour",
        "event_at": event_at,
        "spend": "12.50",
        "impressions": 1000,
        "clicks": 10,
        "currency": "USD",
    }
    record.update(extra)
    return {k: v for k, v in record.items() if v is not None}


def ingest(client: TestClient, ws: Any, records: list[dict[str, Any]], **kw: Any) -> Response:
    return client.post(
        ingest_url(ws.workspace.id),
        json={"records": records},
        headers={**ws.headers, **kw.pop("headers", {})},
        **kw,
    )


def make_connection(
    db: Session, workspace_id: uuid.UUID, *, timezone: str = "UTC", currency: str = "USD"
) -> Connection:
    conn = Connection(
        workspace_id=workspace_id,
        provider=Provider.META,
        external_account_id=f"act_{uuid.uuid4().int % 10**12}",
        name="account",
        currency=currency,
        timezone=timezone,
    )
    db.add(conn)
    db.flush()
    return conn
