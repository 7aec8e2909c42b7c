"""The sandbox ASGI app: Graph API catch-all, the OAuth dialog, and `/_sandbox/` controls."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from metricx.sandbox import breakdowns as bd
from metricx.sandbox import creatives, graph, oauth
from metricx.sandbox.config import FaultConfig, SandboxConfig
from metricx.sandbox.graph import CURRENT_VERSION, VERSION_RE, GraphRequest
from metricx.sandbox.limits import TIERS
from metricx.sandbox.state import SandboxState
from metricx.sandbox.tokens import ALL_SCOPES, parse_user_token
from metricx.sandbox.truth import (
    range_reach,
    settings_truth,
    stream_breakdown_truth,
    stream_truth,
)

__all__ = ["SandboxConfig", "create_sandbox_app"]


def _bad(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": {"message": message}}, status_code=status)


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _parse_when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def create_sandbox_app(config: SandboxConfig) -> FastAPI:
    state = SandboxState(config)
    app = FastAPI(
        title="metricx Meta sandbox",
        docs_url="/_sandbox/docs",
        openapi_url="/_sandbox/openapi.json",
        redoc_url=None,
    )
    app.state.sandbox = state
    app.include_router(oauth.dialog_router(state))

    @app.get("/_sandbox")
    def info() -> dict[str, Any]:
        """World summary: the user, accounts (currency, time zone, sizes), clock and tier."""
        return {
            "user_id": state.world.user_id,
            "app_id": config.app_id,
            "seed": config.seed,
            "now": state.clock.now().isoformat(),
            "tier": state.limiter.tier,
            "accounts": [
                {
                    "id": a.id,
                    "name": a.name,
                    "currency": a.currency,
                    "timezone_name": a.timezone_name,
                    "campaigns": len(a.campaigns),
                    "adsets": len(a.adsets),
                    "ads": len(a.ads),
                }
                for a in state.world.accounts
            ],
        }

    @app.get("/_sandbox/clock")
    def get_clock() -> dict[str, Any]:
        return {"now": state.clock.now().isoformat(), "frozen": state.clock.frozen}

    @app.post("/_sandbox/clock")
    async def set_clock(request: Request) -> Response:
        """Body {"now": ISO8601?, "frozen": bool?}."""
        body = await _json(request)
        frozen = body.get("frozen")
        try:
            when = _parse_when(body["now"]) if body.get("now") else state.clock.now()
        except ValueError:
            return _bad("now must be ISO 8601")
        state.clock.set(when, frozen=None if frozen is None else bool(frozen))
        return JSONResponse(get_clock())

    @app.post("/_sandbox/clock/advance")
    async def advance_clock(request: Request) -> dict[str, Any]:
        """Body {"seconds": n} (or "minutes", "hours", "days")."""
        body = await _json(request)
        seconds = (
            float(body.get("seconds", 0))
            + 60 * float(body.get("minutes", 0))
            + 3600 * float(body.get("hours", 0))
            + 86400 * float(body.get("days", 0))
        )
        state.clock.advance(seconds)
        return get_clock()

    @app.get("/_sandbox/faults")
    def get_faults() -> dict[str, Any]:
        return state.faults.config.to_json()

    @app.post("/_sandbox/faults")
    async def set_faults(request: Request) -> Response:
        """Body: FaultConfig fields to change, e.g. {"error_500_rate": 0.5}; `{"reset": true}`
        starts from a clean slate first."""
        body = await _json(request)
        fresh = FaultConfig() if body.pop("reset", False) else state.faults.config
        try:
            fresh.update(body)
        except (ValueError, TypeError) as exc:
            return _bad(str(exc))
        state.faults.replace(fresh)
        return JSONResponse(fresh.to_json())

    @app.delete("/_sandbox/faults")
    def clear_faults() -> dict[str, Any]:
        state.faults.replace(FaultConfig())
        return state.faults.config.to_json()

    @app.post("/_sandbox/token")
    async def mint(request: Request) -> dict[str, Any]:
        """Body {"ttl": seconds (0 never expires), "scopes": [...]} -> {"token": ...}."""
        body = await _json(request)
        scopes = tuple(body.get("scopes") or ALL_SCOPES)
        return {"token": state.mint_token(ttl=body.get("ttl"), scopes=scopes)}

    @app.post("/_sandbox/tokens/revoke")
    async def revoke(request: Request) -> Response:
        """Body {"token": ..., "subcode": 460 (default) | 458 | ...}."""
        body = await _json(request)
        info = parse_user_token(config.seed, str(body.get("token", "")))
        if info is None:
            return _bad("not a sandbox token")
        with state.lock:
            state.revoked[info.nonce] = int(body.get("subcode", 460))
        return JSONResponse({"revoked": True})

    @app.get("/_sandbox/tier")
    def get_tier() -> dict[str, Any]:
        return {"tier": state.limiter.tier}

    @app.post("/_sandbox/tier")
    async def set_tier(request: Request) -> Response:
        """Body {"tier": "development" | "standard"}."""
        tier = (await _json(request)).get("tier")
        if tier not in TIERS:
            return _bad("tier must be development or standard")
        state.limiter.tier = tier
        state.limiter.reset()
        return JSONResponse({"tier": tier})

    @app.get("/_sandbox/usage")
    def usage(account_id: str) -> Response:
        account = state.world.account(account_id)
        if account is None:
            return _bad("unknown account", 404)
        snap = state.limiter.snapshot(account, state.clock.timestamp())
        return JSONResponse({k: v for k, v in snap.items() if k != "buc"})

    @app.get("/_sandbox/reports")
    def report_activity() -> dict[str, Any]:
        """Per ad account: report jobs created, running now, the most running at once, and
        calls refused for the rate limit (since the last DELETE)."""
        return state.reports.activity()

    @app.delete("/_sandbox/reports")
    def clear_report_activity() -> dict[str, Any]:
        state.reports.clear_activity()
        return state.reports.activity()

    @app.post("/_sandbox/reset")
    def reset() -> dict[str, Any]:
        state.reset()
        return {"reset": True, "now": state.clock.now().isoformat()}

    @app.get("/_sandbox/truth")
    def truth(
        account_id: str,
        level: str = "ad",
        granularity: str = "day",
        since: str | None = None,
        until: str | None = None,
    ) -> Response:
        """Exact totals per entity and bucket as of the sandbox's now (see truth.py)."""
        account = state.world.account(account_id)
        if account is None:
            return _bad("unknown account", 404)
        if level not in ("account", "campaign", "adset", "ad") or granularity not in (
            "hour",
            "day",
        ):
            return _bad("level: account|campaign|adset|ad, granularity: hour|day")
        now = state.clock.now()
        today = now.astimezone(account.tz).date()
        try:
            d0 = date.fromisoformat(since) if since else today.replace(day=1)
            d1 = date.fromisoformat(until) if until else today
        except ValueError:
            return _bad("since/until must be YYYY-MM-DD")
        return StreamingResponse(
            stream_truth(account, level, granularity, d0, d1, now), media_type="application/json"
        )

    @app.get("/_sandbox/truth/breakdowns")
    def truth_breakdowns(
        account_id: str, breakdowns: str, since: str | None = None, until: str | None = None
    ) -> Response:
        """Every ad-day figure of a breakdown set (`breakdowns`: Meta's fields, comma-separated),
        hidden cells flagged (see truth.stream_breakdown_truth)."""
        account = state.world.account(account_id)
        if account is None:
            return _bad("unknown account", 404)
        names = [b.strip() for b in breakdowns.split(",") if b.strip()]
        fields = bd.SETS.get(frozenset(names))
        if fields is None:
            return _bad("breakdowns: one of the sets in sandbox/breakdowns.py")
        now = state.clock.now()
        today = now.astimezone(account.tz).date()
        try:
            d0 = date.fromisoformat(since) if since else today.replace(day=1)
            d1 = date.fromisoformat(until) if until else today
        except ValueError:
            return _bad("since/until must be YYYY-MM-DD")
        hidden_below = state.faults.config.breakdown_hidden_below
        return StreamingResponse(
            stream_breakdown_truth(account, fields, d0, d1, now, hidden_below),
            media_type="application/json",
        )

    @app.get("/_sandbox/truth/reach")
    def truth_reach(account_id: str, since: str, until: str, level: str = "account") -> Response:
        """Meta's deduplicated reach (and impressions) of every entity of `level` for exactly
        the range [since, until], as `time_range` + `time_increment=all_days` answers it."""
        account = state.world.account(account_id)
        if account is None:
            return _bad("unknown account", 404)
        if level not in ("account", "campaign", "adset", "ad"):
            return _bad("level: account|campaign|adset|ad")
        try:
            d0, d1 = date.fromisoformat(since), date.fromisoformat(until)
        except ValueError:
            return _bad("since/until must be YYYY-MM-DD")
        if d0 > d1:
            return _bad("since must not be after until")
        return JSONResponse(range_reach(account, level, d0, d1, state.clock.now()))

    @app.get("/_sandbox/truth/settings")
    def truth_settings(account_id: str) -> Response:
        """Each ad set's optimization goal, promoted object, attribution setting and result
        indicator, and the account's custom conversions."""
        account = state.world.account(account_id)
        if account is None:
            return _bad("unknown account", 404)
        return JSONResponse(settings_truth(account))

    @app.get("/_sandbox/truth/creatives")
    def truth_creatives(account_id: str) -> Response:
        """Every creative of the account (raw copy, url_tags, image hash or video id, the
        thumbnail's PNG digest) and the ads using it."""
        account = state.world.account(account_id)
        if account is None:
            return _bad("unknown account", 404)
        return JSONResponse(creatives.creatives_truth(account))

    @app.get("/_sandbox/cdn/{key}.png")
    def cdn(key: str, oe: str = "", oh: str = "") -> Response:
        """A creative's image or video thumbnail (a small PNG), behind a signed URL that
        expires like fbcdn's (403 "URL signature expired")."""
        if not creatives.known_key(state.world, key):
            return Response("Not Found", status_code=404, media_type="text/plain")
        refused = creatives.check_signed(config.seed, key, oe, oh, state.clock.now())
        if refused is not None:
            return Response(refused, status_code=403, media_type="text/plain")
        return Response(
            creatives.png(key),
            media_type="image/png",
            headers={"cache-control": "max-age=1209600, no-transform"},
        )

    @app.api_route("/{full_path:path}", methods=["GET", "POST", "DELETE"])
    async def graph_api(request: Request, full_path: str) -> Response:
        params: dict[str, str] = dict(request.query_params)
        if request.method == "POST":
            form = await request.form()
            params.update({k: str(v) for k, v in form.items()})
        auth = request.headers.get("authorization", "")
        if "access_token" not in params and auth.split(" ", 1)[0] in ("Bearer", "OAuth"):
            params["access_token"] = auth.split(" ", 1)[1].strip()
        head, _, rest = full_path.partition("/")
        version, path = (head, rest) if VERSION_RE.fullmatch(head) else (CURRENT_VERSION, full_path)
        base = str(request.base_url).rstrip("/")
        resp = graph.handle(state, GraphRequest(request.method, version, path, params, base))
        if resp.delay:
            await asyncio.sleep(resp.delay)
        return JSONResponse(resp.body, status_code=resp.status, headers=resp.headers)

    return app
