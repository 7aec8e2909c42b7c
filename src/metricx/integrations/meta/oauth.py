"""Facebook Login (META_API.md §1): the dialog URL, code exchange, long-lived exchange and
debug_token. Meta has no refresh token for user tokens: renewal is a new consent."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from metricx.config import Settings
from metricx.integrations.meta.client import options_from_settings
from metricx.integrations.meta.errors import BadRequestError
from metricx.integrations.meta.transport import GraphTransport


@dataclass(frozen=True)
class TokenGrant:
    access_token: str = field(repr=False)
    expires_in: int | None


@dataclass(frozen=True)
class TokenDetails:
    """What debug_token says about a token (expires_at None: it never expires)."""

    is_valid: bool
    user_id: str | None
    app_id: str | None
    token_type: str | None
    scopes: list[str]
    expires_at: datetime | None
    data_access_expires_at: datetime | None
    problem: str | None = None


def _when(value: Any) -> datetime | None:
    try:
        ts = int(value)
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(ts, UTC) if ts > 0 else None


class MetaOAuth:
    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] = time.sleep) -> None:
        if not settings.meta_app_id or not settings.meta_app_secret:
            raise BadRequestError(
                "the Meta app is not configured: set METRICX_META_APP_ID and "
                "METRICX_META_APP_SECRET"
            )
        self.settings = settings
        self.app_id = settings.meta_app_id
        self.app_secret = settings.meta_app_secret.get_secret_value()
        self.transport = GraphTransport(
            options_from_settings(settings),
            app_id=self.app_id,
            app_secret=None,
            access_token=None,
            sleep=sleep,
        )
        self.transport.add_secret(self.app_secret)

    @property
    def redirect_uri(self) -> str:
        return f"{self.settings.base_url.rstrip('/')}/api/v1/auth/meta/callback"

    def dialog_url(self, state: str) -> str:
        scopes = ",".join(s.strip() for s in self.settings.meta_scopes.split(",") if s.strip())
        query = urlencode(
            {
                "client_id": self.app_id,
                "redirect_uri": self.redirect_uri,
                "state": state,
                "scope": scopes,
                "response_type": "code",
            }
        )
        version = self.settings.meta_api_version
        return f"{self.settings.meta_dialog_base}/{version}/dialog/oauth?{query}"

    def _token(self, params: dict[str, str]) -> TokenGrant:
        body = self.transport.request(
            "GET",
            ("oauth", "access_token"),
            {"client_id": self.app_id, "client_secret": self.app_secret, **params},
        )
        token = body.get("access_token")
        if not token:
            raise BadRequestError("Meta's token endpoint answered without an access_token")
        self.transport.add_secret(str(token))
        expires = body.get("expires_in")
        return TokenGrant(str(token), int(expires) if expires else None)

    def exchange_code(self, code: str) -> TokenGrant:
        """The dialog's code -> a short-lived user token."""
        self.transport.add_secret(code)
        return self._token({"code": code, "redirect_uri": self.redirect_uri})

    def exchange_long_lived(self, short_lived: str) -> TokenGrant:
        """A valid user token -> a ~60-day token (fb_exchange_token)."""
        self.transport.add_secret(short_lived)
        return self._token({"grant_type": "fb_exchange_token", "fb_exchange_token": short_lived})

    def debug_token(self, token: str) -> TokenDetails:
        """Expiry, scopes and validity of ``token``, asked with the app token."""
        self.transport.add_secret(token)
        body = self.transport.request(
            "GET",
            ("debug_token",),
            {"input_token": token, "access_token": f"{self.app_id}|{self.app_secret}"},
        )
        data = body.get("data") or {}
        error = data.get("error") or {}
        problem = None
        if error:
            problem = self.transport.scrub(str(error.get("message") or "the token is not valid"))
        return TokenDetails(
            is_valid=bool(data.get("is_valid")),
            user_id=str(data["user_id"]) if data.get("user_id") else None,
            app_id=str(data["app_id"]) if data.get("app_id") else None,
            token_type=data.get("type"),
            scopes=[str(s) for s in data.get("scopes") or []],
            expires_at=_when(data.get("expires_at")),
            data_access_expires_at=_when(data.get("data_access_expires_at")),
            problem=problem,
        )
