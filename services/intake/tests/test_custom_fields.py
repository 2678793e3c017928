"""Custom fields: the PMO defines them; request values are checked against the definitions."""

from __future__ import annotations

from typing import Any

import pytest

from gatehouse.errors import InvalidInput
from gatehouse.events.intake import CustomFieldDefinition, CustomFieldsDefined, CustomValue
from intake.custom_fields import (
    STREAM_ID,
    DefineCustomFields,
    current_definitions,
    define,
    validate_values,
)

COST_CENTRE = CustomFieldDefinition(
    key="cost_centre", label="Cost centre", type="text", required=True, max_length=8
)
HEADCOUNT = CustomFieldDefinition(key="headcount", label="Headcount", type="integer")
NPV = CustomFieldDefinition(key="npv", label="Net present value", type="number")
REGULATORY = CustomFieldDefinition(key="regulatory", label="Regulatory", type="boolean")
GO_LIVE = CustomFieldDefinition(key="go_live", label="Go-live", type="date")
TIER = CustomFieldDefinition(
    key="tier", label="Tier", type="choice", choices=("gold", "silver", "bronze")
)
NOTES = CustomFieldDefinition(key="notes", label="Notes", type="text")
DEFINITIONS = (COST_CENTRE, HEADCOUNT, NPV, REGULATORY, GO_LIVE, TIER, NOTES)


def invalid_field(error: InvalidInput) -> str:
    assert error.status == 422
    [problem] = error.extensions["errors"]
    return str(problem["field"])


def rejected(values: dict[str, Any]) -> InvalidInput:
    with pytest.raises(InvalidInput) as invalid:
        validate_values(DEFINITIONS, {"cost_centre": "CC-1", **values})
    return invalid.value


# --- Defining -----------------------------------------------------------------------------


def test_defining_custom_fields_records_the_whole_set() -> None:
    assert define(DefineCustomFields(fields=DEFINITIONS)) == [
        CustomFieldsDefined(fields=DEFINITIONS)
    ]


def test_defining_no_custom_fields_clears_them() -> None:
    assert define(DefineCustomFields(fields=())) == [CustomFieldsDefined(fields=())]


@pytest.mark.parametrize(
    ("definitions", "field"),
    [
        (
            (HEADCOUNT, NPV, CustomFieldDefinition(key="headcount", label="Again", type="text")),
            "fields.2.key",
        ),
        (
            (HEADCOUNT, CustomFieldDefinition(key="tier", label="Tier", type="choice")),
            "fields.1.choices",
        ),
        (
            (
                CustomFieldDefinition(
                    key="tier", label="Tier", type="choice", choices=("a", "b", "a")
                ),
            ),
            "fields.0.choices",
        ),
        (
            (CustomFieldDefinition(key="size", label="Size", type="integer", choices=("1", "2")),),
            "fields.0.choices",
        ),
        (
            (CustomFieldDefinition(key="flag", label="Flag", type="boolean", max_length=5),),
            "fields.0.max_length",
        ),
        (
            (
                NOTES,
                CustomFieldDefinition(
                    key="tier", label="Tier", type="choice", choices=("a",), max_length=3
                ),
            ),
            "fields.1.max_length",
        ),
    ],
    ids=[
        "duplicate-key",
        "choice-without-choices",
        "repeated-choice",
        "choices-on-integer",
        "max-length-on-boolean",
        "max-length-on-choice",
    ],
)
def test_a_definition_that_does_not_make_sense_is_invalid(
    definitions: tuple[CustomFieldDefinition, ...], field: str
) -> None:
    with pytest.raises(InvalidInput) as invalid:
        define(DefineCustomFields(fields=definitions))

    assert invalid_field(invalid.value) == field


def test_the_latest_definitions_are_in_force() -> None:
    first = CustomFieldsDefined(fields=(HEADCOUNT,))
    second = CustomFieldsDefined(fields=(NPV, TIER))

    assert current_definitions([first, second]) == (NPV, TIER)
    assert current_definitions([]) == ()
    assert STREAM_ID == "custom-fields"


# --- Validating values --------------------------------------------------------------------


