"""A workspace's rates through the API: its own first, the operator's next, never another
workspace's; bad input is a 422 with a JSON body."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from metricx.fx.formats import Rate
from metricx.fx.service import store
from tests.factories import KeyedWorkspace, make_keyed_workspace


def _url(ws: KeyedWorkspace) -> str:
    return f"/api/v1/workspaces/{ws.workspace.id}/fx/rates"


def _put(client: TestClient, ws: KeyedWorkspace, rates: list[dict[str, object]]) -> object:
    return client.put(_url(ws), json={"rates": rates}, headers=ws.headers)


def _listed(client: TestClient, ws: KeyedWorkspace) -> list[tuple[str, str, str, str]]:
    r = client.get(
        _url(ws), params={"start": "2026-11-01", "end": "2026-11-30"}, headers=ws.headers
    )
    assert r.status_code == 200, r.text
    return [(x["day"], x["currency"], x["rate"], x["scope"]) for x in r.json()["rates"]]


def test_own_rates_come_first_and_stay_in_their_workspace(client: TestClient, db: Session) -> None:
    a, b = make_keyed_workspace(db), make_keyed_workspace(db)
    store(
        db,
        [
            Rate(date(2026, 11, 2), "USD", Decimal("1.05")),
            Rate(date(2026, 11, 2), "JPY", Decimal("160")),
        ],
        workspace_id=None,
        source="file",
    )
    r = _put(client, a, [{"day": "2026-11-02", "currency": "USD", "rate": "1.1"}])
    assert r.status_code == 200, r.text
    assert r.json() == {
        "rates": 1,
        "changed": 1,
        "first_day": "2026-11-02",
        "last_day": "2026-11-02",
        "currencies": ["USD"],
    }
    assert _listed(client, a) == [
        ("2026-11-02", "JPY", "160", "operator"),
        ("2026-11-02", "USD", "1.1", "workspace"),
    ]
    assert _listed(client, b) == [
        ("2026-11-02", "JPY", "160", "operator"),
        ("2026-11-02", "USD", "1.05", "operator"),
    ]
    # Another workspace's key cannot read or change a's rates: 404 as for a missing one.
    assert (
        client.get(
            _url(a), params={"start": "2026-11-01", "end": "2026-11-02"}, headers=b.headers
        ).status_code
        == 404
    )
    r = client.put(
        _url(a),
        json={"rates": [{"day": "2026-11-02", "currency": "USD", "rate": "2"}]},
        headers=b.headers,
    )
    assert r.status_code == 404
    # The same rate again changes nothing; deleting a's own brings the operator's back.
    assert (
        _put(client, a, [{"day": "2026-11-02", "currency": "USD", "rate": "1.1"}]).json()["changed"]
        == 0
    )
    r = client.delete(
        _url(a), params={"start": "2026-11-01", "end": "2026-11-30"}, headers=a.headers
    )
    assert r.json() == {"deleted": 1}
    assert ("2026-11-02", "USD", "1.05", "operator") in _listed(client, a)


def test_bad_rates_are_refused_with_a_json_error(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db)
    for bad in (
        {"day": "2026-11-02", "currency": "USD", "rate": "0"},
        {"day": "2026-11-02", "currency": "USD", "rate": "-1"},
        {"day": "2026-11-02", "currency": "USD", "rate": "NaN"},
        {"day": "2026-11-02", "currency": "USD", "rate": "1e12"},
        {"day": "2026-11-02", "currency": "USD", "rate": "1.0000000000001"},
        {"day": "2026-11-02", "currency": "usd", "rate": "1"},
        {"day": "2026-11-02", "currency": "U\x00D", "rate": "1"},
        {"day": "1998-12-31", "currency": "USD", "rate": "1"},
        {"day": "2026-11-31", "currency": "USD", "rate": "1"},
        {"day": "2026-11-02", "currency": "EUR", "rate": "1.2"},
        {"day": "2026-11-02", "currency": "USD"},
        {"day": "2026-11-02", "currency": "USD", "rate": 1.05},  # text only: exact
    ):
        r = _put(client, ws, [bad])
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["error"]["code"]
    assert _put(client, ws, []).status_code == 422
    too_many = [{"day": "2026-11-02", "currency": "USD", "rate": "1"}] * 5001
    assert _put(client, ws, too_many).status_code == 422
    r = client.get(
        _url(ws), params={"start": "2026-11-02", "end": "2026-11-01"}, headers=ws.headers
    )
    assert r.status_code == 422
    r = client.get(
        _url(ws), params={"start": "2020-01-01", "end": "2026-11-01"}, headers=ws.headers
    )
    assert r.status_code == 422
    assert _listed(client, ws) == []
    # EUR at 1 is accepted and stores nothing (the euro's rate is always 1).
    assert (
        _put(client, ws, [{"day": "2026-11-02", "currency": "EUR", "rate": "1"}]).json()["rates"]
        == 0
    )
