"""Stateless sandbox tokens: HMAC-signed, so `metricx sandbox token` works without a server.

User token: "EAAS" + base64url(payload) + 32 hex chars of HMAC-SHA256 over the payload, with
payload "u|app_id|scope,scope|issued|expires|kind|nonce" (expires 0 = never). The key is
derived from the seed alone. The server keeps only a revocation set.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

ALL_SCOPES = (
    "public_profile",
    "email",
    "ads_read",
    "ads_management",
    "business_management",
    "read_insights",
)
USER_PREFIX = "EAAS"
CODE_PREFIX = "AQD"
SIG_LEN = 32


def sandbox_user_id(seed: int) -> str:
    return f"10{seed % 100000:05d}00000001"


def signing_key(seed: int) -> bytes:
    return hashlib.sha256(f"metricx-sandbox-token-key:{seed}".encode()).digest()


def _sign(key: bytes, body: str) -> str:
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()[:SIG_LEN]


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _unb64(text: str) -> str:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()


@dataclass(frozen=True)
class TokenInfo:
    user_id: str
    app_id: str
    scopes: tuple[str, ...]
    issued_at: int
    expires_at: int  # 0: never
    kind: str  # "short" | "long"
    nonce: str

    def expired(self, now: float) -> bool:
        return self.expires_at != 0 and now >= self.expires_at


def mint_user_token(
    seed: int,
    *,
    user_id: str,
    app_id: str,
    scopes: tuple[str, ...],
    issued_at: int,
    ttl: int,
    kind: str = "long",
) -> str:
    expires = 0 if ttl <= 0 else issued_at + ttl
    payload = "|".join(
        [
            user_id,
            app_id,
            ",".join(scopes),
            str(issued_at),
            str(expires),
            kind,
            secrets.token_hex(4),
        ]
    )
    body = _b64(payload)
    return USER_PREFIX + body + _sign(signing_key(seed), body)


def parse_user_token(seed: int, token: str) -> TokenInfo | None:
    """The token's claims, or None when it is not a genuine sandbox token."""
    if not token.startswith(USER_PREFIX) or len(token) <= len(USER_PREFIX) + SIG_LEN:
        return None
    body, sig = token[len(USER_PREFIX) : -SIG_LEN], token[-SIG_LEN:]
    if not hmac.compare_digest(sig, _sign(signing_key(seed), body)):
        return None
    try:
        user, app, scopes, issued, expires, kind, nonce = _unb64(body).split("|")
        return TokenInfo(
            user,
            app,
            tuple(s for s in scopes.split(",") if s),
            int(issued),
            int(expires),
            kind,
            nonce,
        )
    except (ValueError, UnicodeDecodeError):
        return None


@dataclass(frozen=True)
class CodeInfo:
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    issued_at: int
    nonce: str


CODE_TTL = 600


def mint_code(
    seed: int, *, client_id: str, redirect_uri: str, scopes: tuple[str, ...], issued_at: int
) -> str:
    payload = "\x1f".join(
        [client_id, redirect_uri, ",".join(scopes), str(issued_at), secrets.token_hex(6)]
    )
    body = _b64(payload)
    return CODE_PREFIX + body + _sign(signing_key(seed) + b"code", body)


def parse_code(seed: int, code: str) -> CodeInfo | None:
    if not code.startswith(CODE_PREFIX) or len(code) <= len(CODE_PREFIX) + SIG_LEN:
        return None
    body, sig = code[len(CODE_PREFIX) : -SIG_LEN], code[-SIG_LEN:]
    if not hmac.compare_digest(sig, _sign(signing_key(seed) + b"code", body)):
        return None
    try:
        client, redirect, scopes, issued, nonce = _unb64(body).split("\x1f")
        return CodeInfo(
            client, redirect, tuple(s for s in scopes.split(",") if s), int(issued), nonce
        )
    except (ValueError, UnicodeDecodeError):
        return None


def app_token(app_id: str, app_secret: str) -> str:
    return f"{app_id}|{app_secret}"


def is_app_token(token: str, app_id: str, app_secret: str) -> bool:
    return hmac.compare_digest(token, app_token(app_id, app_secret))


def appsecret_proof(app_secret: str, token: str) -> str:
    return hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
