"""Scoring models, assessments and the ranked, paged list of projects."""

from __future__ import annotations

import re
from typing import Any

import pytest

from .conftest import Intake, assert_problem

pytestmark = pytest.mark.kafka

STRATEGIC_FIT: dict[str, Any] = {
    "name": "Strategic fit",
    "method": "weighted",
    "criteria": [
        {"key": "alignment", "name": "Strategic alignment", "weight": "3", "scale": 5},
        {"key": "value", "name": "Financial value", "weight": "1", "scale": 10},
    ],
    "knockouts": [{"key": "compliant", "name": "Meets security policy"}],
}
WSJF: dict[str, Any] = {"name": "WSJF", "method": "wsjf"}


async def define_model(intake: Intake, key: str, body: dict[str, Any]) -> None:
    response = await intake.client.put(f"/v1/scoring-models/{key}", json=body, headers=intake.pmo)
    assert response.status_code == 200, response.text


async def submitted_project(intake: Intake, **changes: Any) -> str:
    project_id = await intake.new_project(**changes)
    await intake.act(project_id, "submit", headers=intake.alice)
    return project_id


async def score(
    intake: Intake, project_id: str, body: dict[str, Any], *, expect: int | None = 201
) -> Any:
    return await intake.act(project_id, "scores", body, expect=expect)


async def test_a_scoring_model_is_versioned_and_changes_need_if_match(intake: Intake) -> None:
    created = await intake.client.put(
        "/v1/scoring-models/strategic-fit", json=STRATEGIC_FIT, headers=intake.pmo
    )
    assert created.json()["version"] == 1
    assert created.headers["etag"] == '"1"'

    without = await intake.client.put(
        "/v1/scoring-models/strategic-fit",
        json={**STRATEGIC_FIT, "name": "Fit v2"},
        headers=intake.pmo,
    )
    assert_problem(without, 428)
    changed = await intake.client.put(
        "/v1/scoring-models/strategic-fit",
        json={**STRATEGIC_FIT, "name": "Fit v2"},
        headers={**intake.pmo, "If-Match": '"1"'},
    )
    assert changed.json()["version"] == 2
    stale = await intake.client.put(
        "/v1/scoring-models/strategic-fit",
        json={**STRATEGIC_FIT, "name": "Fit v3"},
        headers={**intake.pmo, "If-Match": '"1"'},
    )
    assert assert_problem(stale, 412)["current_etag"] == '"2"'

    latest = await intake.client.get("/v1/scoring-models/strategic-fit", headers=intake.alice)
    first = await intake.client.get(
        "/v1/scoring-models/strategic-fit?version=1", headers=intake.alice
    )
    listed = await intake.client.get("/v1/scoring-models", headers=intake.alice)
    assert latest.json()["name"] == "Fit v2"
    assert first.json()["name"] == "Strategic fit"
    assert [model["key"] for model in listed.json()] == ["strategic-fit"]
    missing = await intake.client.get(
        "/v1/scoring-models/strategic-fit?version=3", headers=intake.alice
    )
    assert_problem(missing, 404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**STRATEGIC_FIT, "criteria": []}, "criteria"),
        ({**WSJF, "criteria": STRATEGIC_FIT["criteria"]}, "criteria"),
        (
            {
                **STRATEGIC_FIT,
                "criteria": [*STRATEGIC_FIT["criteria"], STRATEGIC_FIT["criteria"][0]],
            },
            "criteria.2.key",
        ),
        (
            {**STRATEGIC_FIT, "criteria": [{**STRATEGIC_FIT["criteria"][0], "weight": "0"}]},
            "criteria.0.weight",
        ),
        (
            {**STRATEGIC_FIT, "criteria": [{**STRATEGIC_FIT["criteria"][0], "scale": 7}]},
            "criteria.0.scale",
        ),
        ({**STRATEGIC_FIT, "method": "gut-feeling"}, "method"),
        ({**STRATEGIC_FIT, "owner": "pat"}, "owner"),
    ],
)
async def test_an_invalid_scoring_model_is_refused_naming_the_field(
    intake: Intake, body: dict[str, Any], field: str
) -> None:
    response = await intake.client.put("/v1/scoring-models/fit", json=body, headers=intake.pmo)
    assert_problem(response, 422, field=field)
    assert (await intake.row_counts())["events"] == 0


