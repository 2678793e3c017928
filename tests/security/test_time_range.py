"""Times near the calendar's ends. An RFC 3339 time on 0001-01-01 with an offset east of UTC
is before year 1 in UTC, one on 9999-12-31 west of UTC after year 9999: valid text, but no
instant Gatehouse can store or compare. Every time the API takes, in a body or a query, is
refused with 422 naming it, and nothing is written."""

from __future__ import annotations

from uuid import uuid4

import pytest

from gatehouse.auth import Role

from .conftest import Gatehouse
from .probes import Probe, answer_problem, stored_events

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

BEFORE_YEAR_1 = "0001-01-01T00:00:00+14:00"  # 0000-12-31T10:00:00Z
AFTER_YEAR_9999 = "9999-12-31T23:59:59-14:00"  # 10000-01-01T13:59:59Z

PROBES = [
    Probe("reporting", "GET", "/v1/portfolio", "as_of", params={"as_of": BEFORE_YEAR_1}),
    Probe("reporting", "GET", "/v1/portfolio", "as_of", params={"as_of": AFTER_YEAR_9999}),
    Probe(
        "reporting", "GET", f"/v1/projects/{uuid4()}", "as_of", params={"as_of": AFTER_YEAR_9999}
    ),
    Probe("reporting", "GET", "/v1/audit/decisions", "since", params={"since": BEFORE_YEAR_1}),
    Probe("reporting", "GET", "/v1/audit/decisions", "until", params={"until": AFTER_YEAR_9999}),
    Probe(
        "governance",
        "POST",
        "/v1/delegations",
        "ends_at",
        json={"to": "dana", "ends_at": AFTER_YEAR_9999},
    ),
    Probe(
        "governance",
        "POST",
        "/v1/delegations",
        "starts_at",
        json={"to": "dana", "starts_at": BEFORE_YEAR_1, "ends_at": "2099-01-01T00:00:00Z"},
    ),
    Probe(
        "intake",
        "POST",
        "/v1/api-keys",
        "expires_at",
        json={"name": "ERP connector", "roles": ["auditor"], "expires_at": AFTER_YEAR_9999},
    ),
]


async def test_a_time_outside_the_calendar_is_refused_naming_it_and_nothing_is_written(
    gatehouse: Gatehouse, subtests: pytest.Subtests
) -> None:
    # Every role, so that each answer is about the input alone.
    everyone = gatehouse.intake.auth("gina", *Role)
    for probe in PROBES:
        with subtests.test(str(probe)):
            before = await stored_events(gatehouse)

            await answer_problem(gatehouse, probe, everyone)

            assert await stored_events(gatehouse) == before
