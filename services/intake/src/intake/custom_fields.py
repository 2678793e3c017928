"""Custom fields: the PMO defines them, project requests carry values checked against them.

The definitions are one event stream (``custom-fields``); each ``PUT`` replaces the whole set
as a new version. A project keeps the values it was given even if a definition changes later;
the definitions in force apply when a request is created or edited.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gatehouse.errors import InvalidInput
from gatehouse.events.base import DomainEvent
from gatehouse.events.intake import CustomFieldDefinition, CustomFieldsDefined, CustomValue
from gatehouse.json_types import text_problem

__all__ = ["STREAM_ID", "DefineCustomFields", "current_definitions", "define", "validate_values"]

STREAM_ID = "custom-fields"
DEFAULT_TEXT_LIMIT = 1000


@dataclass(frozen=True, kw_only=True)
class DefineCustomFields:
    fields: tuple[CustomFieldDefinition, ...]


def define(command: DefineCustomFields) -> list[DomainEvent]:
    seen: set[str] = set()
    for index, definition in enumerate(command.fields):
        where = f"fields.{index}"
        if definition.key in seen:
            raise InvalidInput.for_field(f"{where}.key", f"{definition.key} appears twice")
        seen.add(definition.key)
        if definition.type == "choice":
            if not definition.choices:
                raise InvalidInput.for_field(f"{where}.choices", "a choice field needs choices")
            if len(set(definition.choices)) != len(definition.choices):
                raise InvalidInput.for_field(f"{where}.choices", "choices must be distinct")
        elif definition.choices:
            raise InvalidInput.for_field(f"{where}.choices", "only choice fields have choices")
        if definition.max_length is not None and definition.type != "text":
            raise InvalidInput.for_field(
                f"{where}.max_length", "only text fields have a maximum length"
            )
    return [CustomFieldsDefined(fields=command.fields)]


def current_definitions(events: Iterable[DomainEvent]) -> tuple[CustomFieldDefinition, ...]:
    definitions: tuple[CustomFieldDefinition, ...] = ()
    for event in events:
        if isinstance(event, CustomFieldsDefined):
            definitions = event.fields
    return definitions


def validate_values(
    definitions: Iterable[CustomFieldDefinition],
    values: Mapping[str, Any],
) -> dict[str, CustomValue]:
    """Check ``values`` against the definitions; 422 naming ``custom.<key>`` when wrong.

    Returns the values in their stored form (dates as ISO strings, numbers as floats).
    """
    by_key = {definition.key: definition for definition in definitions}
    for key in values:
        if key not in by_key:
            known = ", ".join(sorted(by_key)) or "none are defined"
            raise InvalidInput.for_field(
                f"custom.{key}", f"unknown custom field (defined: {known})"
            )
    checked: dict[str, CustomValue] = {}
    for key, definition in by_key.items():
        if key not in values or values[key] is None:
            if definition.required:
                raise InvalidInput.for_field(
                    f"custom.{key}", "this custom field is required", kind="missing"
                )
            continue
        checked[key] = _checked(definition, values[key])
    return checked


def _checked(definition: CustomFieldDefinition, value: Any) -> CustomValue:
    field = f"custom.{definition.key}"

    def wrong(expected: str) -> InvalidInput:
        return InvalidInput.for_field(field, f"expected {expected}, got {value!r}")

    match definition.type:
        case "text":
            if not isinstance(value, str):
                raise wrong("text")
            limit = definition.max_length or DEFAULT_TEXT_LIMIT
            if len(value) > limit:
                raise InvalidInput.for_field(field, f"at most {limit} characters")
            # As any long text a person types (gatehouse.json_types), but it may be blank.
            problem = text_problem(value, lines=True, required=False)
            if problem is not None:
                raise InvalidInput.for_field(field, problem)
            return value
        case "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                raise wrong("an integer")
            return value
        case "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise wrong("a number")
            try:
                number = float(value)
            except OverflowError:
                number = math.inf
            if not math.isfinite(number):  # NaN and infinities have no JSON form
                raise wrong("a finite number")
            return number
        case "boolean":
            if not isinstance(value, bool):
                raise wrong("true or false")
            return value
        case "date":
            if not isinstance(value, str):
                raise wrong("a date (YYYY-MM-DD)")
            try:
                return dt.date.fromisoformat(value).isoformat()
            except ValueError:
                raise wrong("a date (YYYY-MM-DD)") from None
        case "choice":
            if value not in definition.choices:
                raise wrong(f"one of {', '.join(definition.choices)}")
            return str(value)
    raise AssertionError(definition.type)
