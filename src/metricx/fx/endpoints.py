"""A workspace's exchange rates: the ones in force for it (its own first, then the
operator's), and its own, loaded and removed through the API."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query

from metricx.auth.dependencies import DbSession, WorkspaceAdmin, WorkspaceReader
from metricx.errors import Forbidden, InvalidInput, NotFound, Unauthorized, error_responses
from metricx.fx import service
from metricx.fx.formats import Rate, checked, parse_rate
from metricx.fx.schemas import (
    CurrencyCode,
    RateDay,
    RateList,
    RateRead,
    RatesDeleted,
    RatesLoaded,
    RatesPut,
)

router = APIRouter(tags=["fx"])
ERRORS = error_responses(Unauthorized, Forbidden, NotFound, InvalidInput)
MAX_LIST_DAYS = 400


def _rate_text(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")


def _days(start: RateDay, end: RateDay, limit: int | None) -> None:
    if end < start:
        raise InvalidInput("end is before start", details={"field": "end"})
    if limit is not None and end - start > timedelta(days=limit - 1):
        raise InvalidInput(f"ask for at most {limit} days", details={"field": "end"})


@router.get("/workspaces/{workspace_id}/fx/rates", response_model=RateList, responses=ERRORS)
def list_rates(
    access: WorkspaceReader,
    session: DbSession,
    start: Annotated[RateDay, Query(description="First day.")],
    end: Annotated[RateDay, Query(description="Last day (inclusive; at most 400 days).")],
    currency: Annotated[CurrencyCode | None, Query()] = None,
) -> RateList:
    """The rates the workspace's answers convert with, per day and currency: its own where it
    loaded one, else the operator's (``metricx fx load``, the periodic fetch). Units per one
    euro; a day without a rate converts nothing (the answer lists it as missing)."""
    _days(start, end, MAX_LIST_DAYS)
    found = service.in_force(
        session,
        access.workspace.id,
        start=start,
        end=end,
        currencies=[currency] if currency else None,
    )
    return RateList(
        rates=[
            RateRead(
                day=r.day,
                currency=r.currency,
                rate=_rate_text(r.rate),
                source=r.source,
                scope=r.scope,
            )
            for r in found.values()
        ]
    )


@router.put("/workspaces/{workspace_id}/fx/rates", response_model=RatesLoaded, responses=ERRORS)
def put_rates(body: RatesPut, access: WorkspaceAdmin, session: DbSession) -> RatesLoaded:
    """Load the workspace's own rates (up to 5,000 per call; units per one euro): they take
    precedence over the operator's for this workspace only. A rate for the same day and
    currency replaces the earlier one; EUR's rate is always 1."""
    rates: list[Rate] = []
    for i, r in enumerate(body.rates):
        try:
            rate = checked(r.day, r.currency, parse_rate(r.rate))
        except ValueError as exc:
            raise InvalidInput(str(exc), details={"field": f"rates.{i}.rate"}) from None
        if rate is not None:
            rates.append(rate)
    loaded = service.store(session, rates, workspace_id=access.workspace.id, source="api")
    return RatesLoaded(**loaded.__dict__)


@router.delete("/workspaces/{workspace_id}/fx/rates", response_model=RatesDeleted, responses=ERRORS)
def delete_rates(
    access: WorkspaceAdmin,
    session: DbSession,
    start: Annotated[RateDay, Query(description="First day.")],
    end: Annotated[RateDay, Query(description="Last day (inclusive).")],
    currency: Annotated[CurrencyCode | None, Query()] = None,
) -> RatesDeleted:
    """Remove the workspace's own rates in a range (the operator's then apply again)."""
    _days(start, end, None)
    return RatesDeleted(
        deleted=service.remove_own(
            session, access.workspace.id, start=start, end=end, currency=currency
        )
    )
