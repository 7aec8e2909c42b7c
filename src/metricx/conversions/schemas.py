from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from metricx.kit.inputs import Name, storable_text

# An action type as Meta names them (``offsite_conversion.fb_pixel_purchase``,
# ``onsite_conversion.messaging_conversation_started_7d``, ``offsite_conversion.custom.123``).
ActionType = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)*$"),
    AfterValidator(storable_text),
]
CustomConversionId = Annotated[
    str, StringConstraints(pattern=r"^[0-9]{1,64}$"), AfterValidator(storable_text)
]
ValueSource = Literal["action_values", "none", "fixed"]


class ConversionCreate(BaseModel):
    name: Name
    action_types: list[ActionType] = Field(
        default_factory=list,
        max_length=50,
        description="Meta action types it counts (summed: do not list an aggregate such as "
        "omni_purchase together with its parts).",
    )
    custom_conversion_ids: list[CustomConversionId] = Field(
        default_factory=list,
        max_length=50,
        description="Meta custom conversion ids it counts (offsite_conversion.custom.<id>).",
    )
    value_source: ValueSource = Field(
        default="action_values",
        description="action_values: Meta's action values; none: no value; fixed: "
        "fixed_value per conversion.",
    )
    fixed_value: Decimal | None = Field(default=None, ge=0, max_digits=18, decimal_places=6)


class ConversionUpdate(BaseModel):
    name: Name | None = None
    action_types: list[ActionType] | None = Field(default=None, max_length=50)
    custom_conversion_ids: list[CustomConversionId] | None = Field(default=None, max_length=50)
    value_source: ValueSource | None = None
    fixed_value: Decimal | None = Field(default=None, ge=0, max_digits=18, decimal_places=6)


class ConversionRead(BaseModel):
    id: uuid.UUID
    name: str
    action_types: list[str]
    custom_conversion_ids: list[str]
    value_source: str
    fixed_value: str | None
    counted_action_types: list[str] = Field(
        description="Every action type counted: the action types and the custom conversions'."
    )
    created_at: datetime


class ConversionList(BaseModel):
    conversions: list[ConversionRead]


class CustomConversionRead(BaseModel):
    id: str = Field(description="Meta's custom conversion id.")
    action_type: str = Field(description="How it appears among the actions.")
    name: str
    account_id: str
    custom_event_type: str | None
    is_archived: bool
    is_unavailable: bool
    default_conversion_value: str | None


class CustomConversionList(BaseModel):
    custom_conversions: list[CustomConversionRead]


class ActionTypeRead(BaseModel):
    action_type: str
    name: str = Field(description="A custom conversion's name, else the action type.")
    custom_conversion_id: str | None = None
    ad_days: int = Field(description="Ad-days with a figure of this type.")
    newest_day: date


class ActionTypeList(BaseModel):
    action_types: list[ActionTypeRead]
