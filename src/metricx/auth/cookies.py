"""The browser session cookie: its name, how it is set, cleared and read.

Over https (Secure cookies) it is named ``__Host-metricx_session``: a browser accepts a
``__Host-`` cookie only when it is Secure, has Path=/ and no Domain, so a sibling subdomain
(or a plain-http page on the same host) can neither plant one nor shadow it. Plain http on
loopback (the demo) cannot keep a Secure cookie, so there it is ``metricx_session``.
"""

from __future__ import annotations

from fastapi import Request, Response

from metricx.config import Settings

SESSION_COOKIE = "metricx_session"


def session_cookie_name(settings: Settings) -> str:
    return f"__Host-{SESSION_COOKIE}" if settings.secure_cookies else SESSION_COOKIE


def session_token(request: Request) -> str:
    """The session token the request's cookie carries ("" when none)."""
    settings: Settings = request.app.state.runtime.settings
    return request.cookies.get(session_cookie_name(settings), "")


def set_session_cookie(response: Response, settings: Settings, token: str) -> None:
    response.set_cookie(
        session_cookie_name(settings),
        token,
        max_age=settings.session_max_age_seconds,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",
        path="/",
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    # Cleared with the same attributes it was set with: a browser ignores a __Host- cookie
    # (even an expired one) that is not Secure.
    response.delete_cookie(
        session_cookie_name(settings),
        path="/",
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",
    )
