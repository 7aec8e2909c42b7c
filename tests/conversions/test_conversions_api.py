"""Workspace conversions: create, read, change, remove; every bad input a 4xx naming its field;
workspaces never see each other's."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from metricx.models import CustomConversion
from tests.factories import KeyedWorkspace, make_keyed_workspace


def base(ws: KeyedWorkspace) -> str:
    return f"/api/v1/workspaces/{ws.workspace.id}/conversions"


def custom(db: Session, ws: KeyedWorkspace, external_id: str, name: str) -> None:
    db.add(
        CustomConversion(
            workspace_id=ws.workspace.id,
            external_id=external_id,
            account_external_id="act_1",
            name=name,
        )
    )
    db.flush()


def post(client: TestClient, ws: KeyedWorkspace, body: dict[str, Any]) -> Any:
    return client.post(base(ws), json=body, headers=ws.headers)


def test_crud_round_trip(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db)
    custom(db, ws, "777", "Thank-you page")
    r = post(
        client,
        ws,
        {
            "name": "Leads",
            "action_types": ["lead", "lead"],
            "custom_conversion_ids": ["777"],
            "value_source": "none",
        },
    )
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["action_types"] == ["lead"]
    assert made["counted_action_types"] == ["lead", "offsite_conversion.custom.777"]
    assert made["value_source"] == "none" and made["fixed_value"] is None
    one = client.get(f"{base(ws)}/{made['id']}", headers=ws.headers).json()
    assert one == made
    r = client.patch(
        f"{base(ws)}/{made['id']}",
        json={"name": "All leads", "value_source": "fixed", "fixed_value": "12.5"},
        headers=ws.headers,
    )
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["fixed_value"]) == ("All leads", "12.5")
    listed = client.get(base(ws), headers=ws.headers).json()["conversions"]
    assert [c["name"] for c in listed] == ["All leads"]
    assert client.delete(f"{base(ws)}/{made['id']}", headers=ws.headers).status_code == 204
    assert client.get(f"{base(ws)}/{made['id']}", headers=ws.headers).status_code == 404
    customs = client.get(
        f"/api/v1/workspaces/{ws.workspace.id}/custom-conversions", headers=ws.headers
    ).json()["custom_conversions"]
    assert customs[0]["action_type"] == "offsite_conversion.custom.777"
    assert customs[0]["name"] == "Thank-you page"


def test_bad_inputs_are_4xx_naming_the_field(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db)
    assert post(client, ws, {"name": "Taken", "action_types": ["lead"]}).status_code == 201
    cases = [
        ({"name": "Empty"}, 422, "action_types"),
        ({"name": "X", "action_types": ["Not A Type"]}, 422, "action_types"),
        ({"name": "X", "custom_conversion_ids": ["12a"]}, 422, "custom_conversion_ids"),
        ({"name": "X", "custom_conversion_ids": ["404"]}, 422, "custom_conversion_ids[0]"),
        ({"name": "X", "action_types": ["offsite_conversion.custom.1"]}, 422, "action_types[0]"),
        ({"name": "X", "action_types": ["lead"], "value_source": "fixed"}, 422, "fixed_value"),
        ({"name": "X", "action_types": ["lead"], "fixed_value": "3"}, 422, "fixed_value"),
        (
            {"name": "X", "action_types": ["lead"], "value_source": "fixed", "fixed_value": "-1"},
            422,
            "fixed_value",
        ),
        ({"name": "X", "action_types": ["lead"], "value_source": "guess"}, 422, "value_source"),
        ({"name": "", "action_types": ["lead"]}, 422, "name"),
        ({"name": "Taken", "action_types": ["purchase"]}, 409, "name"),
    ]
    for body, status, field in cases:
        r = post(client, ws, body)
        assert r.status_code == status, (body, r.text)
        error = r.json()["error"]
        where = error.get("details")
        text = str(where)
        assert field.split("[")[0] in text, (body, error)


def test_workspaces_never_see_each_others_conversions(client: TestClient, db: Session) -> None:
    mine, theirs = make_keyed_workspace(db), make_keyed_workspace(db)
    made = post(client, mine, {"name": "Mine", "action_types": ["lead"]}).json()
    assert client.get(f"{base(theirs)}/{made['id']}", headers=theirs.headers).status_code == 404
    assert client.get(base(theirs), headers=theirs.headers).json()["conversions"] == []
    other = client.get(f"{base(mine)}/{made['id']}", headers=theirs.headers)
    assert other.status_code == 404
    r = post(client, theirs, {"name": "Mine", "action_types": ["lead"]})
    assert r.status_code == 201  # names are unique per workspace only
