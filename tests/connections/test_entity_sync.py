"""Entity sync of a sandbox account with 2,200 ads, through the real SDK."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from metricx.alerts.service import open_alert
from metricx.config import Settings
from metricx.connections.service import REAUTH_ALERT, add_with_token
from metricx.errors import Conflict
from metricx.integrations.meta.client import MetaAdsClient
from metricx.kit.crypto import Cipher, Secret
from metricx.models import Connection, ConnectionStatus, Entity, Fetch, RunStatus, Token
from metricx.sync.entities import request_entity_sync, run_entity_sync
from tests.factories import make_workspace
from tests.meta_sandbox import MetaSandbox


def cipher_of(settings: Settings) -> Cipher:
    assert settings.encryption_keys is not None
    return Cipher.from_csv(settings.encryption_keys.get_secret_value())


def connect(
    db: Session, box: MetaSandbox, settings: Settings, token: str | None = None, index: int = 0
) -> Connection:
    ws = make_workspace(db)
    [row] = add_with_token(
        db,
        settings=settings,
        cipher=cipher_of(settings),
        workspace_id=ws.id,
        access_token=token or box.token(),
        accounts=[box.accounts()[index]],
        created_by=None,
    )
    return row


def sync(db: Session, box: MetaSandbox, settings: Settings, connection: Connection) -> Fetch:
    fetch = Fetch(
        workspace_id=connection.workspace_id, connection_id=connection.id, kind="entities"
    )
    db.add(fetch)
    db.flush()

    def factory(s: Settings, token: Secret) -> MetaAdsClient:
        return MetaAdsClient.from_settings(s, token, sleep=box.advance)

    return run_entity_sync(
        db, settings=settings, cipher=cipher_of(settings), fetch=fetch, client_factory=factory
    )


def entities(db: Session, connection: Connection) -> list[Entity]:
    db.expire_all()  # the sync writes with bulk statements
    return list(db.scalars(select(Entity).where(Entity.connection_id == connection.id)))


def test_sync_matches_the_sandbox_exactly_twice_without_duplicates(
    db: Session, meta_sandbox: MetaSandbox, meta_settings: Settings
) -> None:
    conn = connect(db, meta_sandbox, meta_settings)
    account = meta_sandbox.state.world.account(conn.external_account_id)
    assert account is not None and len(account.ads) >= 2000

    first = sync(db, meta_sandbox, meta_settings, conn)
    assert first.status == RunStatus.SUCCEEDED
    # account, campaigns, ad sets, custom conversions, 2,200 ads in 3 pages, creatives,
    # images and videos (a page each); thumbnails are no Graph calls
    assert first.calls == 1 + 1 + 1 + 1 + 3 + 3
    rows = entities(db, conn)
    by_id = {e.id: e for e in rows}
    levels = Counter(e.level.value for e in rows)
    assert levels == {
        "account": 1,
        "campaign": len(account.campaigns),
        "adset": len(account.adsets),
        "ad": len(account.ads),
    }
    ext = {(e.level.value, e.external_id): e for e in rows}
    for ad in account.ads:
        row = ext[("ad", ad.id)]
        assert row.effective_status == ad.effective_status and row.name == ad.name
        assert by_id[row.parent_id].external_id == ad.adset.id  # type: ignore[index]
        assert row.objective == ad.campaign.objective and row.goal is not None
    for adset in account.adsets:
        assert by_id[ext[("adset", adset.id)].parent_id].external_id == adset.campaign.id  # type: ignore[index]
    assert first.checkpoint is not None and first.checkpoint["created"] == len(rows)
    assert first.checkpoint["duration_ms"] >= 0

    second = sync(db, meta_sandbox, meta_settings, conn)
    assert second.checkpoint is not None
    assert (second.checkpoint["created"], second.checkpoint["updated"]) == (0, 0)
    assert second.checkpoint["unchanged"] == len(rows)
    total = db.scalar(
        select(func.count()).select_from(Entity).where(Entity.workspace_id == conn.workspace_id)
    )
    assert total == len(rows)


def test_status_changes_and_vanished_ads_show_up(
    db: Session, meta_sandbox: MetaSandbox, meta_settings: Settings
) -> None:
    conn = connect(db, meta_sandbox, meta_settings)
    sync(db, meta_sandbox, meta_settings, conn)
    account = meta_sandbox.state.world.account(conn.external_account_id)
    assert account is not None
    # No control endpoint pauses a campaign or deletes an ad for good: change the world.
    campaign = next(c for c in account.campaigns if c.status == "ACTIVE" and c.adsets)
    adset = next(s for s in campaign.adsets if s.ads)
    vanished = adset.ads.pop()
    old_name = campaign.name
    try:
        campaign.status = "PAUSED"
        campaign.name = old_name + " (renamed)"
        fetch = sync(db, meta_sandbox, meta_settings, conn)
    finally:
        campaign.status = "ACTIVE"
        campaign.name = old_name
        adset.ads.append(vanished)
    assert fetch.checkpoint is not None and fetch.checkpoint["removed"] == 1
    assert fetch.checkpoint["updated"] >= 1 + len(campaign.adsets)
    ext = {e.external_id: e for e in entities(db, conn)}
    assert ext[campaign.id].status == "PAUSED" and ext[campaign.id].name.endswith("(renamed)")  # type: ignore[union-attr]
    assert ext[adset.id].effective_status in ("CAMPAIGN_PAUSED", "PAUSED", "DELETED", "ARCHIVED")
    gone = ext[vanished.id]
    assert gone.removed_at is not None and gone.effective_status == vanished.effective_status

    back = sync(db, meta_sandbox, meta_settings, conn)  # it comes back: no longer removed
    assert back.checkpoint is not None and back.checkpoint["removed"] == 0
    ext = {e.external_id: e for e in entities(db, conn)}
    assert ext[vanished.id].removed_at is None and ext[campaign.id].status == "ACTIVE"


@pytest.mark.parametrize("how", ["expired", "revoked", "permission"])
def test_token_or_permission_loss_stops_the_connection_with_an_alert(
    how: str, db: Session, meta_sandbox: MetaSandbox, meta_settings: Settings
) -> None:
    token = meta_sandbox.token(ttl=3600)
    conn = connect(db, meta_sandbox, meta_settings, token=token)
    if how == "expired":
        meta_sandbox.advance(7200)
    elif how == "revoked":
        meta_sandbox.revoke(token)
    else:
        meta_sandbox.faults(permission_loss="10")
    fetch = sync(db, meta_sandbox, meta_settings, conn)
    assert fetch.status == RunStatus.FAILED
    assert fetch.error_code == ("permission_lost" if how == "permission" else "token_invalid")
    assert conn.status == ConnectionStatus.NEEDS_REAUTH and conn.last_error
    alert = open_alert(db, workspace_id=conn.workspace_id, kind=REAUTH_ALERT, key=str(conn.id))
    assert alert is not None and "reconnect" in alert.message.lower()
    token_row = db.get(Token, conn.token_id)
    assert token_row is not None
    # A 1-hour token was already "expiring" when stored; losing a permission leaves it so.
    expected = {"expired": "invalid", "revoked": "revoked", "permission": "expiring"}[how]
    assert token_row.status.value == expected
    assert token not in (fetch.error or "") and token not in alert.message
    with pytest.raises(Conflict):
        request_entity_sync(db, connection=conn)  # syncs stop


def test_throttled_sync_waits_as_meta_says_and_finishes(
    db: Session, meta_sandbox: MetaSandbox, meta_settings: Settings
) -> None:
    conn = connect(db, meta_sandbox, meta_settings)
    meta_sandbox.tier("development")
    spender = MetaAdsClient.from_settings(
        meta_settings.model_copy(update={"meta_slowdown_usage_pct": 100.0}),
        meta_sandbox.token(),
        sleep=lambda _s: None,
    )
    with pytest.raises(Exception, match="rate limit"):
        for _ in range(70):
            spender.transport.options.max_throttle_wait = 0
            spender.get_ad_account(conn.external_account_id)
    fetch = sync(db, meta_sandbox, meta_settings, conn)
    assert fetch.status == RunStatus.SUCCEEDED
    assert fetch.checkpoint is not None and fetch.checkpoint["throttled_seconds"] >= 60
    assert conn.status == ConnectionStatus.ACTIVE
