"""Custom fields through the API: the PMO defines them, every request is checked against them."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import VALID_REQUEST, Intake, assert_problem

pytestmark = pytest.mark.kafka

FIELDS: list[dict[str, Any]] = [
    {
        "key": "cost_centre",
        "label": "Cost centre",
        "type": "text",
        "required": True,
        "max_length": 12,
    },
    {"key": "headcount", "label": "Headcount", "type": "integer"},
    {"key": "npv", "label": "Net present value", "type": "number"},
    {"key": "regulated", "label": "Regulated", "type": "boolean"},
    {"key": "go_live", "label": "Go-live", "type": "date"},
    {"key": "region", "label": "Region", "type": "choice", "choices": ["EMEA", "APAC", "AMER"]},
]


async def define(
    intake: Intake, fields: list[dict[str, Any]], *, if_match: str | None = None
) -> Any:
    headers = {**intake.pmo, **({"If-Match": if_match} if if_match else {})}
    return await intake.client.put("/v1/custom-fields", json={"fields": fields}, headers=headers)


async def test_the_pmo_defines_custom_fields_and_requests_carry_them(intake: Intake) -> None:
    defined = await define(intake, FIELDS)
    assert defined.status_code == 200, defined.text
    assert defined.headers["etag"] == '"1"'

    listed = await intake.client.get("/v1/custom-fields", headers=intake.alice)
    assert [field["key"] for field in listed.json()["fields"]] == [
        "cost_centre",
        "headcount",
        "npv",
        "regulated",
        "go_live",
        "region",
    ]
    assert listed.headers["etag"] == '"1"'

    project = (
        await intake.request_project(
            custom={
                "cost_centre": "CC-4711",
                "headcount": 12,
                "npv": 1.5e6,
                "regulated": True,
                "go_live": "2027-09-01",
                "region": "EMEA",
            }
        )
    ).json()
    assert project["custom"] == {
        "cost_centre": "CC-4711",
        "headcount": 12,
        "npv": 1.5e6,
        "regulated": True,
        "go_live": "2027-09-01",
        "region": "EMEA",
    }


async def test_replacing_the_definitions_needs_the_current_etag(intake: Intake) -> None:
    await define(intake, FIELDS)

    assert_problem(await define(intake, FIELDS[:1]), 428)
    assert_problem(await define(intake, FIELDS[:1], if_match='"7"'), 412)
    replaced = await define(intake, FIELDS[:1], if_match='"1"')

    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["version"] == 2
    assert [field["key"] for field in replaced.json()["fields"]] == ["cost_centre"]


async def test_only_the_pmo_defines_custom_fields(intake: Intake) -> None:
    response = await intake.client.put(
        "/v1/custom-fields", json={"fields": FIELDS}, headers=intake.alice
    )
    assert_problem(response, 403)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ([{"key": "Region", "label": "Region", "type": "text"}], "fields.0.key"),
        ([{"key": "region", "label": "Region", "type": "colour"}], "fields.0.type"),
        ([{"key": "region", "label": "", "type": "text"}], "fields.0.label"),
        ([{"key": "region", "label": "Region", "type": "choice"}], "fields.0.choices"),
        (
            [{"key": "region", "label": "Region", "type": "choice", "choices": ["EU", "EU"]}],
            "fields.0.choices",
        ),
        (
            [{"key": "region", "label": "Region", "type": "text", "choices": ["EU"]}],
            "fields.0.choices",
        ),
        (
            [{"key": "region", "label": "Region", "type": "integer", "max_length": 5}],
            "fields.0.max_length",
        ),
        ([FIELDS[0], {**FIELDS[1], "key": "cost_centre"}], "fields.1.key"),
        ([{"key": "region", "label": "Region", "type": "text", "hidden": True}], "fields.0.hidden"),
    ],
)
async def test_an_invalid_definition_is_refused_naming_the_field_and_writes_nothing(
    intake: Intake, fields: list[dict[str, Any]], field: str
) -> None:
    before = await intake.row_counts()
    assert_problem(await define(intake, fields), 422, field=field)
    assert await intake.row_counts() == before


@pytest.mark.parametrize(
    ("custom", "field"),
    [
        ({"headcount": 3}, "custom.cost_centre"),
        ({"cost_centre": None}, "custom.cost_centre"),
        ({"cost_centre": "CC-1", "colour": "red"}, "custom.colour"),
        ({"cost_centre": "CC-123456789012"}, "custom.cost_centre"),
        ({"cost_centre": 42}, "custom.cost_centre"),
        ({"cost_centre": "CC-1", "headcount": 2.5}, "custom.headcount"),
        ({"cost_centre": "CC-1", "headcount": True}, "custom.headcount"),
        ({"cost_centre": "CC-1", "npv": "lots"}, "custom.npv"),
        ({"cost_centre": "CC-1", "regulated": "yes"}, "custom.regulated"),
        ({"cost_centre": "CC-1", "go_live": "next spring"}, "custom.go_live"),
        ({"cost_centre": "CC-1", "region": "Mars"}, "custom.region"),
    ],
)
async def test_a_request_with_invalid_custom_values_is_refused_naming_the_field(
    intake: Intake, custom: dict[str, Any], field: str
) -> None:
    await define(intake, FIELDS)
    before = await intake.row_counts()

    response = await intake.client.post(
        "/v1/projects", json={**VALID_REQUEST, "custom": custom}, headers=intake.alice
    )

    assert_problem(response, 422, field=field)
    assert await intake.row_counts() == before


async def test_editing_custom_values_merges_them_and_null_removes_one(intake: Intake) -> None:
    await define(intake, FIELDS)
    project_id = await intake.new_project(
        custom={"cost_centre": "CC-1", "region": "EMEA", "headcount": 4}
    )

    edited = await intake.act(
        project_id,
        "",
        {"custom": {"region": "APAC", "headcount": None}},
        headers=intake.alice,
        method="PATCH",
    )

    assert edited.json()["custom"] == {"cost_centre": "CC-1", "region": "APAC"}
    removing_required = await intake.act(
        project_id,
        "",
        {"custom": {"cost_centre": None}},
        headers=intake.alice,
        method="PATCH",
        expect=None,
    )
    assert_problem(removing_required, 422, field="custom.cost_centre")