def test_values_of_every_type_are_returned_in_their_stored_form() -> None:
    values = {
        "cost_centre": "CC-1",
        "headcount": 12,
        "npv": 3,
        "regulatory": False,
        "go_live": "2027-06-30",
        "tier": "silver",
        "notes": "x" * 1000,
    }

    checked = validate_values(DEFINITIONS, values)

    assert checked == {
        "cost_centre": "CC-1",
        "headcount": 12,
        "npv": 3.0,
        "regulatory": False,
        "go_live": "2027-06-30",
        "tier": "silver",
        "notes": "x" * 1000,
    }
    assert type(checked["npv"]) is float
    assert type(checked["headcount"]) is int
    assert type(checked["regulatory"]) is bool


def test_optional_fields_left_out_or_null_are_not_stored() -> None:
    assert validate_values(DEFINITIONS, {"cost_centre": "CC-1", "npv": None}) == {
        "cost_centre": "CC-1"
    }


def test_a_date_is_stored_in_its_normal_iso_form() -> None:
    assert validate_values(DEFINITIONS, {"cost_centre": "CC-1", "go_live": "20270630"}) == {
        "cost_centre": "CC-1",
        "go_live": "2027-06-30",
    }


def test_a_number_keeps_its_fraction() -> None:
    checked = validate_values(DEFINITIONS, {"cost_centre": "CC-1", "npv": -1234.5})

    assert checked["npv"] == -1234.5


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"cost_centre": "CC-123456"}, "custom.cost_centre"),
        ({"cost_centre": 7}, "custom.cost_centre"),
        ({"notes": "x" * 1001}, "custom.notes"),
        ({"headcount": True}, "custom.headcount"),
        ({"headcount": 12.0}, "custom.headcount"),
        ({"headcount": "12"}, "custom.headcount"),
        ({"npv": True}, "custom.npv"),
        ({"npv": "3.5"}, "custom.npv"),
        ({"npv": float("nan")}, "custom.npv"),
        ({"npv": float("inf")}, "custom.npv"),
        ({"npv": 10**400}, "custom.npv"),
        ({"regulatory": 1}, "custom.regulatory"),
        ({"regulatory": "true"}, "custom.regulatory"),
        ({"go_live": "2027-02-30"}, "custom.go_live"),
        ({"go_live": "next spring"}, "custom.go_live"),
        ({"go_live": 20270630}, "custom.go_live"),
        ({"tier": "platinum"}, "custom.tier"),
        ({"tier": "Gold"}, "custom.tier"),
        ({"tier": ["gold"]}, "custom.tier"),
    ],
    ids=[
        "text-too-long",
        "text-not-text",
        "text-over-default-limit",
        "integer-bool",
        "integer-float",
        "integer-string",
        "number-bool",
        "number-string",
        "number-nan",
        "number-infinite",
        "number-too-large",
        "boolean-int",
        "boolean-string",
        "date-impossible",
        "date-not-a-date",
        "date-not-a-string",
        "choice-unknown",
        "choice-other-case",
        "choice-list",
    ],
)
def test_a_value_of_the_wrong_type_or_shape_is_invalid_and_named(
    values: dict[str, Any], field: str
) -> None:
    assert invalid_field(rejected(values)) == field


def test_a_value_for_a_field_that_is_not_defined_is_invalid_and_named() -> None:
    error = rejected({"colour": "blue"})

    assert invalid_field(error) == "custom.colour"
    assert "cost_centre" in error.detail


def test_a_value_when_no_fields_are_defined_is_invalid() -> None:
    with pytest.raises(InvalidInput) as invalid:
        validate_values((), {"colour": "blue"})

    assert invalid_field(invalid.value) == "custom.colour"
    assert "none are defined" in invalid.value.detail


@pytest.mark.parametrize("values", [{}, {"cost_centre": None}], ids=["left-out", "null"])
def test_a_required_field_must_have_a_value(values: dict[str, CustomValue | None]) -> None:
    with pytest.raises(InvalidInput) as invalid:
        validate_values(DEFINITIONS, values)

    assert invalid_field(invalid.value) == "custom.cost_centre"
    assert invalid.value.extensions["errors"][0]["type"] == "missing"
