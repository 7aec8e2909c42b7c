"""Input PostgreSQL cannot store is refused at the door: a NUL character in any query
parameter, JSON string or form field, and an integer past bigint, answer 422 with the error
envelope naming the field (they used to reach the database and answer 500).

A representative request of every kind goes through the HTTP app; the structural tests walk
every route, so a new endpoint with an unchecked string or an unbounded integer fails here."""

from __future__ import annotations

import re
import types
import typing
import uuid
from typing import Any

import httpx
import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from metricx.models import ApiKey, NotificationChannel, Workspace
from tests.factories import PASSWORD, make_keyed_workspace, make_user, make_workspace
from tests.security.test_isolation import _walk
from tests.web.login_form import login_form_token

NUL = "\x00"
BEYOND_BIGINT = str(2**63 + 1)


def assert_refused(answer: httpx.Response, field: str) -> None:
    assert answer.status_code == 422, (answer.status_code, answer.text)
    error = answer.json()["error"]
    assert error["code"] == "validation_error"
    fields = [d["field"] for d in error["details"]]
    assert field in fields, (field, fields)
    assert field in error["message"]


QUERIES = [
    ("alerts", {"kind": NUL}, "kind"),
    ("alerts", {"kind": f"stale{NUL}data", "limit": "5"}, "kind"),
    ("quality/findings", {"kind": NUL}, "kind"),
    ("metrics/query", {"start": "2026-01-01", "end": "2026-01-02", "provider": NUL}, "provider"),
    ("metrics/query", {"start": "2026-01-01", "end": "2026-01-02", "status": NUL}, "status"),
    ("metrics/query", {"start": "2026-01-01", "end": "2026-01-02", "timezone": NUL}, "timezone"),
    ("metrics/latest", {"timezone": NUL}, "timezone"),
    ("metrics/imports", {"offset": BEYOND_BIGINT}, "offset"),
    ("metrics/failed-records", {"offset": BEYOND_BIGINT}, "offset"),
    ("metrics/imports", {"limit": BEYOND_BIGINT}, "limit"),
]


@pytest.mark.parametrize(("path", "query", "field"), QUERIES)
def test_query_parameters_with_nul_or_past_bigint_are_refused(
    client: TestClient, db: Session, path: str, query: dict[str, str], field: str
) -> None:
    ws = make_keyed_workspace(db)
    answer = client.get(
        f"/api/v1/workspaces/{ws.workspace.id}/{path}", params=query, headers=ws.headers
    )
    assert_refused(answer, f"query.{field}")


def test_a_raw_percent_00_in_any_query_string_is_refused_even_where_unused(
    client: TestClient, db: Session
) -> None:
    ws = make_keyed_workspace(db)
    answer = client.get(f"/api/v1/workspaces/{ws.workspace.id}/alerts?x=1&nope=a%00b")
    assert_refused(answer, "query.nope")
    # A NUL in the path reaches no route either.
    assert_refused(client.get("/static/src/app.js%00.css"), "path")


def test_a_header_with_nul_is_refused_before_it_is_stored(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db)
    answer = client.post(
        f"/api/v1/workspaces/{ws.workspace.id}/metrics/ingest",
        json={"records": []},
        headers={**ws.headers, "Idempotency-Key": f"retry{NUL}1"},
    )
    assert_refused(answer, "header.idempotency-key")


def test_a_lone_surrogate_in_json_is_refused(client: TestClient, db: Session) -> None:
    _, headers = signed_in(client, db)
    answer = client.post(
        "/api/v1/workspaces",
        content=b'{"name": "Acme \\ud800"}',
        headers={**headers, "Content-Type": "application/json"},
    )
    assert_refused(answer, "name")


