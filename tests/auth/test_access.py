"""The one workspace access check (``auth.access``), for each kind of caller, and each surface
that asks it (API, pages, live updates, the Meta OAuth start) answering alike: a workspace you
cannot see is 404 whether or not it exists; a permission you lack is 403 (or, on a page, the
same refusal said in the page)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.orm import Session

from metricx.app import create_app
from metricx.auth.access import Principal, user_access, workspace_access
from metricx.auth.schemas import ApiKeyScope
from metricx.auth.service import create_api_key
from metricx.errors import Forbidden, NotFound
from metricx.migrate import upgrade
from metricx.models import Role, User, Workspace
from metricx.runtime import Runtime, build_runtime
from metricx.web import sse
from tests.conftest import make_settings
from tests.factories import PASSWORD, join, make_user, make_workspace
from tests.web.login_form import post_login_form
from tests.web.test_pages import add_connection

ADMIN_REFUSAL = "this needs the 'admin' permission in this workspace"


def member_of(db: Session, ws: Workspace, role: Role) -> User:
    user = make_user(db)
    join(db, ws, user, role)
    return user


# ---- the check itself, against the database ---------------------------------------------------


def test_an_api_key_holds_exactly_its_scopes_in_its_own_workspace(db: Session) -> None:
    ws = make_workspace(db)
    key = create_api_key(db, workspace_id=ws.id, scopes=[ApiKeyScope.READ]).row
    access = workspace_access(db, Principal(api_key=key), ws.id, need=ApiKeyScope.READ)
    assert access.workspace.id == ws.id and access.role is None and access.user_id is None
    assert access.scopes == {"read"}
    with pytest.raises(Forbidden) as refused:
        workspace_access(db, Principal(api_key=key), ws.id, need=ApiKeyScope.ADMIN)
    assert refused.value.message == ADMIN_REFUSAL


def test_an_api_key_does_not_see_another_workspace(db: Session) -> None:
    mine, theirs = make_workspace(db), make_workspace(db)
    key = create_api_key(db, workspace_id=mine.id).row  # all scopes
    with pytest.raises(NotFound) as hidden:
        workspace_access(db, Principal(api_key=key), theirs.id)
    assert hidden.value.message == "no such workspace"


def test_a_member_reads_and_ingests_but_is_refused_admin(db: Session) -> None:
    ws = make_workspace(db)
    user = member_of(db, ws, Role.MEMBER)
    access = workspace_access(db, Principal(user=user), ws.id)
    assert access.role is Role.MEMBER and access.user_id == user.id
    assert access.allows(ApiKeyScope.READ) and access.allows(ApiKeyScope.INGEST)
    assert not access.allows(ApiKeyScope.ADMIN)
    with pytest.raises(Forbidden) as refused:
        workspace_access(db, Principal(user=user), ws.id, need=ApiKeyScope.ADMIN)
    assert refused.value.message == ADMIN_REFUSAL
    with pytest.raises(Forbidden) as worded:
        access.require(ApiKeyScope.ADMIN, "connecting needs admin")
    assert worded.value.message == "connecting needs admin"


def test_an_admin_and_the_owner_hold_every_scope(db: Session) -> None:
    owner = make_user(db)
    ws = make_workspace(db, owner=owner)
    admin = member_of(db, ws, Role.ADMIN)
    for user, role in ((admin, Role.ADMIN), (owner, Role.OWNER)):
        access = workspace_access(db, Principal(user=user), ws.id, need=ApiKeyScope.ADMIN)
        assert access.role is role and access.scopes == {"read", "ingest", "admin"}


def test_a_viewer_only_reads(db: Session) -> None:
    ws = make_workspace(db)
    viewer = member_of(db, ws, Role.VIEWER)
    access = workspace_access(db, Principal(user=viewer), ws.id, need=ApiKeyScope.READ)
    assert access.scopes == {"read"}
    with pytest.raises(Forbidden):
        access.require(ApiKeyScope.INGEST)


@pytest.mark.parametrize("which", ["non_member", "unknown", "malformed", "nobody"])
def test_what_you_cannot_see_is_not_found_alike(db: Session, which: str) -> None:
    ws = make_workspace(db)
    stranger = make_user(db)
    make_workspace(db, owner=stranger)  # a member somewhere, just not here
    target: uuid.UUID | str = {
        "non_member": ws.id,
        "unknown": uuid.uuid4(),
        "malformed": "not-a-uuid",
        "nobody": ws.id,
    }[which]
    principal = Principal() if which == "nobody" else Principal(user=stranger)
    with pytest.raises(NotFound) as hidden:
        workspace_access(db, principal, target, need=ApiKeyScope.READ)
    assert hidden.value.message == "no such workspace"


def test_a_user_known_by_id_gets_the_same_answers(db: Session) -> None:
    ws = make_workspace(db)
    member = member_of(db, ws, Role.MEMBER)
    with pytest.raises(Forbidden) as refused:
        user_access(db, user_id=member.id, workspace_id=ws.id, need=ApiKeyScope.ADMIN)
    assert refused.value.message == ADMIN_REFUSAL
    with pytest.raises(NotFound):
        user_access(db, user_id=make_user(db).id, workspace_id=ws.id)
    with pytest.raises(NotFound):
        user_access(db, user_id=uuid.uuid4(), workspace_id=ws.id)


# ---- every surface answers as the check does --------------------------------------------------


def login(client: TestClient, user: User) -> str:
    """Sign in over the API; the CSRF token for state-changing requests."""
    client.cookies.clear()
    r = client.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return str(r.json()["csrf_token"])


def test_api_hides_a_foreign_workspace_and_refuses_a_member_admin_work(
    client: TestClient, db: Session
) -> None:
    ws = make_workspace(db)
    member = member_of(db, ws, Role.MEMBER)
    stranger = make_user(db)
    path = f"/api/v1/workspaces/{ws.id}"

    csrf = login(client, stranger)
    hidden = client.get(path)
    assert hidden.status_code == 404 and hidden.json()["error"]["message"] == "no such workspace"

    csrf = login(client, member)
    assert client.get(path).status_code == 200
    refused = client.patch(path, json={"name": "mine now"}, headers={"X-CSRF-Token": csrf})
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == ADMIN_REFUSAL
    db.refresh(ws)
    assert ws.name != "mine now"


def test_pages_hide_a_foreign_workspace_and_refuse_a_member_admin_work(
    client: TestClient, db: Session
) -> None:
    ws = make_workspace(db)
    conn = add_connection(db, ws)
    member = member_of(db, ws, Role.MEMBER)
    admin = member_of(db, ws, Role.ADMIN)
    stranger = make_user(db)

    client.cookies.clear()
    assert post_login_form(client, stranger.email, PASSWORD).status_code == 200
    assert client.get(f"/w/{ws.id}", follow_redirects=False).status_code == 404

    def press(user: User, action: str) -> str:
        client.cookies.clear()
        assert post_login_form(client, user.email, PASSWORD).status_code == 200
        page = client.get(f"/w/{ws.id}/connections")
        assert page.status_code == 200
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found
        answer = client.post(
            f"/w/{ws.id}/connections/{conn.id}/{action}",
            data={"csrf_token": found.group(1)},
            headers={"HX-Request": "true"},
        )
        assert answer.status_code == 200
        return answer.text

    # The control first (a refused action rolls the request's session back, and in this
    # test that is the test's own transaction): an admin's press works.
    assert "Shoes US is paused." in press(admin, "pause")
    refusal = press(member, "resume")
    assert "This needs the &#39;admin&#39; permission in this workspace" in refusal
    assert "Shoes US is syncing again." not in refusal


def test_oauth_start_hides_a_foreign_workspace_and_refuses_a_member(
    client: TestClient, db: Session, runtime: Runtime
) -> None:
    runtime.settings.meta_app_id = "1234"
    runtime.settings.meta_app_secret = SecretStr("app-secret")
    ws = make_workspace(db)
    member = member_of(db, ws, Role.MEMBER)
    admin = member_of(db, ws, Role.ADMIN)
    stranger = make_user(db)
    url = f"/api/v1/auth/meta/authorize?workspace_id={ws.id}"

    login(client, stranger)
    hidden = client.get(url, follow_redirects=False)
    assert hidden.status_code == 404 and hidden.json()["error"]["message"] == "no such workspace"

    login(client, member)
    refused = client.get(url, follow_redirects=False)
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == (
        "connecting ad accounts needs the 'admin' permission in this workspace"
    )

    login(client, admin)  # the control: the same request goes to Meta's dialog
    assert client.get(url, follow_redirects=False).status_code == 302


def test_live_updates_hide_a_foreign_workspace_and_stream_to_a_member(
    tmp_path: Path,
    fresh_database,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    # The stream checks access in its own session (it outlives the request's), so the rows it
    # reads are committed, in a database of this test's own.
    runtime = build_runtime(make_settings(tmp_path, fresh_database("sse_access")))
    upgrade(runtime.engine)
    with runtime.sessions.begin() as s:
        owner = make_user(s)
        ws = make_workspace(s, owner=owner)
        member = member_of(s, ws, Role.VIEWER)
        stranger = make_user(s)
        make_workspace(s, owner=stranger)
        ws_id = ws.id
    monkeypatch.setattr(sse, "STREAM_SECONDS", 0.0)  # end each stream after its first event
    try:
        with TestClient(create_app(runtime), base_url="https://testserver") as client:
            login(client, stranger)
            assert client.get(f"/w/{ws_id}/events").status_code == 404
            assert client.get(f"/w/{uuid.uuid4()}/events").status_code == 404
            login(client, member)
            streamed = client.get(f"/w/{ws_id}/events")
            assert streamed.status_code == 200
            assert "event: hello" in streamed.text
    finally:
        runtime.dispose()


def test_no_other_module_reads_memberships_to_decide_access() -> None:
    """Memberships are read for access in ``auth.access`` only; the workspaces service reads
    them to add members, and the pages list the viewer's workspaces for the menu."""
    import ast

    import metricx

    root = Path(metricx.__file__).parent
    allowed = {"auth/access.py", "auth/repository.py", "workspaces/service.py"}
    callers = set()
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "attr", getattr(node.func, "id", ""))
                if name == "membership" and rel not in allowed:
                    callers.add(rel)
    assert not callers, callers
