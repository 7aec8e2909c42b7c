"""Graph API request handling: version, token, node lookup, limits, faults, then the edge.

`handle` is a plain function from a GraphRequest to a GraphResponse so that `batch` can run
sub-requests through exactly the same path as top-level calls.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from metricx.sandbox import creatives as cr
from metricx.sandbox import delivery as dv
from metricx.sandbox import errors, insights, oauth, paging
from metricx.sandbox.access import authenticate
from metricx.sandbox.async_reports import ReportRun
from metricx.sandbox.errors import GraphError
from metricx.sandbox.generator import Account, Ad, AdSet, AdVideo, Campaign, Creative
from metricx.sandbox.objects import build_filter, render, split_fields
from metricx.sandbox.state import SandboxState
from metricx.sandbox.tokens import TokenInfo

CURRENT_VERSION = "v25.0"
OLDEST_MARKETING_VERSION = (24, 0)  # v21-v23 have expired for the Marketing API (§8)
VERSION_RE = re.compile(r"v(\d+)\.(\d+)")
EDGES = {
    Account: (
        "campaigns",
        "adsets",
        "ads",
        "insights",
        "customconversions",
        "adcreatives",
        "adimages",
        "advideos",
    ),
    Campaign: ("adsets", "ads", "insights"),
    AdSet: ("ads", "insights"),
    Ad: ("insights",),
    Creative: (),
    AdVideo: (),
}
READ_SCOPES = {"ads_read", "ads_management"}


@dataclass
class GraphRequest:
    method: str
    version: str
    path: str
    params: dict[str, str]
    base_url: str  # scheme://host:port, for `next` links


@dataclass
class GraphResponse:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def handle(state: SandboxState, req: GraphRequest) -> GraphResponse:
    """Answer one Graph call; every response carries the usage headers (errors too)."""
    resp = _handle(state, req)
    if not resp.headers:
        resp.headers = _headers(state, None, req)
    return resp


def _handle(state: SandboxState, req: GraphRequest) -> GraphResponse:
    account: Account | None = None
    delay = 0.0
    now = state.clock.now()
    try:
        match = VERSION_RE.fullmatch(req.version)
        if not match:
            raise errors.unknown_path(f"{req.version}/{req.path}")
        parts = [p for p in req.path.split("/") if p]
        if parts == ["oauth", "access_token"]:
            return GraphResponse(200, oauth.exchange(state, req.params))
        if parts == ["debug_token"]:
            return GraphResponse(200, oauth.debug_token(state, req.params))
        if not parts and req.method == "POST" and "batch" in req.params:
            return GraphResponse(200, run_batch(state, req))
        token = authenticate(state, req.params)
        if (int(match.group(1)), int(match.group(2))) < OLDEST_MARKETING_VERSION:
            raise errors.deprecated_version(req.version, CURRENT_VERSION)
        if not parts:
            raise errors.unknown_path("")
        if parts[0] == "me":
            return GraphResponse(200, _me(state, token, parts[1:], req))
        node = _lookup(state, parts[0], req.method)
        account = (
            node.query.account
            if isinstance(node, ReportRun)
            else (node if isinstance(node, Account) else node.account)
        )
        edge = parts[1] if len(parts) > 1 else ""
        if len(parts) > 2:
            raise errors.unknown_path("/".join(parts))
        state.limiter.record_app_call(now.timestamp())
        delay = state.faults.delay()
        if not READ_SCOPES & set(token.scopes):
            raise errors.permission_missing_200()
        lost = state.faults.permission_error(account.id)
        if lost is not None:
            raise lost
        kind = (
            "ads_insights"
            if edge == "insights" or isinstance(node, ReportRun)
            else "ads_management"
        )
        throttled = state.limiter.charge(
            account, kind, req.method == "POST", now.timestamp(), state.faults.config.throttle_code
        )
        config = state.faults.config
        if throttled is None and (
            state.faults.throttles()
            or state.reports.throttle_now(account.id, config.throttle_when_running)
        ):
            throttled = state.limiter.injected_block(config.throttle_code, config.throttle_seconds)
        if throttled is not None:
            state.reports.throttled(account.id)
            raise throttled
        injected = state.faults.request_error()
        if injected is not None:
            raise injected
        body = _dispatch(state, node, edge, req, now)
        return GraphResponse(200, body, _headers(state, account, req), delay)
    except GraphError as exc:
        headers = {**_headers(state, account, req), **exc.headers}
        return GraphResponse(exc.status, exc.body(), headers, delay)


def _headers(state: SandboxState, account: Account | None, req: GraphRequest) -> dict[str, str]:
    out = state.limiter.headers(account, state.clock.timestamp())
    out["facebook-api-version"] = req.version
    out["x-fb-trace-id"] = errors.fbtrace_id()
    return out


def _lookup(
    state: SandboxState, node_id: str, method: str
) -> Account | Campaign | AdSet | Ad | Creative | AdVideo | ReportRun:
    if node_id.startswith("act_"):
        account = state.world.account(node_id)
        if account is not None:
            return account
    else:
        found = state.world.by_id.get(node_id)
        if isinstance(found, Campaign | AdSet | Ad):
            return found
        media = state.world.creatives_by_id.get(node_id) or state.world.videos_by_id.get(node_id)
        if media is not None:
            return media
        run = state.reports.get(node_id)
        if run is not None:
            return run
    raise errors.unsupported_get(node_id, "post" if method == "POST" else "get")


def _me(
    state: SandboxState, token: TokenInfo, rest: list[str], req: GraphRequest
) -> dict[str, Any]:
    world = state.world
    if not rest:
        me = {"id": world.user_id, "name": world.user_name}
        fields = split_fields(req.params.get("fields")) or ["id", "name"]
        return {k: v for k, v in me.items() if k in fields or k == "id"}
    if rest == ["permissions"]:
        return {"data": [{"permission": s, "status": "granted"} for s in token.scopes]}
    if rest == ["adaccounts"]:
        if not READ_SCOPES & set(token.scopes):
            raise errors.permission_missing_200()
        fields = split_fields(req.params.get("fields"))
        now = state.clock.now()
        return _paginate(
            req,
            world.accounts,
            lambda a: render(a, fields or ["id", "account_id"], now, _spent(state, a)),
        )
    raise errors.unknown_field(rest[0], "User")


def _spent(state: SandboxState, account: Account) -> Any:
    def compute() -> str:
        now = state.clock.now()
        first = state.world.anchor.astimezone(account.tz).date().toordinal()
        last = now.astimezone(account.tz).date().toordinal()
        total = 0
        for ordinal in range(first, last + 1):
            sums = dv.sum_ads(
                account.ads,
                dv.day_buckets(account.timezone_name, ordinal),
                int(now.timestamp()),
                full=False,
            )
            if sums:
                total += dv.combine(sums)[dv.SPEND]
        return str(total)  # minor units ("cents" for USD), as Meta returns amount_spent

    return compute


def _paginate(req: GraphRequest, items: list[Any], render_one: Any) -> dict[str, Any]:
    limit = paging.parse_limit(req.params)
    start = paging.start_position(req.params, limit)
    end = min(len(items), start + limit)
    data = [render_one(item) for item in items[start:end]]
    body: dict[str, Any] = {"data": data}
    block = paging.paging_block(_self_url(req), req.params, start, end, end < len(items), len(data))
    if block:
        body["paging"] = block
    if req.params.get("summary") in ("true", "1", "True"):
        body["summary"] = {"total_count": len(items)}
    return body


def _self_url(req: GraphRequest) -> str:
    return f"{req.base_url}/{req.version}/{req.path.strip('/')}"


NODE_NAMES: dict[type, str] = {
    Account: "AdAccount",
    Campaign: "AdCampaignGroup",
    AdSet: "AdCampaign",
    Ad: "Adgroup",
    Creative: "AdCreative",
    AdVideo: "AdVideo",
}


def _media(
    state: SandboxState, node: Any, edge: str, req: GraphRequest, now: datetime
) -> dict[str, Any] | None:
    """Creatives, images and videos (sandbox/creatives.py); None: not a media request."""
    fields = split_fields(req.params.get("fields"))
    seed, base = state.config.seed, req.base_url
    if isinstance(node, Creative) and edge == "":
        return cr.pick(cr.creative_fields(node, base, now, seed), fields, "AdCreative")
    if isinstance(node, AdVideo) and edge == "":
        return cr.pick(cr.video_fields(node, base, now, seed), fields, "AdVideo")
    if not isinstance(node, Account):
        return None
    if edge == "adcreatives":
        return _paginate(
            req,
            node.creatives,
            lambda c: cr.pick(cr.creative_fields(c, base, now, seed), fields, "AdCreative"),
        )
    if edge == "adimages":
        wanted = parse_hashes(req.params)
        with_image = [
            c
            for c in node.creatives
            if c.image is not None and (wanted is None or c.image.hash in wanted)
        ]
        return _paginate(
            req,
            with_image,
            lambda c: cr.pick(cr.image_fields(c, base, now, seed), fields or ["hash"], "AdImage"),
        )
    if edge == "advideos":
        videos = [c.video for c in node.creatives if c.video is not None]
        return _paginate(
            req, videos, lambda v: cr.pick(cr.video_fields(v, base, now, seed), fields, "AdVideo")
        )
    return None


def parse_hashes(params: dict[str, str]) -> set[str] | None:
    raw = params.get("hashes")
    if not raw:
        return None
    try:
        found = json.loads(raw)
    except json.JSONDecodeError:
        raise errors.invalid_param("param hashes must be a JSON array") from None
    if not isinstance(found, list):
        raise errors.invalid_param("param hashes must be a JSON array")
    return {str(h) for h in found}


def _dispatch(
    state: SandboxState,
    node: Account | Campaign | AdSet | Ad | Creative | AdVideo | ReportRun,
    edge: str,
    req: GraphRequest,
    now: datetime,
) -> dict[str, Any]:
    if isinstance(node, ReportRun):
        if edge == "":
            hold = state.faults.config.report_hold_concurrency
            return state.reports.poll(node, int(now.timestamp()), hold)
        if edge == "insights":
            state.reports.check_readable(node)
            return _insights_page(state, node.query, req)
        raise errors.unknown_field(edge, "AdReportRun")
    if isinstance(node, Creative | AdVideo) and req.method == "POST":
        raise errors.unsupported_get(node.id, "post")
    if req.method == "POST" and not isinstance(node, Creative | AdVideo):
        if edge != "insights":
            raise errors.unsupported_get(node.id, "post")
        query = insights.parse_query(node, req.params, now)
        query.hidden_below = state.faults.config.breakdown_hidden_below
        if query.reach_withheld and "reach" in query.fields:
            allowance = state.faults.config.reach_jobs_per_day
            day = now.astimezone(UTC).date()
            query.reach_withheld = not state.reports.take_reach(query.account.id, day, allowance)
            if query.reach_withheld and state.faults.config.reach_limit_refuses:
                raise errors.reach_limit()
        limit = state.faults.config.report_max_rows
        fails = state.faults.async_fails() or bool(limit and query.size > limit)
        run = state.reports.create(query, int(now.timestamp()), fails)
        return {"report_run_id": run.id}
    if isinstance(node, Creative | AdVideo) or edge in ("adcreatives", "adimages", "advideos"):
        if edge and edge not in EDGES[type(node)]:
            raise errors.unknown_field(edge, NODE_NAMES[type(node)])
        media = _media(state, node, edge, req, now)
        if media is not None:
            return media
    if isinstance(node, Creative | AdVideo):
        raise errors.unknown_field(edge, NODE_NAMES[type(node)])
    fields = split_fields(req.params.get("fields"))
    if edge == "":
        spent = _spent(state, node) if isinstance(node, Account) else None
        return render(node, fields, now, spent)
    if edge not in EDGES[type(node)]:
        raise errors.unknown_field(edge, NODE_NAMES[type(node)])
    if edge == "insights":
        query = insights.parse_query(node, req.params, now)
        query.hidden_below = state.faults.config.breakdown_hidden_below
        return _insights_page(state, query, req, synchronous=True)
    if edge == "customconversions" and isinstance(node, Account):
        return _paginate(req, node.custom_conversions, lambda o: render(o, fields, now))
    level = edge[:-1]  # campaigns -> campaign
    pool: list[Any] = {
        "campaign": getattr(node, "campaigns", []),
        "adset": getattr(node, "adsets", []),
        "ad": getattr(node, "ads", []),
    }[level]
    keep, _ = build_filter(req.params, level)
    unlisted = set(state.faults.config.unlisted_ids)
    listed = [o for o in pool if keep(o) and o.id not in unlisted]
    return _paginate(req, listed, lambda o: render(o, fields, now))


def _insights_page(
    state: SandboxState, query: insights.InsightsQuery, req: GraphRequest, synchronous: bool = False
) -> dict[str, Any]:
    limit = paging.parse_limit(req.params)
    start = paging.start_position(req.params, limit)
    rows, end, more = insights.page(query, start, limit, truncate=state.faults.truncate())
    most = state.faults.config.sync_insights_max_rows
    if synchronous and most and end > most:
        raise errors.data_per_call_limit()
    body: dict[str, Any] = {"data": rows}
    block = paging.paging_block(_self_url(req), req.params, start, end, more, len(rows))
    if block:
        body["paging"] = block
    return body


MAX_BATCH = 50


def run_batch(state: SandboxState, req: GraphRequest) -> list[dict[str, Any] | None]:
    try:
        calls = json.loads(req.params["batch"])
    except json.JSONDecodeError:
        raise errors.invalid_param("batch parameter must be a JSON array") from None
    if not isinstance(calls, list) or len(calls) > MAX_BATCH:
        raise errors.invalid_param(
            f"Too many requests in batch message. Maximum batch size is {MAX_BATCH}"
        )
    out: list[dict[str, Any] | None] = []
    for call in calls:
        relative = str(call.get("relative_url", "")).lstrip("/")
        parsed = urlsplit(relative)
        path = parsed.path
        version = req.version
        head, _, tail = path.partition("/")
        if VERSION_RE.fullmatch(head):
            version, path = head, tail
        params = {"access_token": req.params.get("access_token", "")}
        if "appsecret_proof" in req.params:
            params["appsecret_proof"] = req.params["appsecret_proof"]
        params.update(dict(parse_qsl(parsed.query, keep_blank_values=True)))
        if call.get("body"):
            params.update(dict(parse_qsl(str(call["body"]), keep_blank_values=True)))
        sub = handle(
            state,
            GraphRequest(
                str(call.get("method", "GET")).upper(), version, path, params, req.base_url
            ),
        )
        out.append(
            {
                "code": sub.status,
                "headers": [{"name": k, "value": v} for k, v in sub.headers.items()],
                "body": json.dumps(sub.body),
            }
        )
    return out
