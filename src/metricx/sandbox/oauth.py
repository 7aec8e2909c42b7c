"""Facebook Login for the sandbox: the dialog page, code exchange, fb_exchange_token and
debug_token (META_API.md §1)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from metricx.sandbox import errors
from metricx.sandbox.access import authenticate
from metricx.sandbox.errors import GraphError
from metricx.sandbox.tokens import (
    ALL_SCOPES,
    CODE_TTL,
    TokenInfo,
    is_app_token,
    mint_code,
    mint_user_token,
    parse_code,
    parse_user_token,
)

if TYPE_CHECKING:
    from metricx.sandbox.state import SandboxState


def _check_client(state: SandboxState, params: dict[str, str]) -> None:
    if params.get("client_id") != state.config.app_id:
        raise GraphError(
            101, "Error validating application. Invalid application ID.", is_transient=False
        )
    if params.get("client_secret") != state.config.app_secret:
        raise GraphError(1, "Error validating client secret.", is_transient=False)


def _token_response(token: str, ttl: int) -> dict[str, Any]:
    out: dict[str, Any] = {"access_token": token, "token_type": "bearer"}
    if ttl > 0:
        out["expires_in"] = ttl
    return out


def exchange(state: SandboxState, params: dict[str, str]) -> dict[str, Any]:
    """GET /oauth/access_token: code exchange, fb_exchange_token, client_credentials."""
    _check_client(state, params)
    grant = params.get("grant_type", "")
    now = int(state.clock.timestamp())
    seed = state.config.seed
    if grant == "client_credentials":
        return {
            "access_token": f"{state.config.app_id}|{state.config.app_secret}",
            "token_type": "bearer",
        }
    if grant == "fb_exchange_token":
        old = params.get("fb_exchange_token", "")
        info = authenticate(state, {"access_token": old})  # expired/revoked: 190 as Meta does
        ttl = state.config.long_lived_ttl
        token = mint_user_token(
            seed,
            user_id=info.user_id,
            app_id=info.app_id,
            scopes=info.scopes,
            issued_at=now,
            ttl=ttl,
            kind="long",
        )
        return _token_response(token, ttl)
    code = params.get("code", "")
    if not code:
        raise errors.invalid_param("Missing authorization code")
    info_code = parse_code(seed, code)
    if info_code is None:
        raise GraphError(100, "Invalid verification code format.", is_transient=False)
    if info_code.redirect_uri != params.get("redirect_uri", ""):
        raise GraphError(
            100,
            "Error validating verification code. Please make sure your"
            " redirect_uri is identical to the one you used in the OAuth dialog"
            " request",
            subcode=36008,
            is_transient=False,
        )
    if now > info_code.issued_at + CODE_TTL:
        raise GraphError(
            100, "This authorization code has expired.", subcode=36007, is_transient=False
        )
    with state.lock:
        if code in state.used_codes:
            raise GraphError(
                100, "This authorization code has been used.", subcode=36009, is_transient=False
            )
        state.used_codes.add(code)
    ttl = state.config.code_token_ttl
    token = mint_user_token(
        seed,
        user_id=state.world.user_id,
        app_id=info_code.client_id,
        scopes=info_code.scopes,
        issued_at=now,
        ttl=ttl,
        kind="short",
    )
    return _token_response(token, ttl)


def debug_token(state: SandboxState, params: dict[str, str]) -> dict[str, Any]:
    """GET /debug_token?input_token=...&access_token={app-id}|{app-secret} (or a user token)."""
    caller = params.get("access_token", "")
    if not caller:
        raise errors.no_token()
    if not is_app_token(caller, state.config.app_id, state.config.app_secret):
        authenticate(state, params)
    input_token = params.get("input_token", "")
    info = parse_user_token(state.config.seed, input_token)
    if info is None:
        return {
            "data": {
                "error": {"code": 190, "message": "Invalid OAuth access token.", "subcode": 467},
                "is_valid": False,
                "scopes": [],
            }
        }
    data = _describe(state, info)
    try:
        authenticate(state, {"access_token": input_token})
    except GraphError as exc:
        data["is_valid"] = False
        data["error"] = {"code": exc.code, "message": exc.message, "subcode": exc.subcode}
    return {"data": data}


def _describe(state: SandboxState, info: TokenInfo) -> dict[str, Any]:
    account_ids = [a.account_id for a in state.world.accounts]
    return {
        "app_id": info.app_id,
        "type": "USER",
        "application": state.config.app_name,
        "data_access_expires_at": info.issued_at + 90 * 86400,
        "expires_at": info.expires_at,
        "is_valid": True,
        "issued_at": info.issued_at,
        "scopes": list(info.scopes),
        "granular_scopes": [
            {
                "scope": s,
                **({"target_ids": account_ids} if s in ("ads_read", "ads_management") else {}),
            }
            for s in info.scopes
        ],
        "user_id": info.user_id,
    }


# ---- the login dialog ------------------------------------------------------------------------

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Log in with Facebook (metricx sandbox)</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;color:#1c1e21}}
.card{{border:1px solid #dddfe2;border-radius:8px;padding:1.5rem}}
button{{padding:.6rem 1.2rem;border-radius:6px;border:0;font-size:1rem;margin-right:.5rem}}
.ok{{background:#1877f2;color:#fff}} .cancel{{background:#e4e6eb}}</style></head>
<body><div class="card">
<h1>{app} wants to access your ad accounts</h1>
<p>Sandbox user <strong>{user}</strong> ({user_id}). This is the metricx Meta sandbox,
not Facebook.</p>
<form method="post" action="{action}">
{hidden}
<fieldset><legend>Permissions requested</legend>{scopes}</fieldset>
<p><button class="ok" type="submit" name="decision" value="grant" id="grant">Continue as
{user}</button>
<button class="cancel" type="submit" name="decision" value="cancel" id="cancel">Cancel</button>
</p></form></div></body></html>"""