async def test_a_weight_is_accepted_exactly_when_its_documented_pattern_allows_it(
    intake: Intake,
) -> None:
    document = (await intake.client.get("/openapi.json")).json()
    weight = document["components"]["schemas"]["CriterionBody-Input"]["properties"]["weight"]
    pattern = next(branch["pattern"] for branch in weight["anyOf"] if branch["type"] == "string")
    answers: dict[str, tuple[bool, int]] = {}
    for n, text in enumerate(
        [
            "0",
            "0.0000",
            "000.0",
            "0.0001",
            "0.10",
            "00.5",
            "1",
            "007",
            "999.9999",
            "1000",
            "1000.0000",
            "1000.0001",
            "1001",
            "5.12345",
            "-1",
            "1e2",
            " 5",
            ".5",
            "1.",
        ]
    ):
        body = {**STRATEGIC_FIT, "criteria": [{**STRATEGIC_FIT["criteria"][0], "weight": text}]}
        response = await intake.client.put(
            f"/v1/scoring-models/w{n}", json=body, headers=intake.pmo
        )
        answers[text] = (re.search(pattern, text) is not None, response.status_code)
    assert answers == {
        text: (documented, 200 if documented else 422) for text, (documented, _) in answers.items()
    }
    assert [text for text, (documented, _) in answers.items() if documented] == [
        "0.0001",
        "0.10",
        "00.5",
        "1",
        "007",
        "999.9999",
        "1000",
        "1000.0000",
    ]


async def test_only_the_pmo_defines_scoring_models(intake: Intake) -> None:
    response = await intake.client.put(
        "/v1/scoring-models/fit", json=STRATEGIC_FIT, headers=intake.alice
    )
    assert_problem(response, 403)
    bad_key = await intake.client.put(
        "/v1/scoring-models/Fit!", json=STRATEGIC_FIT, headers=intake.pmo
    )
    assert_problem(bad_key, 422, field="model_key")


async def test_the_service_computes_weighted_and_wsjf_scores_and_records_the_model_version(
    intake: Intake,
) -> None:
    await define_model(intake, "fit", STRATEGIC_FIT)
    await define_model(intake, "wsjf", WSJF)
    project_id = await submitted_project(intake)

    weighted = await score(
        intake,
        project_id,
        {
            "model": "fit",
            "ratings": {"alignment": 4, "value": 5},
            "knockouts": {"compliant": True},
            "rationale": "Strong fit",
        },
    )
    flow = await score(
        intake,
        project_id,
        {
            "model": "wsjf",
            "ratings": {
                "business_value": 8,
                "time_criticality": 5,
                "risk_reduction": 3,
                "job_size": 5,
            },
        },
    )

    assert weighted.json()["score"] == "72.50"  # (3·4/5 + 1·5/10) / 4 · 100
    assert weighted.json()["model_version"] == 1
    assert flow.json()["score"] == "3.20"  # (8 + 5 + 3) / 5
    history = (
        await intake.client.get(f"/v1/projects/{project_id}/scores", headers=intake.alice)
    ).json()
    assert [entry["score"] for entry in history] == ["72.50", "3.20"]
    assert history[0]["ratings"] == {"alignment": "4", "value": "5"}
    assert history[0]["assessed_by"] == "pat"
    assert weighted.json() == history[0]
    assert (await intake.read(project_id)).json()["score"]["model_key"] == "wsjf"


async def test_a_failed_knock_out_scores_zero(intake: Intake) -> None:
    await define_model(intake, "fit", STRATEGIC_FIT)
    project_id = await submitted_project(intake)

    response = await score(
        intake,
        project_id,
        {
            "model": "fit",
            "ratings": {"alignment": 5, "value": 10},
            "knockouts": {"compliant": False},
        },
    )

    assert response.json()["score"] == "0.00"
    assert response.json()["knocked_out"] is True
    assert response.json()["failed_knockouts"] == ["compliant"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "nope", "ratings": {}}, "model"),
        (
            {
                "model": "fit",
                "ratings": {"alignment": 6, "value": 5},
                "knockouts": {"compliant": True},
            },
            "ratings.alignment",
        ),
        (
            {"model": "fit", "ratings": {"alignment": 4}, "knockouts": {"compliant": True}},
            "ratings.value",
        ),
        (
            {
                "model": "fit",
                "ratings": {"alignment": 4, "value": 5, "luck": 1},
                "knockouts": {"compliant": True},
            },
            "ratings.luck",
        ),
        ({"model": "fit", "ratings": {"alignment": 4, "value": 5}}, "knockouts.compliant"),
        ({"model": "fit", "ratings": {"alignment": "high", "value": 5}}, "ratings.alignment"),
        (
            {"model": "fit", "ratings": {"alignment": 4, "value": 5}, "mandatory": True},
            "mandatory_reason",
        ),
        (
            {
                "model": "wsjf",
                "ratings": {
                    "business_value": 4,
                    "time_criticality": 5,
                    "risk_reduction": 3,
                    "job_size": 5,
                },
            },
            "ratings.business_value",
        ),
    ],
)
async def test_an_invalid_assessment_is_refused_naming_the_field(
    intake: Intake, body: dict[str, Any], field: str
) -> None:
    await define_model(intake, "fit", STRATEGIC_FIT)
    await define_model(intake, "wsjf", WSJF)
    project_id = await submitted_project(intake)
    before = await intake.row_counts()

    response = await score(intake, project_id, body, expect=None)

    assert_problem(response, 422, field=field)
    assert await intake.row_counts() == before


