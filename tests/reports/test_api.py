"""The reports API: admins create, list, delete and try ("send now") schedules; readers
list; another workspace's key, schedule or channel is no schedule or channel here; bad input
answers 422 with the field; a channel that fails answers 502 with its reason."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from metricx.auth.schemas import ApiKeyScope
from metricx.auth.service import create_api_key
from metricx.models import NotificationChannel, ReportSchedule
from metricx.runtime import Runtime
from tests.factories import KeyedWorkspace, make_keyed_workspace
from tests.notifications.test_delivery import Receiver, receiver  # noqa: F401
from tests.reports.test_content import webhook_channel


def url(ws: KeyedWorkspace, tail: str = "") -> str:
    return f"/api/v1/workspaces/{ws.workspace.id}/reports{tail}"


def body(channel: uuid.UUID, **overrides: Any) -> dict[str, Any]:
    return {
        "name": "Monday review",
        "channel_id": str(channel),
        "frequency": "weekly",
        "weekday": "monday",
        "hour": 9,
        **overrides,
    }


def test_admins_create_list_and_delete_reports(
    client: TestClient, db: Session, runtime: Runtime
) -> None:
    ws = make_keyed_workspace(db, timezone="Europe/Berlin")
    channel = webhook_channel(db, runtime, ws, "http://127.0.0.1:9/hook")
    made = client.post(url(ws), json=body(channel), headers=ws.headers)
    assert made.status_code == 201, made.text
    report = made.json()
    assert report | {"id": None, "created_at": None} == {
        "id": None,
        "name": "Monday review",
        "channel_id": str(channel),
        "frequency": "weekly",
        "weekday": "monday",
        "hour": 9,
        "timezone": "Europe/Berlin",
        "enabled": True,
        "created_by": None,
        "created_at": None,
        "last_delivery": None,
    }
    daily = client.post(
        url(ws), json=body(channel, frequency="daily", weekday=None, hour=0), headers=ws.headers
    )
    assert daily.status_code == 201, daily.text
    listed = client.get(url(ws), headers=ws.headers).json()["reports"]
    assert {r["id"] for r in listed} == {report["id"], daily.json()["id"]}
    gone = client.delete(url(ws, f"/{report['id']}"), headers=ws.headers)
    assert gone.status_code == 204
    assert [r["id"] for r in client.get(url(ws), headers=ws.headers).json()["reports"]] == [
        daily.json()["id"]
    ]
    assert client.delete(url(ws, f"/{report['id']}"), headers=ws.headers).status_code == 404


def test_deleting_the_channel_deletes_its_reports(
    client: TestClient, db: Session, runtime: Runtime
) -> None:
    ws = make_keyed_workspace(db)
    channel = webhook_channel(db, runtime, ws, "http://127.0.0.1:9/hook")
    assert client.post(url(ws), json=body(channel), headers=ws.headers).status_code == 201
    answer = client.delete(
        f"/api/v1/workspaces/{ws.workspace.id}/notification-channels/{channel}",
        headers=ws.headers,
    )
    assert answer.status_code == 204
    db.expire_all()
    assert client.get(url(ws), headers=ws.headers).json()["reports"] == []


def test_readers_list_but_do_not_change_reports(
    client: TestClient, db: Session, runtime: Runtime
) -> None:
    ws = make_keyed_workspace(db)
    channel = webhook_channel(db, runtime, ws, "http://127.0.0.1:9/hook")
    made = client.post(url(ws), json=body(channel), headers=ws.headers).json()
    key = create_api_key(db, workspace_id=ws.workspace.id, scopes=[ApiKeyScope.READ]).key
    reader = {"Authorization": f"Bearer {key}"}
    assert client.get(url(ws), headers=reader).status_code == 200
    for answer in (
        client.post(url(ws), json=body(channel), headers=reader),
        client.delete(url(ws, f"/{made['id']}"), headers=reader),
        client.post(url(ws, f"/{made['id']}/send"), headers=reader),
    ):
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"]["code"]


def test_another_workspace_is_not_found_and_its_channel_is_no_channel_here(
    client: TestClient, db: Session, runtime: Runtime
) -> None:
    ws, other = make_keyed_workspace(db), make_keyed_workspace(db)
    theirs = webhook_channel(db, runtime, other, "http://127.0.0.1:9/hook")
    mine = webhook_channel(db, runtime, ws, "http://127.0.0.1:9/hook")
    answer = client.post(url(ws), json=body(theirs), headers=ws.headers)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["details"][0]["field"] == "channel_id"
    made = client.post(url(ws), json=body(mine), headers=ws.headers).json()
    # Their key on my workspace: 404, as a missing workspace.
    assert client.get(url(ws), headers=other.headers).status_code == 404
    assert client.post(url(ws), json=body(mine), headers=other.headers).status_code == 404
    # My schedule through their workspace's path: no such report there.
    for answer in (
        client.delete(url(other, f"/{made['id']}"), headers=other.headers),
        client.post(url(other, f"/{made['id']}/send"), headers=other.headers),
    ):
        assert answer.status_code == 404, answer.text
    assert db.get(ReportSchedule, uuid.UUID(made["id"])) is not None
    assert client.get(url(other), headers=other.headers).json()["reports"] == []


BAD = [
    ({"hour": 24}, "hour"),
    ({"hour": -1}, "hour"),
    ({"hour": "8am"}, "hour"),
    ({"hour": 2**70}, "hour"),
    ({"weekday": None}, None),  # weekly needs a weekday
    ({"frequency": "daily"}, None),  # a weekday on a daily report
    ({"frequency": "monthly"}, "frequency"),
    ({"weekday": "someday"}, "weekday"),
    ({"name": ""}, "name"),
    ({"name": "Mon\x00day"}, "name"),
    ({"name": "x" * 201}, "name"),
    ({"channel_id": "not-a-uuid"}, "channel_id"),
    ({"channel_id": str(uuid.uuid4())}, "channel_id"),
]


@pytest.mark.parametrize(("change", "field"), BAD)
def test_bad_input_answers_422(
    client: TestClient, db: Session, runtime: Runtime, change: dict[str, Any], field: str | None
) -> None:
    ws = make_keyed_workspace(db)
    channel = webhook_channel(db, runtime, ws, "http://127.0.0.1:9/hook")
    answer = client.post(url(ws), json=body(channel, **change), headers=ws.headers)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] in ("invalid_input", "validation_error")
    if field is not None:
        assert field in str(error["details"]) or field in error["message"]
    assert client.get(url(ws), headers=ws.headers).json()["reports"] == []


def test_send_now_sends_the_latest_period_and_says_when_the_channel_fails(
    client: TestClient,
    db: Session,
    runtime: Runtime,
    receiver: Receiver,  # noqa: F811
) -> None:
    ws = make_keyed_workspace(db)
    channel = webhook_channel(db, runtime, ws, receiver.url)
    made = client.post(
        url(ws), json=body(channel, frequency="daily", weekday=None), headers=ws.headers
    ).json()
    sent = client.post(url(ws, f"/{made['id']}/send"), headers=ws.headers)
    assert sent.status_code == 200, sent.text
    answer = sent.json()
    assert answer["sent"] is True and answer["period_start"] == answer["period_end"]
    [message] = receiver.received
    assert message["report"]["period"]["start"] == answer["period_start"]
    # Trying is not the period's delivery: the scheduled one still goes.
    assert client.get(url(ws), headers=ws.headers).json()["reports"][0]["last_delivery"] is None
    receiver.fail_next = 1
    failed = client.post(url(ws, f"/{made['id']}/send"), headers=ws.headers)
    assert failed.status_code == 502, failed.text
    error = failed.json()["error"]
    assert error["code"] == "upstream_error" and "503" in error["message"]
    assert receiver.url not in failed.text
    assert db.get(NotificationChannel, channel) is not None
