"""Exchange rates in the API."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, StringConstraints

from metricx.fx.formats import FIRST_DAY, LAST_DAY
from metricx.kit.inputs import iso_text, storable_text

CurrencyCode = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    AfterValidator(storable_text),
    Field(description="ISO 4217 code, e.g. USD."),
]
MAX_RATES_PER_CALL = 5000


def _in_range(day: date) -> date:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"must be between {FIRST_DAY} and {LAST_DAY}")
    return day


RateDay = Annotated[date, BeforeValidator(iso_text), AfterValidator(_in_range)]
# A positive decimal below 10^9 with at most 12 decimal places, as text (exact, like every
# amount in the API): "1.0512", "161.23", "0.0061".
RATE_PATTERN = r"^(0*[1-9][0-9]{0,8}(\.[0-9]{1,12})?|0*\.[0-9]{0,11}[1-9]0*)$"
RateValue = Annotated[
    str,
    StringConstraints(pattern=RATE_PATTERN),
    AfterValidator(storable_text),
    Field(
        description="Units of the currency per one euro (the ECB's convention), as decimal "
        'text, e.g. "1.0512"; positive, below 10^9, at most 12 decimal places.'
    ),
]


class RateIn(BaseModel):
    day: RateDay
    currency: CurrencyCode
    rate: RateValue


class RatesPut(BaseModel):
    rates: list[RateIn] = Field(min_length=1, max_length=MAX_RATES_PER_CALL)


class RatesLoaded(BaseModel):
    rates: int = Field(description="Rates given.")
    changed: int = Field(description="Rates stored new or changed (identical ones: untouched).")
    first_day: date | None
    last_day: date | None
    currencies: list[str]


class RateRead(BaseModel):
    day: date
    currency: str
    rate: str = Field(description="Units per one euro (decimal text).")
    source: str = Field(description="file (metricx fx load), fetch (the periodic job), api.")
    scope: str = Field(description="workspace (its own, first) or operator.")


class RateList(BaseModel):
    rates: list[RateRead]


class RatesDeleted(BaseModel):
    deleted: int
