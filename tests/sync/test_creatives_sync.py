"""Creatives (issue 17) against the sandbox, through the real SDK and a full sync: the
creatives stored equal the sandbox's, ads name theirs, thumbnails are copied into the data
dir and served to the workspace only (still after Meta's URLs expired), and
``group_by=creative`` sums equal the sandbox's truth summed per creative."""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from metricx.app import create_app
from metricx.auth.service import create_api_key
from metricx.creatives import thumbnails
from metricx.db import unit_of_work
from metricx.integrations.meta.creatives import parse_url_tags
from metricx.models import AdCreative, Creative, Entity, Fetch, RunStatus
from metricx.runtime import Runtime
from metricx.sync.service import local_today
from tests.factories import make_workspace
from tests.meta_sandbox import MetaSandbox
from tests.sync.conftest import connect_account
from tests.sync.test_sync_sandbox import request, run, sandbox_now
from tests.sync.truth import truth_rows

DAYS = 5


@pytest.fixture
def http(sync_runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(sync_runtime), base_url="https://testserver") as c:
        yield c


def creatives_truth(box: MetaSandbox, account: str) -> dict[str, Any]:
    answer = box.http.get("/_sandbox/truth/creatives", params={"account_id": account})
    answer.raise_for_status()
    return dict(answer.json())


def synced(runtime: Runtime, box: MetaSandbox, index: int) -> tuple[Any, Fetch]:
    runtime.settings.sync_backfill_days = DAYS
    connection = connect_account(runtime, box, index)
    fetch = run(runtime, box, request(runtime, connection, box))
    assert fetch.status is RunStatus.SUCCEEDED, fetch.error
    return connection, fetch


def test_creatives_equal_the_sandbox_and_thumbnails_are_served_to_the_workspace_only(
    sync_runtime: Runtime, sync_sandbox: MetaSandbox, http: TestClient
) -> None:
    connection, _ = synced(sync_runtime, sync_sandbox, 1)
    account = sync_sandbox.accounts()[1]
    truth = creatives_truth(sync_sandbox, account)
    assert truth["creatives"]
    with unit_of_work(sync_runtime.sessions) as session:
        stored = {
            c.external_id: c
            for c in session.scalars(
                select(Creative).where(Creative.workspace_id == connection.workspace_id)
            )
        }
        ads = {
            link.ad_external_id: link.creative_external_id
            for link in session.scalars(
                select(AdCreative).where(AdCreative.workspace_id == connection.workspace_id)
            )
        }
        listed_ads = session.scalars(
            select(Entity.external_id).where(
                Entity.workspace_id == connection.workspace_id, Entity.level == "ad"
            )
        ).all()
        assert set(ads) == set(listed_ads)  # every ad names its creative
        assert set(stored) == {c["id"] for c in truth["creatives"]}
        videos = images = 0
        for want in truth["creatives"]:
            row = stored[want["id"]]
            assert (
                row.name,
                row.title,
                row.body,
                row.call_to_action,
                row.link_url,
                row.url_tags,
                row.image_hash,
                row.video_id,
            ) == (
                want["name"],
                want["title"],
                want["body"],
                want["call_to_action_type"],
                want["link_url"],
                want["url_tags"] or None,
                want["image_hash"],
                want["video_id"],
            ), want["id"]
            utm = parse_url_tags(want["url_tags"])
            assert (row.utm_source, row.utm_medium, row.utm_campaign, row.utm_content) == (
                utm["utm_source"],
                utm["utm_medium"],
                utm["utm_campaign"],
                utm["utm_content"],
            )
            assert row.utm_term == utm["utm_term"]
            # the copy is the sandbox's PNG, content-addressed in the data dir
            assert row.thumbnail_sha256 == want["thumbnail_png_sha256"], row.thumbnail_error
            assert row.thumbnail_content_type == "image/png"
            path = thumbnails.path_for(sync_runtime.settings, row.thumbnail_sha256)
            assert hashlib.sha256(path.read_bytes()).hexdigest() == row.thumbnail_sha256
            assert row.media is not None and row.media["kind"] == (
                "video" if want["video_id"] else "image"
            )
            videos += bool(want["video_id"])
            images += bool(want["image_hash"])
            for ad in want["ads"]:
                assert ads[ad] == want["id"]
        assert videos and images  # both kinds came through (video copy only in the spec)
        key = create_api_key(session, workspace_id=connection.workspace_id).key
        outsider = make_workspace(session)
        other_key = create_api_key(session, workspace_id=outsider.id).key
    # a malformed url_tags in the world came through as far as it could
    assert any(w["url_tags"].startswith("utm_source=facebook&&") for w in truth["creatives"])

    one = truth["creatives"][0]
    base = f"/api/v1/workspaces/{connection.workspace_id}/creatives"
    listed = http.get(base, headers={"Authorization": f"Bearer {key}"})
    assert listed.status_code == 200
    mine = {c["id"]: c for c in listed.json()["creatives"]}
    assert mine[one["id"]]["thumbnail_url"] == f"{base}/{one['id']}/thumbnail"
    got = http.get(f"{base}/{one['id']}/thumbnail", headers={"Authorization": f"Bearer {key}"})
    assert got.status_code == 200 and got.headers["content-type"] == "image/png"
    assert hashlib.sha256(got.content).hexdigest() == one["thumbnail_png_sha256"]
    # another workspace's key: the creative does not exist for it
    for path in (f"{base}/{one['id']}/thumbnail", base):
        refused = http.get(path, headers={"Authorization": f"Bearer {other_key}"})
        assert refused.status_code == 404, path
    theirs = f"/api/v1/workspaces/{outsider.id}/creatives/{one['id']}/thumbnail"
    assert http.get(theirs, headers={"Authorization": f"Bearer {other_key}"}).status_code == 404
    bad = http.get(f"{base}/..%2Fetc/thumbnail", headers={"Authorization": f"Bearer {key}"})
    assert bad.status_code in (404, 422)

    # Meta's URL expires; metricx's copy does not. A second sync copies nothing again.
    asked = {"access_token": sync_sandbox.token(), "fields": "thumbnail_url"}
    signed = sync_sandbox.http.get(f"/v25.0/{one['id']}", params=asked).json()["thumbnail_url"]
    assert sync_sandbox.http.get(signed).status_code == 200
    sync_sandbox.advance(4 * 86400)
    expired = sync_sandbox.http.get(signed)
    assert expired.status_code == 403 and "expired" in expired.text
    again = http.get(f"{base}/{one['id']}/thumbnail", headers={"Authorization": f"Bearer {key}"})
    assert again.status_code == 200 and again.content == got.content


