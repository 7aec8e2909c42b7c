"""One Graph API connection on the facebook-business SDK: timeouts, usage headers, retries,
throttling waits and typed errors. Every call of the client and of OAuth goes through here.

SDK facts relied on: `FacebookSession.GRAPH` is a class attribute
read at call time; the session puts access_token and appsecret_proof in every query string;
timeouts default to none; an HTML 5xx body can come back as a success; a timeout raises a
`requests` exception, not FacebookRequestError.

Tokens never travel in a URL (URLs end up in proxy, load balancer and server logs): the
session's token moves from its query parameters to an `Authorization: Bearer` header, as
does a token a single call names (`access_token`, e.g. the app token of debug_token); Meta
reads both. `appsecret_proof` (HMAC-SHA256 of the token keyed by the app secret, sent when
the app secret is known) stays a parameter: it is worthless without the token.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import requests
from facebook_business.api import FacebookAdsApi, FacebookSession
from facebook_business.exceptions import FacebookError, FacebookRequestError

from metricx.integrations.meta.errors import (
    MetaError,
    ThrottledError,
    TransientError,
    classify,
    scrub,
)
from metricx.integrations.meta.rate_limit import UsageGovernor, retry_after
from metricx.logging import get_logger

log = get_logger("metricx.meta")
Path = tuple[str, ...]
# Called after every HTTP call with (endpoint, outcome): "insights" / "report" / "ads"... and
# "ok" or the error kind. The sync's Prometheus counters hook in here (sync/metrics.py).
CALL_OBSERVERS: list[Callable[[str, str], None]] = []
EDGES = frozenset({"insights", "campaigns", "adsets", "ads", "adaccounts", "permissions"})


def endpoint_label(method: str, path: Path) -> str:
    """A low-cardinality name of a Graph path (node ids never become label values)."""
    last = path[-1] if path else ""
    if last in EDGES:
        return f"{last}_async" if last == "insights" and method == "POST" else last
    return "node"


def _observe(path: Path, method: str, outcome: str) -> None:
    for observer in CALL_OBSERVERS:
        try:
            observer(endpoint_label(method, path), outcome)
        except Exception:  # metrics must never break a call
            log.debug("call observer failed", exc_info=True)


@dataclass
class TransportOptions:
    graph_url: str = "https://graph.facebook.com"
    api_version: str = "v25.0"
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    max_retries: int = 4
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    max_throttle_wait: float = 600.0
    max_throttle_waits: int = 5  # per call, so a stuck limit cannot hold a job forever
    slowdown_pct: float = 75.0
    slowdown_max: float = 30.0


@dataclass
class CallStats:
    calls: int = 0
    retries: int = 0
    throttled_seconds: float = 0.0


class GraphTransport:
    def __init__(
        self,
        options: TransportOptions,
        *,
        app_id: str | None,
        app_secret: str | None,
        access_token: str | None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.options = options
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.stats = CallStats()
        self.governor = UsageGovernor(
            threshold=options.slowdown_pct, max_pause=options.slowdown_max, sleep=sleep
        )
        self._secrets = [access_token, app_secret]
        # A class attribute in the SDK: every session of the process shares it (SDK_NOTES).
        FacebookSession.GRAPH = options.graph_url.rstrip("/")
        session = FacebookSession(
            app_id,
            app_secret if access_token else None,  # appsecret_proof needs a token
            access_token,
            timeout=(options.connect_timeout, options.read_timeout),
        )
        if access_token and app_secret:
            self._secrets.append(session.appsecret_proof)
        session.requests.params.pop("access_token", None)
        self._token = access_token
        if access_token and _sendable(access_token):
            session.requests.headers["Authorization"] = f"Bearer {access_token}"
        session.requests.hooks["response"].append(self._on_response)
        self.api = FacebookAdsApi(session, api_version=options.api_version)

    def share_governor(self, governor: UsageGovernor) -> None:
        """Space this transport's calls with ``governor`` (another transport's): the clients
        of one sync run's concurrent report jobs obey one reading of Meta's usage and back off
        together when Meta throttles any of them (rate_limit.UsageGovernor)."""
        if governor is not self.governor:
            governor.sharers += 1
            self.governor = governor

    def add_secret(self, value: str | None) -> None:
        """Another value (an OAuth code, a token being inspected) never to appear in a message."""
        self._secrets.append(value)

    def scrub(self, text: str) -> str:
        return scrub(text, self._secrets)

    def _on_response(self, response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        self.governor.observe(response.headers)

    # ---- one call ---------------------------------------------------------------------------

    def request(
        self, method: str, path: Path, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The JSON object Graph answered, after retries; a MetaError subclass otherwise."""
        attempt = 0
        throttle_waits = 0
        while True:
            self.governor.before_call()
            try:
                return self._once(method, path, dict(params or {}))
            except ThrottledError as exc:
                throttle_waits += 1
                if (
                    exc.retry_after > self.options.max_throttle_wait
                    or throttle_waits > self.options.max_throttle_waits
                ):
                    raise
                log.warning(
                    "meta throttled, waiting",
                    path=self._where(path),
                    code=exc.code,
                    wait_seconds=exc.retry_after,
                )
                self.stats.throttled_seconds += exc.retry_after
                # Every job sharing the governor waits this block out, not only this one.
                self.governor.throttled_wait(exc.retry_after)
            except TransientError as exc:
                if attempt >= self.options.max_retries:
                    raise
                delay = min(self.options.backoff_max, self.options.backoff_base * 2**attempt)
                delay *= self.rng.uniform(0.5, 1.0)  # jitter: workers do not retry in step
                attempt += 1
                self.stats.retries += 1
                log.warning(
                    "meta call failed, retrying",
                    path=self._where(path),
                    error=exc.message,
                    attempt=attempt,
                    delay_seconds=round(delay, 2),
                )
                self.governor.rest(delay, self.sleep)

    @staticmethod
    def _where(path: Path) -> str:
        # Node ids are not secrets; the query string (token, proof) never enters a log line.
        return "/" + "/".join(path)

    def _once(self, method: str, path: Path, params: dict[str, Any]) -> dict[str, Any]:
        self.stats.calls += 1
        try:
            body = self._call(method, path, params)
        except MetaError as exc:
            _observe(path, method, exc.kind)
            raise
        _observe(path, method, "ok")
        return body

    def _call(self, method: str, path: Path, params: dict[str, Any]) -> dict[str, Any]:
        headers = {}
        token = params.pop("access_token", None)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if not all(_sendable(t) for t in (token, self._token) if t):
            # What Meta answers a token it cannot parse; a header could not even carry it.
            raise classify(
                code=190,
                subcode=None,
                message="Invalid OAuth access token - Cannot parse access token",
                http_status=400,
                is_transient=False,
                retry_after=0.0,
            )
        try:
            response = self.api.call(method, path, params=params, headers=headers)
        except FacebookRequestError as exc:
            raise self._from_sdk(exc) from None
        except requests.Timeout:
            raise TransientError(
                f"Meta did not answer {method} {self._where(path)} in time"
            ) from None
        except requests.RequestException as exc:
            raise TransientError(
                f"cannot reach Meta ({type(exc).__name__}): {self.scrub(str(exc))}"
            ) from None
        except (FacebookError, ValueError, TypeError, KeyError) as exc:
            # e.g. FacebookRequestError's own constructor failing on an odd error body.
            raise TransientError(
                f"Meta sent an answer that could not be read ({type(exc).__name__})"
            ) from None
        body = response.json()
        if isinstance(body, list) and not path and method == "POST":
            return {"batch": body}  # a batch request (the root path's one use): one answer each
        if not isinstance(body, dict):
            raise TransientError(
                f"Meta answered {method} {self._where(path)} with HTTP {response.status()} and "
                "a body that is not JSON"
            )
        return body

    def _from_sdk(self, exc: FacebookRequestError) -> MetaError:
        raw = exc.body()
        error = raw.get("error", {}) if isinstance(raw, dict) else {}
        error = error if isinstance(error, dict) else {}
        if not error and not isinstance(raw, dict):
            return TransientError(
                f"Meta answered HTTP {exc.http_status()} with a body that is not JSON"
            )
        message = str(error.get("error_user_msg") or exc.api_error_message() or "no message")
        headers = exc.http_headers() or {}
        self.governor.observe(headers)
        return classify(
            code=_int(exc.api_error_code()),
            subcode=_int(exc.api_error_subcode()),
            message=self.scrub(message),
            http_status=exc.http_status(),
            is_transient=bool(error.get("is_transient")),
            retry_after=retry_after(headers),
        )

    # ---- paging -----------------------------------------------------------------------------

    def pages(self, path: Path, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """Every page of an edge, following `paging.cursors.after` while `next` is there, as
        the SDK's Cursor does (a page is retried on its own, not the whole edge)."""
        params = dict(params)
        while True:
            body = self.request("GET", path, params)
            data = body.get("data")
            if not isinstance(data, list):
                raise TransientError(f"Meta answered {self._where(path)} without a data list")
            if data:
                yield data
            paging = body.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not data or not paging.get("next") or not after:
                return
            params["after"] = after


def _sendable(token: str) -> bool:
    """Whether ``token`` fits in an HTTP header: visible ASCII, as every Meta token is."""
    return token.isascii() and token.isprintable() and " " not in token


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
