"""A request body over the size limit is refused with 413 problem+json before any route reads
it, whether it declares its length or streams it in chunks; nothing is written."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from .conftest import VALID_REQUEST, Intake, assert_problem

pytestmark = pytest.mark.kafka

TOO_BIG = 1_048_576 + 1


async def test_an_oversized_body_is_refused_with_413(intake: Intake) -> None:
    before = await intake.row_counts()
    body = b'{"title": "' + b"x" * TOO_BIG + b'"}'

    declared = await intake.client.post(
        "/v1/projects", content=body, headers={**intake.alice, "Content-Type": "application/json"}
    )

    problem = assert_problem(declared, 413)
    assert problem["max_bytes"] == 1_048_576
    assert await intake.row_counts() == before


async def test_an_oversized_chunked_body_is_refused_too(intake: Intake) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"title": "'
        for _ in range(TOO_BIG // 65_536 + 1):
            yield b"x" * 65_536
        yield b'"}'

    before = await intake.row_counts()
    streamed = await intake.client.post(
        "/v1/projects",
        content=chunks(),
        headers={**intake.alice, "Content-Type": "application/json"},
    )

    assert_problem(streamed, 413)
    assert await intake.row_counts() == before


async def test_a_chunked_body_under_the_limit_goes_through(intake: Intake) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        encoded = json.dumps(VALID_REQUEST).encode()
        yield encoded[:10]
        yield encoded[10:]

    created = await intake.client.post(
        "/v1/projects",
        content=chunks(),
        headers={**intake.alice, "Content-Type": "application/json"},
    )
    assert created.status_code == 201, created.text
