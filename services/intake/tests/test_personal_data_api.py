"""POST /v1/personal-data/erasures: forgetting a person at intake, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from gatehouse.eventstore.schema import events
from gatehouse.personal_data import ERASED
from intake import api

from .conftest import Intake, assert_problem

pytestmark = pytest.mark.kafka

SPONSOR = "dana.sponsor@example.com"


async def erase(
    intake: Intake, subject: str, reason: str = "erasure request 2026-118", **headers: str
) -> Any:
    return await intake.client.post(
        "/v1/personal-data/erasures",
        json={"subject": subject, "reason": reason},
        headers={**intake.pmo, **headers},
    )


async def stored_text(intake: Intake) -> str:
    database = intake.service.app.state.runtime.database
    async with database.engine.connect() as connection:
        rows = (await connection.execute(select(events.c.data, events.c.actor))).all()
    return str([(row.data, row.actor) for row in rows])


async def stored_types(intake: Intake) -> list[str]:
    database = intake.service.app.state.runtime.database
    async with database.engine.connect() as connection:
        return list(
            (await connection.execute(select(events.c.type).order_by(events.c.position))).scalars()
        )


async def test_an_erased_sponsor_reads_as_erased_and_the_requester_stays(intake: Intake) -> None:
    project_id = await intake.new_project(sponsor=SPONSOR)
    assert SPONSOR not in await stored_text(intake)
    assert (await intake.read(project_id)).json()["sponsor"] == SPONSOR

    erased = await erase(intake, SPONSOR)

    assert erased.status_code == 201, erased.text
    body = erased.json()
    assert len(body["refs"]) == 1
    assert body["reason"] == "erasure request 2026-118"
    project = (await intake.read(project_id)).json()
    assert (project["sponsor"], project["requested_by"]) == (ERASED, "alice")
    listed = (await intake.client.get("/v1/projects", headers=intake.pmo)).json()["items"]
    assert [item["sponsor"] for item in listed] == [ERASED]
    assert SPONSOR not in await stored_text(intake)
    assert (await stored_types(intake))[-1] == "gatehouse.intake.PersonalDataErased"


async def test_a_person_no_event_names_is_404_and_nothing_is_recorded(intake: Intake) -> None:
    await intake.new_project(sponsor=SPONSOR)
    before = await intake.row_counts()

    missing = await erase(intake, "nobody@example.com")

    assert_problem(missing, 404)
    assert await intake.row_counts() == before


async def test_erasing_twice_finds_nobody_the_second_time(intake: Intake) -> None:
    await intake.new_project(sponsor=SPONSOR)
    assert (await erase(intake, SPONSOR)).status_code == 201
    assert_problem(await erase(intake, SPONSOR), 404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"subject": "", "reason": "r"}, "subject"),
        ({"subject": SPONSOR}, "reason"),
        ({"subject": SPONSOR, "reason": "r" * 501}, "reason"),
        ({"subject": SPONSOR, "reason": "r", "also": 1}, "also"),
    ],
)
async def test_a_bad_request_names_the_field_and_erases_nothing(
    intake: Intake, body: dict[str, Any], field: str
) -> None:
    project_id = await intake.new_project(sponsor=SPONSOR)
    response = await intake.client.post("/v1/personal-data/erasures", json=body, headers=intake.pmo)
    assert_problem(response, 422, field=field)
    assert (await intake.read(project_id)).json()["sponsor"] == SPONSOR


async def test_only_the_pmo_may_erase(intake: Intake) -> None:
    await intake.new_project(sponsor=SPONSOR)
    response = await intake.client.post(
        "/v1/personal-data/erasures", headers=intake.alice, json={"subject": SPONSOR, "reason": "r"}
    )
    assert_problem(response, 403)


async def test_when_the_keys_topic_cannot_be_read_in_time_nothing_is_erased(
    intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    project_id = await intake.new_project(sponsor=SPONSOR)
    monkeypatch.setattr(api, "KEYS_CATCH_UP_SECONDS", 0.0)

    assert_problem(await erase(intake, SPONSOR), 503)
    assert (await intake.read(project_id)).json()["sponsor"] == SPONSOR
