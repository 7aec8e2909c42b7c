"""Meta tokens never travel in a URL: the client sends its token in `Authorization: Bearer`
(with `appsecret_proof`, the HMAC-SHA256 of the token keyed by the app secret, when the app
secret is known), and the sandbox, like Meta, takes it from there and checks the proof."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from metricx.integrations.meta.client import MetaAdsClient
from metricx.integrations.meta.errors import MetaError, TokenInvalidError
from metricx.integrations.meta.oauth import MetaOAuth
from metricx.integrations.meta.transport import GraphTransport
from tests.meta_sandbox import MetaSandbox


def sent_requests(transport: GraphTransport) -> list[requests.PreparedRequest]:
    """Every request the transport's HTTP session sends from now on, as it went out."""
    seen: list[requests.PreparedRequest] = []
    hooks = transport.api._session.requests.hooks["response"]
    hooks.append(lambda response, *_a, **_k: seen.append(response.request))
    return seen


def test_the_token_goes_in_the_header_with_its_proof(
    meta_sandbox: MetaSandbox, tmp_path: Path
) -> None:
    token = meta_sandbox.token()
    settings = meta_sandbox.settings(tmp_path, None)
    client = MetaAdsClient.from_settings(settings, token)
    seen = sent_requests(client.transport)
    account = client.get_ad_account(meta_sandbox.accounts()[0])
    assert account.id == meta_sandbox.accounts()[0]  # the sandbox took the header
    list(client.iter_campaigns(account.id))  # a paged edge too
    assert len(seen) >= 2
    secret = meta_sandbox.config.app_secret.encode()
    proof = hmac.new(secret, token.encode(), hashlib.sha256).hexdigest()
    for sent in seen:
        assert sent.url is not None and token not in sent.url
        query = parse_qs(urlsplit(sent.url).query)
        assert "access_token" not in query
        assert query["appsecret_proof"] == [proof]
        assert sent.headers["Authorization"] == f"Bearer {token}"


def test_a_proof_made_with_another_secret_is_refused(
    meta_sandbox: MetaSandbox, tmp_path: Path
) -> None:
    settings = meta_sandbox.settings(tmp_path, None, meta_app_secret="not-the-app-secret")
    client = MetaAdsClient.from_settings(settings, meta_sandbox.token())
    with pytest.raises(MetaError, match="appsecret_proof"):
        client.get_ad_account(meta_sandbox.accounts()[0])


def test_without_the_app_secret_the_token_still_goes_in_the_header(
    meta_sandbox: MetaSandbox, tmp_path: Path
) -> None:
    token = meta_sandbox.token()
    settings = meta_sandbox.settings(tmp_path, None, meta_app_secret=None)
    client = MetaAdsClient.from_settings(settings, token)
    seen = sent_requests(client.transport)
    assert client.get_me()["id"]
    [sent] = seen
    assert sent.url is not None and "access_token" not in sent.url
    assert "appsecret_proof" not in sent.url
    assert sent.headers["Authorization"] == f"Bearer {token}"


def test_the_app_token_of_debug_token_goes_in_the_header(
    meta_sandbox: MetaSandbox, tmp_path: Path
) -> None:
    oauth = MetaOAuth(meta_sandbox.settings(tmp_path, None))
    seen = sent_requests(oauth.transport)
    details = oauth.debug_token(meta_sandbox.token())
    assert details.is_valid
    [sent] = seen
    app_token = f"{meta_sandbox.config.app_id}|{meta_sandbox.config.app_secret}"
    assert sent.url is not None and "access_token" not in sent.url
    assert meta_sandbox.config.app_secret not in sent.url
    assert sent.headers["Authorization"] == f"Bearer {app_token}"


def test_a_token_no_header_can_carry_is_refused_as_meta_refuses_it(
    meta_sandbox: MetaSandbox, tmp_path: Path
) -> None:
    settings = meta_sandbox.settings(tmp_path, None)
    client = MetaAdsClient.from_settings(settings, "EAA\u03a2 token")
    seen = sent_requests(client.transport)
    with pytest.raises(TokenInvalidError, match="Cannot parse access token"):
        client.get_me()
    assert seen == []  # nothing went out