async def test_a_draft_cannot_be_scored(intake: Intake) -> None:
    await define_model(intake, "wsjf", WSJF)
    project_id = await intake.new_project()
    response = await score(
        intake,
        project_id,
        {
            "model": "wsjf",
            "ratings": {
                "business_value": 8,
                "time_criticality": 5,
                "risk_reduction": 3,
                "job_size": 5,
            },
        },
        expect=None,
    )
    assert assert_problem(response, 409)["current_status"] == "draft"


# --- The ranked list --------------------------------------------------------------------------


async def test_sort_by_score_ranks_mandatory_projects_first_then_by_score_unscored_last(
    intake: Intake,
) -> None:
    await define_model(intake, "wsjf", WSJF)
    scored: dict[str, str] = {}
    for title, ratings, mandatory in (
        ("Low", (1, 1, 1, 20), False),
        ("High", (20, 20, 20, 1), False),
        ("Regulatory", (1, 1, 1, 20), True),
    ):
        project_id = await submitted_project(intake, title=title)
        body: dict[str, Any] = {
            "model": "wsjf",
            "ratings": dict(
                zip(
                    ("business_value", "time_criticality", "risk_reduction", "job_size"),
                    ratings,
                    strict=True,
                )
            ),
        }
        if mandatory:
            body.update(mandatory=True, mandatory_reason="GDPR deadline")
        await score(intake, project_id, body)
        scored[title] = project_id
    await intake.new_project(title="Unscored")

    ranked = (await intake.client.get("/v1/projects?sort=-score", headers=intake.alice)).json()

    assert [item["title"] for item in ranked["items"]] == ["Regulatory", "High", "Low", "Unscored"]
    assert ranked["items"][0]["mandatory"] is True
    assert ranked["items"][1]["score"] == "60.00"
    assert ranked["next_cursor"] is None


async def test_the_list_filters_and_pages_with_a_cursor_without_gaps_or_repeats(
    intake: Intake,
) -> None:
    ids = []
    for n in range(7):
        ids.append(
            await intake.new_project(title=f"P{n}", business_unit="Sales" if n % 2 else "Ops")
        )
    await intake.act(ids[1], "submit", headers=intake.alice)

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = "/v1/projects?sort=created&limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await intake.client.get(query, headers=intake.alice)).json()
        seen.extend(item["id"] for item in page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    assert pages == 4

    sales = (
        await intake.client.get("/v1/projects?business_unit=Sales&sort=title", headers=intake.alice)
    ).json()["items"]
    assert [item["title"] for item in sales] == ["P1", "P3", "P5"]
    submitted = (
        await intake.client.get("/v1/projects?status=submitted", headers=intake.alice)
    ).json()["items"]
    assert [item["id"] for item in submitted] == [ids[1]]
    drafts_or_submitted = (
        await intake.client.get("/v1/projects?status=draft&status=submitted", headers=intake.alice)
    ).json()["items"]
    assert len(drafts_or_submitted) == 7


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("sort=budget", "sort"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("cursor=not-a-cursor", "cursor"),
    ],
)
async def test_invalid_list_parameters_are_refused_naming_them(
    intake: Intake, query: str, field: str
) -> None:
    response = await intake.client.get(f"/v1/projects?{query}", headers=intake.alice)
    assert_problem(response, 422, field=field)


async def test_a_cursor_from_another_sort_is_refused(intake: Intake) -> None:
    for n in range(3):
        await intake.new_project(title=f"P{n}")
    page = (await intake.client.get("/v1/projects?sort=title&limit=1", headers=intake.alice)).json()
    response = await intake.client.get(
        f"/v1/projects?sort=-score&cursor={page['next_cursor']}", headers=intake.alice
    )
    assert "sort=title" in assert_problem(response, 422, field="cursor")["detail"]