def _scopes_from(raw: str) -> list[str]:
    return [s for s in raw.replace(",", " ").split() if s]


def dialog_router(state: SandboxState) -> APIRouter:
    router = APIRouter()

    @router.get("/{version}/dialog/oauth", response_class=HTMLResponse)
    def dialog(request: Request, version: str) -> Response:
        q = request.query_params
        problem = ""
        if q.get("client_id") != state.config.app_id:
            problem = "Invalid App ID: the client_id does not match the sandbox app."
        elif not q.get("redirect_uri"):
            problem = "redirect_uri is required."
        if problem:
            return HTMLResponse(
                f"<!doctype html><title>Error</title><h1>{html.escape(problem)}</h1>",
                status_code=400,
            )
        requested = _scopes_from(q.get("scope", "")) or ["public_profile"]
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(q.get(k, ""))}">'
            for k in ("client_id", "redirect_uri", "state", "response_type")
        )
        scopes = "".join(
            f'<label><input type="checkbox" name="granted" value="{html.escape(s)}" checked> '
            f"{html.escape(s)}</label><br>"
            for s in requested
        )
        scopes += (
            f'<input type="hidden" name="requested" value="{html.escape(" ".join(requested))}">'
        )
        return HTMLResponse(
            PAGE.format(
                app=html.escape(state.config.app_name),
                user=html.escape(state.world.user_name),
                user_id=state.world.user_id,
                action=f"/{version}/dialog/oauth",
                hidden=hidden,
                scopes=scopes,
            )
        )

    @router.post("/{version}/dialog/oauth")
    def decide(
        version: str,
        client_id: str = Form(...),
        redirect_uri: str = Form(...),
        decision: str = Form(...),
        state_: str = Form("", alias="state"),
        granted: list[str] | None = Form(None),
        requested: str = Form(""),
    ) -> Response:
        if client_id != state.config.app_id:
            return HTMLResponse("<h1>Invalid App ID</h1>", status_code=400)
        sep = "&" if "?" in redirect_uri else "?"
        if decision != "grant":
            query = urlencode(
                {
                    "error": "access_denied",
                    "error_code": "200",
                    "error_description": "Permissions error.",
                    "error_reason": "user_denied",
                    "state": state_,
                }
            )
            return RedirectResponse(f"{redirect_uri}{sep}{query}#_=_", status_code=302)
        allowed = set(_scopes_from(requested)) | {"public_profile"}
        scopes = tuple(
            s
            for s in ALL_SCOPES + tuple(granted or [])
            if (s in allowed and s in (granted or [])) or s == "public_profile"
        )
        scopes = tuple(dict.fromkeys(scopes))
        code = mint_code(
            state.config.seed,
            client_id=client_id,
            redirect_uri=redirect_uri,
            scopes=scopes,
            issued_at=int(state.clock.timestamp()),
        )
        query = urlencode({"code": code, "state": state_})
        return RedirectResponse(f"{redirect_uri}{sep}{query}#_=_", status_code=302)

    return router
