"""HTTP answers that come from the framework rather than a route, in the API's own style: a body
that is not UTF-8 is invalid input naming the body, and a 405 lists every method of the path."""

from __future__ import annotations

import pytest

from .conftest import Intake, assert_problem

pytestmark = pytest.mark.kafka


async def test_a_body_that_is_not_utf8_is_invalid_input_naming_the_body(intake: Intake) -> None:
    before = await intake.row_counts()

    response = await intake.client.post(
        "/v1/projects",
        content=b'{"title": "\xff\xfe"}',
        headers={**intake.alice, "Content-Type": "application/json"},
    )

    assert_problem(response, 422, field="body")
    assert await intake.row_counts() == before


async def test_a_method_the_path_does_not_serve_gets_405_allowing_every_one_it_does(
    intake: Intake,
) -> None:
    response = await intake.client.delete("/v1/projects", headers=intake.alice)

    assert_problem(response, 405)
    assert response.headers["allow"] == "GET, POST"
