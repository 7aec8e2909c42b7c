"""Input that PostgreSQL can store: text without NUL characters or lone surrogates, integers
within bigint.

PostgreSQL's text types cannot hold NUL (psycopg refuses to send one) nor a lone UTF-16
surrogate (a JSON ``"\\ud800"`` decodes to one, and it has no UTF-8 form), and a bound integer
past 2^63 - 1 overflows bigint: each reached the database and answered 500. Every string a
request carries is checked before that: the query string, path and headers once at the edge
(``nul_in_query``, used by the app's middleware, so a new endpoint is covered without anyone
remembering to), body and form fields by their type (``Text``, ``SecretText``); integer query
parameters carry ``le=`` bounds (``MAX_OFFSET`` for offsets).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    StringConstraints,
    WithJsonSchema,
)

from metricx.kit.tz import timezone_names

NUL = "\x00"
NUL_REASON = "must not contain NUL (\\x00) characters"
SURROGATE_REASON = "must be valid Unicode text (no lone surrogate)"
# The deepest offset a listing may be asked for: far beyond any real table, well inside bigint.
MAX_OFFSET = 10**12


def storable_text(value: str) -> str:
    """``value``, if PostgreSQL can store it as text; else a ValueError saying why."""
    if NUL in value:
        raise ValueError(NUL_REASON)
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(SURROGATE_REASON) from None
    return value


def storable_secret(value: SecretStr) -> SecretStr:
    storable_text(value.get_secret_value())
    return value


# What the OpenAPI document says of such text: no NUL (lone surrogates are not text at all).
NUL_FREE = "^[^\\x00]*$"
NO_NUL = Field(json_schema_extra={"pattern": NUL_FREE})
# A string of a request body or form field (it may reach PostgreSQL).
Text = Annotated[str, AfterValidator(storable_text), NO_NUL]
# Length limits go before the check, so that pydantic's own string messages ("String should
# have at least 1 character") stay, also where the field is optional.
# A name someone gives a thing (a workspace, an API key, a channel).
Name = Annotated[
    str, StringConstraints(min_length=1, max_length=200), AfterValidator(storable_text), NO_NUL
]
# An IANA time zone name, as typed (checked against the zone database by the service, which
# names the field in its answer); the OpenAPI document lists the names it accepts.
ZoneName = Annotated[
    str,
    StringConstraints(max_length=64),
    AfterValidator(storable_text),
    WithJsonSchema({"type": "string", "enum": timezone_names()}),
]
# A secret of a request body (a token, a webhook URL, a password): checked the same way.
SecretText = Annotated[SecretStr, AfterValidator(storable_secret), NO_NUL]


ISO_DATE_START = re.compile(r"\d{4}-\d{2}-\d{2}")


def iso_text(value: object) -> object:
    """Dates and times as ISO 8601 text, as the OpenAPI document says (``format: date``): in
    lax mode pydantic also reads a number as a Unix timestamp ("0" is 1970-01-01)."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not ISO_DATE_START.match(value):
        raise ValueError("must be an ISO 8601 date (YYYY-MM-DD) or time (YYYY-MM-DDTHH:MM:SSZ)")
    return value


# A date or an instant a request names (a query parameter, a body field).
IsoDate = Annotated[date, BeforeValidator(iso_text)]
IsoDateTime = Annotated[datetime, BeforeValidator(iso_text)]


def nul_in_query(query_string: bytes) -> str | None:
    """The name of the first query parameter whose name or value holds a NUL (``%00`` or a raw
    byte), or None. Decoded as Starlette decodes it (UTF-8, errors replaced, so no surrogate
    can come out of a query string)."""
    text = query_string.decode("latin-1")
    if "%00" not in text and NUL not in text:
        return None  # the common case: no parse at all
    for name, value in parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="replace"):
        if NUL in name or NUL in value:
            return name.replace(NUL, "\\x00")
    return None


def document_nul_free_parameters(document: dict[str, Any]) -> None:
    """Every free-text parameter of the OpenAPI document (query, path, header, cookie) says it
    holds no NUL: the app refuses one at the edge with a 422 (``nul_in_query``), so a client
    generator or a fuzzer must not take it for a valid value. Enumerations, formats (dates,
    UUIDs) and patterns say more already."""
    for item in document.get("paths", {}).values():
        for operation in (item, *item.values()):
            if isinstance(operation, dict):
                for parameter in operation.get("parameters", ()):
                    if isinstance(parameter, dict):
                        _nul_free(parameter.get("schema", {}))


def _nul_free(schema: dict[str, Any]) -> None:
    if schema.get("type") == "string" and not {"enum", "const", "format", "pattern"} & set(schema):
        schema["pattern"] = NUL_FREE
    for sub in (*schema.get("anyOf", ()), *schema.get("oneOf", ())):
        _nul_free(sub)
    if isinstance(schema.get("items"), dict):
        _nul_free(schema["items"])
