"""Ads known only from insights on the data-quality page and in the quality API: listed per
connection with their ad set, campaign and spend while no entity sync has listed them, and
gone once one has."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from metricx.app import create_app
from metricx.auth.service import create_api_key
from metricx.db import unit_of_work
from metricx.models import Workspace
from metricx.quality.service import UNLISTED_ADS_NOTE, unlisted_ads
from metricx.runtime import Runtime
from tests.factories import PASSWORD, join, make_user
from tests.meta_sandbox import MetaSandbox
from tests.sync.conftest import connect_account
from tests.sync.test_unlisted_ads import hide, spenders, sync, sync_entities, top_ad, window
from tests.web.login_form import post_login_form


@pytest.fixture
def http(sync_runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(sync_runtime), base_url="https://testserver") as c:
        yield c


def test_ads_known_only_from_insights_are_listed_until_an_entity_sync_names_them(
    http: TestClient, sync_runtime: Runtime, sync_sandbox: MetaSandbox
) -> None:
    connection = connect_account(sync_runtime, sync_sandbox, 0)
    since, until = window(sync_sandbox, connection)
    ad = top_ad(sync_sandbox, connection, since, until)
    with unit_of_work(sync_runtime.sessions) as session:
        key = create_api_key(session, workspace_id=connection.workspace_id).key
        viewer = make_user(session)
        workspace = session.get(Workspace, connection.workspace_id)
        assert workspace is not None
        join(session, workspace, viewer)
        email = viewer.email
    headers = {"Authorization": f"Bearer {key}"}
    api = f"/api/v1/workspaces/{connection.workspace_id}/quality/unlisted-ads"
    page = f"/w/{connection.workspace_id}/health"
    assert post_login_form(http, email, PASSWORD, follow_redirects=False).status_code == 303
    assert http.get(api, headers=headers).json()["ads"] == []
    assert 'id="unlisted-ads"' not in http.get(page).text

    hide(sync_sandbox, ad.id)
    sync(sync_runtime, sync_sandbox, connection, since=since)

    with unit_of_work(sync_runtime.sessions) as session:
        [found] = unlisted_ads(session, workspace_id=connection.workspace_id)
    spend = spenders(sync_sandbox, connection, "ad", since, until)[ad.id]
    assert (found.external_id, found.adset_external_id, found.campaign_external_id) == (
        ad.id,
        ad.adset.id,
        ad.campaign.id,
    )
    assert found.connection_id == connection.id and found.currency == connection.currency
    assert found.spend == spend > 0 and found.first_day is not None
    answer = http.get(api, headers=headers, params={"connection_id": str(connection.id)}).json()
    assert answer["note"] == UNLISTED_ADS_NOTE
    listed = [
        (a["external_id"], a["adset_external_id"], Decimal(a["spend"])) for a in answer["ads"]
    ]
    assert listed == [(ad.id, ad.adset.id, spend)]
    html = http.get(page).text
    assert 'id="unlisted-ads"' in html and ad.id in html and connection.name in html
    assert "Their spend is counted in their ad set, campaign and account totals" in html
    assert "their names and statuses arrive with the next entity sync" in html

    sync_sandbox.http.delete("/_sandbox/faults")
    sync_entities(sync_runtime, sync_sandbox, connection)

    assert http.get(api, headers=headers).json()["ads"] == []
    html = http.get(page).text
    assert 'id="unlisted-ads"' not in html and ad.id not in html
