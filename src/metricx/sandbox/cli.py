"""`metricx sandbox`: serve the Meta sandbox, or print a token for scripts."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Annotated

import typer

from metricx.sandbox.config import FaultConfig, SandboxConfig
from metricx.sandbox.tokens import ALL_SCOPES, mint_user_token, sandbox_user_id

sandbox_app = typer.Typer(
    help="The Meta Graph/Marketing API sandbox: a local, deterministic stand-in for Meta.\n\n"
    "Data is generated from --seed and the sizes (--accounts, --campaigns, "
    "--adsets-per-campaign, --ads-per-adset, --days of history); accounts cycle through "
    "USD/Los Angeles, EUR/Berlin, JPY/UTC and INR/Kolkata. --clock pins the start time "
    "(ISO 8601; add --freeze-clock to stop it). Faults: --fault-* options or "
    "POST /_sandbox/faults. Point the product at it with METRICX_META_GRAPH_URL="
    "http://HOST:PORT and get a token with `metricx sandbox token`.",
    invoke_without_command=True,
    no_args_is_help=False,
)


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


@sandbox_app.callback(invoke_without_command=True)
def serve(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8600,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    seed: Annotated[int, typer.Option(help="Seed of the generated world and tokens.")] = 42,
    accounts: Annotated[int, typer.Option(help="Ad accounts.")] = 4,
    campaigns: Annotated[int, typer.Option(help="Campaigns per account.")] = 5,
    adsets_per_campaign: Annotated[int, typer.Option(help="Ad sets per campaign.")] = 3,
    ads_per_adset: Annotated[int, typer.Option(help="Ads per ad set.")] = 4,
    days: Annotated[int, typer.Option(help="Days of history before the start time.")] = 90,
    tier: Annotated[
        str,
        typer.Option(
            help="Marketing API access tier: development (score 60, "
            "300 s block) or standard (9000, 60 s)."
        ),
    ] = "development",
    clock: Annotated[
        str | None, typer.Option(help="Sandbox start time, ISO 8601 (default: real now).")
    ] = None,
    freeze_clock: Annotated[
        bool, typer.Option(help="Hold the clock still until moved via /_sandbox/clock.")
    ] = False,
    app_id: Annotated[str, typer.Option(help="The sandbox app's id.")] = "1234567890",
    app_secret: Annotated[str | None, typer.Option(help="The sandbox app's secret.")] = None,
    fault_500_rate: Annotated[float, typer.Option(help="Share of calls answered HTTP 500.")] = 0,
    fault_transient_rate: Annotated[
        float, typer.Option(help="Share of calls failing with transient code 1 or 2.")
    ] = 0,
    fault_timeout_rate: Annotated[
        float, typer.Option(help="Share of calls held for --fault-timeout-seconds.")
    ] = 0,
    fault_timeout_seconds: Annotated[float, typer.Option()] = 30.0,
    fault_slow_rate: Annotated[float, typer.Option(help="Share of slow (but correct) calls.")] = 0,
    fault_slow_seconds: Annotated[float, typer.Option()] = 2.0,
    fault_truncate_rate: Annotated[
        float, typer.Option(help="Share of pages that end early but still carry `next`.")
    ] = 0,
    fault_async_fail_rate: Annotated[
        float, typer.Option(help="Share of async report runs ending in 'Job Failed'.")
    ] = 0,
    fault_throttle_rate: Annotated[
        float,
        typer.Option(
            help="Share of ad-account calls refused by the score limit (17/2446079), as if "
            "other traffic had used the account's score up."
        ),
    ] = 0,
    fault_throttle_seconds: Annotated[
        float, typer.Option(help="What is left of that block (reset_time_duration, seconds).")
    ] = 60.0,
    fault_revoke_at: Annotated[
        str | None,
        typer.Option(
            help="Sandbox time (ISO 8601) at which existing tokens are revoked (190/460)."
        ),
    ] = None,
    fault_permission_loss: Annotated[
        str, typer.Option(help="'200' or '10': ads calls fail with that permission error.")
    ] = "",
) -> None:
    """Serve the sandbox (uvicorn) when no subcommand is given."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from metricx.sandbox.app import create_sandbox_app

    if tier not in ("development", "standard"):
        raise typer.BadParameter("tier must be development or standard")
    faults = FaultConfig(
        error_500_rate=fault_500_rate,
        transient_rate=fault_transient_rate,
        timeout_rate=fault_timeout_rate,
        timeout_seconds=fault_timeout_seconds,
        slow_rate=fault_slow_rate,
        slow_seconds=fault_slow_seconds,
        truncate_rate=fault_truncate_rate,
        async_fail_rate=fault_async_fail_rate,
        throttle_rate=fault_throttle_rate,
        throttle_seconds=fault_throttle_seconds,
        revoke_at=_when(fault_revoke_at),
        permission_loss=fault_permission_loss,  # type: ignore[arg-type]
    )
    config = SandboxConfig(
        seed=seed,
        accounts=accounts,
        campaigns=campaigns,
        adsets_per_campaign=adsets_per_campaign,
        ads_per_adset=ads_per_adset,
        days=days,
        tier=tier,  # type: ignore[arg-type]
        clock=_when(clock),
        frozen_clock=freeze_clock,
        app_id=app_id,
        faults=faults,
    )
    if app_secret:
        config.app_secret = app_secret
    typer.echo(
        f"metricx sandbox on http://{host}:{port} (seed {seed}, app id {app_id});"
        f" controls under /_sandbox/"
    )
    uvicorn.run(create_sandbox_app(config), host=host, port=port, log_level="info")


@sandbox_app.command("token")
def token(
    seed: Annotated[int, typer.Option(help="Must match the server's --seed.")] = 42,
    app_id: Annotated[str, typer.Option()] = "1234567890",
    expires_in: Annotated[int, typer.Option(help="Seconds until expiry; 0 = never.")] = 5183944,
    clock: Annotated[str | None, typer.Option(help="Issue time, ISO 8601 (default now).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help='Print {"token": ...}.')] = False,
) -> None:
    """Print a valid long-lived user token (all accounts, all scopes); no server needed."""
    issued = _when(clock)
    value = mint_user_token(
        seed,
        user_id=sandbox_user_id(seed),
        app_id=app_id,
        scopes=ALL_SCOPES,
        issued_at=int(issued.timestamp() if issued else time.time()),
        ttl=expires_in,
    )
    typer.echo(json.dumps({"token": value}) if as_json else value)
