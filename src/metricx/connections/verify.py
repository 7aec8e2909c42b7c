"""`metricx meta verify`: is this token usable for metricx, and if not, why, in plain words."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from metricx.config import Settings
from metricx.connections.tokens import ClientFactory, default_client_factory, inspect
from metricx.integrations.meta.errors import MetaError
from metricx.kit.crypto import Secret
from metricx.models import TokenStatus

READ_SCOPES = {"ads_read", "ads_management"}


@dataclass
class VerifyReport:
    valid: bool = False
    scopes: list[str] = field(default_factory=list)
    expires_at: datetime | None = None
    accounts: list[dict[str, Any]] = field(default_factory=list)
    insights_readable: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.valid and bool(self.accounts) and self.insights_readable and not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "valid": self.valid,
            "scopes": self.scopes,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "accounts": self.accounts,
            "insights_readable": self.insights_readable,
            "problems": self.problems,
        }


def verify_token(
    settings: Settings, token: Secret, *, client_factory: ClientFactory = default_client_factory
) -> VerifyReport:
    report = VerifyReport()
    try:
        health = inspect(settings, token, client_factory=client_factory)
    except MetaError as exc:
        report.problems.append(f"could not check the token: {exc.message}")
        return report
    if health.status == TokenStatus.INVALID:
        report.problems.append(f"the token is not valid: {health.problem}")
        return report
    report.valid = True
    if health.details is not None:
        report.scopes = health.details.scopes
        report.expires_at = health.details.expires_at
    if not READ_SCOPES & set(report.scopes):
        report.problems.append(
            "the token lacks the ads_read permission: reconnect and grant it, or give the "
            "system user access to the ad accounts"
        )
    if health.status == TokenStatus.EXPIRING and report.expires_at:
        days = (report.expires_at - datetime.now(UTC)).days
        report.problems.append(f"the token expires in {days} day(s): reconnect soon")
    client = client_factory(settings, token)
    try:
        report.accounts = [a.as_dict() for a in client.iter_ad_accounts()]
    except MetaError as exc:
        report.problems.append(f"cannot list the ad accounts: {exc.message}")
        return report
    if not report.accounts:
        report.problems.append("the token reaches no ad account")
        return report
    first = report.accounts[0]["id"]
    try:
        list(client.get_insights(first, level="account", fields=["spend"], date_preset="yesterday"))
        report.insights_readable = True
    except MetaError as exc:
        report.problems.append(f"cannot read insights of {first}: {exc.message}")
    return report
