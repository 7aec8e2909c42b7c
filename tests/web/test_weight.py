"""Weight on the wire: pages, JSON and static files are compressed; the static files a page
names carry their content's hash and may be kept for a year; signed-in pages are never kept."""

from __future__ import annotations

import hashlib
import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from metricx.web.assets import STATIC_DIR
from tests.factories import make_user, make_workspace
from tests.web.test_pages import sign_in

GZIP = {"accept-encoding": "gzip"}


def test_pages_and_json_are_compressed(client: TestClient) -> None:
    for path in ("/login", "/openapi.json"):
        answer = client.get(path, headers=GZIP)
        assert answer.status_code == 200
        assert answer.headers["content-encoding"] == "gzip", path
        assert "accept-encoding" in answer.headers["vary"].lower()
    small = client.get("/healthz", headers=GZIP)  # below the threshold: as it is
    assert "content-encoding" not in small.headers


def test_static_files_are_fingerprinted_and_kept_for_a_year(client: TestClient) -> None:
    page = client.get("/login").text
    urls = re.findall(r'(?:src|href)="(/static/[^"]+)"', page)
    assert {u.split("?")[0] for u in urls} >= {
        "/static/src/app.css",
        "/static/src/app.js",
        "/static/dist/htmx.min.js",
    }
    for url in urls:
        path, _, query = url.partition("?v=")
        content = (STATIC_DIR / path.removeprefix("/static/")).read_bytes()
        assert query == hashlib.sha256(content).hexdigest()[:16], url
        answer = client.get(url, headers=GZIP)
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert answer.headers["content-encoding"] == "gzip"
        assert answer.content == content  # httpx decompressed it
    plain = client.get("/static/src/app.js")  # no hash, or an old one: revalidated
    assert plain.headers["cache-control"] == "no-cache" and plain.headers["etag"]
    old = client.get("/static/src/app.js?v=0000000000000000")
    assert old.headers["cache-control"] == "no-cache"


def test_signed_in_pages_are_never_kept(client: TestClient, db: Session) -> None:
    user = make_user(db)
    ws = make_workspace(db, owner=user)
    csrf = sign_in(client, user.email)
    for path in (f"/w/{ws.id}", f"/w/{ws.id}/connections", f"/w/{ws.id}/health", "/account"):
        answer = client.get(path)
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "no-store", path
    client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    after = client.get(f"/w/{ws.id}", follow_redirects=False)
    assert after.status_code == 303 and after.headers["location"].startswith("/login")
    assert after.headers["cache-control"] == "no-store"
