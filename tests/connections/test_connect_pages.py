"""The browser's side of connecting Meta over HTTP: cancelling Meta's dialog leads back to
the Connections page with a way to try again; an empty choice at step 2 shows step 2 again;
a disconnected account says so once."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from metricx.models import Connection, ConnectionStatus
from tests.connections.test_api_and_oauth import consent, signed_in, token_count
from tests.meta_sandbox import MetaSandbox

HTML = {"accept": "text/html"}


def test_cancelling_meta_leads_back_to_connections(
    api: TestClient, db: Session, meta_sandbox: MetaSandbox
) -> None:
    _csrf, ws = signed_in(api, db)
    before = token_count(db)
    denied = consent(
        api, meta_sandbox, f"/api/v1/auth/meta/authorize?workspace_id={ws}", decision="cancel"
    )
    answer = api.get(denied, headers=HTML, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/w/{ws}/connections?connect=cancelled"
    page = api.get(answer.headers["location"], headers=HTML)
    assert page.status_code == 200
    assert "nothing was connected" in page.text
    assert 'id="connect-again" data-open-dialog="connect-dialog"' in page.text
    assert token_count(db) == before
    # An API client still gets the JSON error (the state is spent: consent again).
    denied = consent(
        api, meta_sandbox, f"/api/v1/auth/meta/authorize?workspace_id={ws}", decision="cancel"
    )
    refused = api.get(denied)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "oauth_denied"


def test_an_empty_choice_shows_step_two_again(
    api: TestClient, db: Session, meta_sandbox: MetaSandbox
) -> None:
    _csrf, ws = signed_in(api, db)
    callback = consent(api, meta_sandbox, f"/api/v1/auth/meta/authorize?workspace_id={ws}")
    choose = api.get(callback, headers=HTML, follow_redirects=False).headers["location"]
    form = api.get(choose, headers=HTML)
    assert form.status_code == 200 and f'href="/w/{ws}/connections">Cancel' in form.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token
    empty = api.post(choose, data={"csrf_token": token.group(1)}, headers=HTML)
    assert empty.status_code == 422
    assert "Choose at least one ad account." in empty.text
    shown = re.findall(r'name="account" value="([^"]+)"', empty.text)
    assert shown == meta_sandbox.accounts()
    assert " checked" not in empty.text  # as submitted: nothing ticked
    # The same step 2 still works: no new trip through Meta's dialog.
    chosen = meta_sandbox.accounts()[:1]
    made = api.post(choose, data={"csrf_token": token.group(1), "account": chosen}, headers=HTML)
    assert made.status_code == 200 and 'id="result">Connected<' in made.text
    assert urlsplit(choose).path.startswith("/connect/meta/")


def test_a_disconnected_account_says_so_once(
    api: TestClient, db: Session, meta_sandbox: MetaSandbox
) -> None:
    _csrf, ws = signed_in(api, db)
    callback = consent(api, meta_sandbox, f"/api/v1/auth/meta/authorize?workspace_id={ws}")
    choose = api.get(callback, headers=HTML, follow_redirects=False).headers["location"]
    token = re.search(r'name="csrf_token" value="([^"]+)"', api.get(choose, headers=HTML).text)
    assert token
    api.post(
        choose,
        data={"csrf_token": token.group(1), "account": meta_sandbox.accounts()[:1]},
        headers=HTML,
    )
    row = db.query(Connection).filter(Connection.workspace_id == ws).one()
    row.status = ConnectionStatus.DISCONNECTED
    db.flush()
    page = api.get(f"/w/{ws}/connections", headers=HTML).text
    card = page[page.index(f'id="conn-{row.id}"') :]
    card = card[: card.index("</li>")]
    assert len(re.findall(r">\s*Disconnected\s*<", card)) == 1, card
