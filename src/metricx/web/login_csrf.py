"""CSRF protection of the forms shown before there is a session (the sign-in form).

Without it, another site can post its own credentials to /login and sign the visitor into
the attacker's account (login CSRF). There is no session to hold a token yet, so the form
gets a signed double-submit cookie: the cookie holds a random nonce, signed (HMAC under a
key derived from the app's secret) with the time it was issued; the form's hidden field
holds the same nonce. Another site can neither read the cookie nor forge one, so it cannot
send a matching pair. With Secure cookies the cookie is ``__Host-``-prefixed, so a sibling
subdomain cannot plant one either.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from metricx.kit.crypto import same_secret
from metricx.runtime import Runtime

LOGIN_FORM_SALT = "metricx.web.login-form"
LOGIN_FORM_TTL_SECONDS = 2 * 3600
LOGIN_FORM_FIELD = "csrf_token"


def login_form_cookie_name(runtime: Runtime) -> str:
    # Browsers accept __Host- cookies only with Secure: plain http (the demo) does without.
    base = "metricx_login_csrf"
    return f"__Host-{base}" if runtime.settings.secure_cookies else base


def login_form_serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=LOGIN_FORM_SALT)


def _nonce_in(runtime: Runtime, request: Request) -> str | None:
    """The nonce of the request's login-form cookie, if it is genuine and fresh."""
    cookie = request.cookies.get(login_form_cookie_name(runtime))
    if not cookie:
        return None
    try:
        nonce = login_form_serializer(runtime.secret_key).loads(
            cookie, max_age=LOGIN_FORM_TTL_SECONDS
        )
    except BadSignature:  # also SignatureExpired
        return None
    return nonce if isinstance(nonce, str) and nonce else None


@dataclass(frozen=True)
class LoginFormToken:
    """The token for the form's hidden field, and the cookie value that goes with it."""

    token: str
    cookie: str

    def set_on(self, runtime: Runtime, response: Response) -> None:
        response.set_cookie(
            login_form_cookie_name(runtime),
            self.cookie,
            max_age=LOGIN_FORM_TTL_SECONDS,
            httponly=True,
            secure=runtime.settings.secure_cookies,
            samesite="lax",
            path="/",
        )


def issue_login_form_token(runtime: Runtime, request: Request) -> LoginFormToken:
    """A token for a sign-in form. A genuine cookie's nonce is kept (re-signed, so its life
    starts again): two open sign-in tabs both still work."""
    nonce = _nonce_in(runtime, request) or secrets.token_urlsafe(24)
    return LoginFormToken(nonce, login_form_serializer(runtime.secret_key).dumps(nonce))


def login_form_token_matches(runtime: Runtime, request: Request, sent: str) -> bool:
    """Whether ``sent`` (the form's field) is the nonce of the request's genuine cookie."""
    nonce = _nonce_in(runtime, request)
    if not nonce or not sent:
        return False
    return same_secret(sent, nonce)


def forget_login_form_token(runtime: Runtime, response: Response) -> None:
    response.delete_cookie(
        login_form_cookie_name(runtime),
        path="/",
        httponly=True,
        secure=runtime.settings.secure_cookies,
        samesite="lax",
    )