def test_group_by_creative_equals_the_truth_summed_per_creative(
    sync_runtime: Runtime, sync_sandbox: MetaSandbox, http: TestClient
) -> None:
    connection, _ = synced(sync_runtime, sync_sandbox, 0)
    account = sync_sandbox.accounts()[0]
    until = local_today(connection, sandbox_now(sync_sandbox)) - timedelta(days=1)
    since = until - timedelta(days=DAYS - 2)
    creative_of = {
        ad: c["id"] for c in creatives_truth(sync_sandbox, account)["creatives"] for ad in c["ads"]
    }
    want: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for row in truth_rows(sync_sandbox, account, "ad", "day", since, until):
        sums = want[creative_of[row["entity_id"]]]
        for name in ("spend", "impressions", "clicks"):
            sums[name] += Decimal(str(row[name]))
    assert len([c for c in want.values() if c["spend"]]) >= 3
    with unit_of_work(sync_runtime.sessions) as session:
        key = create_api_key(session, workspace_id=connection.workspace_id).key
    answer = http.get(
        f"/api/v1/workspaces/{connection.workspace_id}/metrics/query",
        params={
            "start": since.isoformat(),
            "end": until.isoformat(),
            "group_by": "creative",
            "connection_id": str(connection.id),
        },
        headers={"Authorization": f"Bearer {key}"},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["group_by"] == "creative"
    got = {g["group"]: g for g in body["groups"]}
    delivered = {c for c, s in want.items() if s["impressions"]}
    assert set(got) == delivered
    for creative, sums in want.items():
        if creative not in got:
            continue
        row = got[creative]
        assert Decimal(row["spend"]) == sums["spend"], creative
        assert row["impressions"] == sums["impressions"] and row["clicks"] == sums["clicks"]
        assert row["ctr"] == pytest.approx(float(sums["clicks"]) / float(sums["impressions"]))
        assert row["level"] == "creative" and row["title"] and row["thumbnail_url"]
    spends = [Decimal(g["spend"]) for g in body["groups"]]
    assert spends == sorted(spends, reverse=True)  # by spend, as asked by default
    total = sum((s["spend"] for s in want.values()), Decimal(0))
    assert Decimal(body["totals"][0]["spend"]) == total
    # the series per creative adds up to the row
    series: dict[str, Decimal] = defaultdict(Decimal)
    for p in body["series"]:
        series[p["group"]] += Decimal(p["spend"])
    assert {k: v for k, v in series.items()} == {k: Decimal(g["spend"]) for k, g in got.items()}

    top = http.get(
        f"/api/v1/workspaces/{connection.workspace_id}/metrics/query",
        params={
            "start": since.isoformat(),
            "end": until.isoformat(),
            "group_by": "creative",
            "limit": 2,
            "sort": "clicks",
            "series": "none",
        },
        headers={"Authorization": f"Bearer {key}"},
    ).json()
    assert [g["clicks"] for g in top["groups"]] == sorted(
        (int(s["clicks"]) for s in want.values() if s["impressions"]), reverse=True
    )[:2]
    refused = http.get(
        f"/api/v1/workspaces/{connection.workspace_id}/metrics/query",
        params={"preset": "last_7d", "group_by": "creative", "actions": "purchase"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_input"
    assert uuid.UUID(str(connection.id))