def test_the_deepest_allowed_offset_still_answers(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db)
    for path in ("metrics/imports", "metrics/failed-records"):
        answer = client.get(
            f"/api/v1/workspaces/{ws.workspace.id}/{path}",
            params={"offset": str(10**12)},
            headers=ws.headers,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json() == []


def signed_in(client: TestClient, db: Session) -> tuple[Workspace, dict[str, str]]:
    user = make_user(db)
    ws = make_workspace(db, owner=user)
    r = client.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return ws, {"X-CSRF-Token": r.json()["csrf_token"]}


CHANNEL = {"kind": "email", "name": "ops"}
EMAIL = {"host": "smtp.example.com", "sender": "m@example.com", "recipients": ["o@example.com"]}
BODIES: list[tuple[str, str, dict[str, Any], str]] = [
    ("POST", "/api/v1/workspaces", {"name": f"a{NUL}b"}, "name"),
    ("POST", "/api/v1/workspaces", {"name": "ok", "timezone": f"UTC{NUL}"}, "timezone"),
    ("PATCH", "/api/v1/workspaces/{ws}", {"name": NUL}, "name"),
    ("POST", "/api/v1/workspaces/{ws}/api-keys", {"name": f"key{NUL}"}, "name"),
    (
        "POST",
        "/api/v1/workspaces/{ws}/notification-channels",
        {**CHANNEL, "name": f"o{NUL}ps", "email": EMAIL},
        "name",
    ),
    (
        "POST",
        "/api/v1/workspaces/{ws}/notification-channels",
        {**CHANNEL, "email": {**EMAIL, "host": f"smtp{NUL}.example.com"}},
        "email.host",
    ),
    (
        "POST",
        "/api/v1/workspaces/{ws}/notification-channels",
        {**CHANNEL, "email": {**EMAIL, "recipients": ["o@example.com", f"x{NUL}@e.com"]}},
        "email.recipients.1",
    ),
    (
        "POST",
        "/api/v1/workspaces/{ws}/notification-channels",
        {**CHANNEL, "email": {**EMAIL, "username": NUL, "password": "p"}},
        "email.username",
    ),
    (
        "POST",
        "/api/v1/workspaces/{ws}/notification-channels",
        {"kind": "webhook", "name": "ops", "webhook_url": f"https://hooks.example.com/{NUL}"},
        "webhook_url",
    ),
    ("POST", "/api/v1/workspaces/{ws}/connections", {"token": f"EAA{NUL}"}, "token"),
    (
        "POST",
        "/api/v1/workspaces/{ws}/connections",
        {"token": "EAA", "accounts": [NUL]},
        "accounts.0",
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), BODIES)
def test_json_strings_with_nul_are_refused(
    client: TestClient, db: Session, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    ws, headers = signed_in(client, db)
    before = (
        db.scalar(select(func.count()).select_from(Workspace)),
        db.scalar(select(func.count()).select_from(ApiKey)),
        db.scalar(select(func.count()).select_from(NotificationChannel)),
    )
    answer = client.request(method, path.format(ws=ws.id), json=body, headers=headers)
    assert_refused(answer, field)
    after = (
        db.scalar(select(func.count()).select_from(Workspace)),
        db.scalar(select(func.count()).select_from(ApiKey)),
        db.scalar(select(func.count()).select_from(NotificationChannel)),
    )
    assert after == before


@pytest.mark.parametrize("field", ["email", "password"])
def test_api_sign_in_with_nul_is_refused(client: TestClient, db: Session, field: str) -> None:
    user = make_user(db)
    body = {"email": user.email, "password": PASSWORD, field: f"{NUL}x@example.com"}
    assert_refused(client.post("/api/v1/auth/login", json=body), field)


def test_web_sign_in_with_nul_in_the_email_is_refused(client: TestClient, db: Session) -> None:
    token = login_form_token(client)
    data = {"email": f"a{NUL}@example.com", "password": "x", "csrf_token": token}
    assert_refused(client.post("/login", data=data), "email")


def test_welcome_name_with_nul_is_refused(client: TestClient, db: Session) -> None:
    user = make_user(db)
    r = client.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD})
    csrf = r.json()["csrf_token"]
    before = db.scalar(select(func.count()).select_from(Workspace))
    answer = client.post("/welcome", data={"name": f"Acme{NUL}", "csrf_token": csrf})
    assert_refused(answer, "name")
    assert db.scalar(select(func.count()).select_from(Workspace)) == before


def test_account_time_zone_with_nul_is_refused(client: TestClient, db: Session) -> None:
    user = make_user(db)
    r = client.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD})
    answer = client.post(
        "/account", data={"timezone": f"UTC{NUL}", "csrf_token": r.json()["csrf_token"]}
    )
    assert_refused(answer, "timezone")


# ---- every route, by its declaration -------------------------------------------------------

# The validators of metricx.kit.inputs.Text and SecretText.
CHECKS = {"storable_text", "storable_secret"}


def _checked(metadata: list[Any]) -> bool:
    return any(getattr(getattr(m, "func", None), "__name__", "") in CHECKS for m in metadata)


def unchecked_strings(annotation: Any, metadata: list[Any], where: str) -> list[str]:
    """Where a string (or secret) inside ``annotation`` has no NUL check."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        inner, *extra = typing.get_args(annotation)
        return unchecked_strings(inner, [*metadata, *extra], where)
    if origin in (typing.Union, types.UnionType, list, tuple, set, frozenset):
        found: list[str] = []
        for arg in typing.get_args(annotation):
            # Field(...) metadata of an Optional[Text] belongs to the Text inside it.
            found += unchecked_strings(arg, metadata if arg is not type(None) else [], where)
        return found
    if origin is dict:
        return []  # free-form records (ingest) are checked field by field by their parser
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found = []
        for name, info in annotation.model_fields.items():
            found += unchecked_strings(info.annotation, list(info.metadata), f"{where}.{name}")
        return found
    if annotation in (str, typing.Any) or getattr(annotation, "__name__", "") == "SecretStr":
        return [] if _checked(metadata) or annotation is typing.Any else [where]
    return []


def app_routes(client: TestClient) -> list[tuple[str, APIRoute]]:
    return [(prefix + r.path, r) for prefix, r in _walk(list(client.app.routes))]  # type: ignore[attr-defined]


def body_params(dependant: Dependant) -> list[Any]:
    found = list(dependant.body_params)
    for sub in dependant.dependencies:
        found += body_params(sub)
    return found


def test_every_body_and_form_string_is_checked_for_nul(client: TestClient) -> None:
    unchecked: list[str] = []
    for path, route in app_routes(client):
        for param in body_params(route.dependant):
            info = param.field_info
            where = f"{sorted(route.methods)} {path} {param.name}"
            unchecked += unchecked_strings(info.annotation, list(info.metadata), where)
    assert not unchecked, "strings that reach the app unchecked (use kit.inputs.Text): " + str(
        unchecked
    )


def test_every_integer_query_parameter_has_an_upper_bound(client: TestClient) -> None:
    unbounded = []
    for path, ops in client.get("/openapi.json").json()["paths"].items():
        for method, op in ops.items():
            for param in op.get("parameters", []):
                schemas = [param["schema"], *param["schema"].get("anyOf", [])]
                for schema in schemas:
                    if schema.get("type") == "integer" and "maximum" not in schema:
                        unbounded.append(f"{method.upper()} {path} {param['name']}")
    assert not unbounded, unbounded


def test_every_free_text_parameter_is_documented_without_nul(client: TestClient) -> None:
    """The edge refuses NUL in any parameter (422): the document says so, else a schema-valid
    request (alerts?kind=a\x00b) is refused (the long fuzz campaign's finding)."""
    free = []
    for path, ops in client.get("/openapi.json").json()["paths"].items():
        for method, op in ops.items():
            for param in op.get("parameters", []):
                schema = param["schema"]
                for s in [schema, *schema.get("anyOf", []), schema.get("items") or {}]:
                    if s.get("type") == "string" and not {"enum", "format", "pattern"} & set(s):
                        free.append(f"{method.upper()} {path} {param['name']}")
    assert not free, free
    ws = client.get("/openapi.json").json()["paths"]["/api/v1/workspaces/{workspace_id}/alerts"]
    (kind,) = [p for p in ws["get"]["parameters"] if p["name"] == "kind"]
    assert re.fullmatch(kind["schema"]["anyOf"][0]["pattern"], "stale_data")
    assert not re.fullmatch(kind["schema"]["anyOf"][0]["pattern"], "a\x00b")


def test_a_workspace_named_normally_still_works(client: TestClient, db: Session) -> None:
    _, headers = signed_in(client, db)
    name = f"Acme {uuid.uuid4().hex[:6]} — Ünïcode ✓"
    made = client.post("/api/v1/workspaces", json={"name": name}, headers=headers)
    assert made.status_code == 201, made.text
    assert made.json()["name"] == name
    assert re.fullmatch(r"[0-9a-f-]{36}", made.json()["id"])
