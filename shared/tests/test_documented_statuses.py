"""The session check that every documented response status occurs in some test."""

from __future__ import annotations

import pytest

from gatehouse.testing.statuses import OperationStatus, StatusLedger
from gatehouse.web import SERVICE_WIDE

EXAMPLE_SERVICE = """
import asyncio

import httpx
from fastapi import FastAPI, HTTPException

from gatehouse.testing.statuses import record_statuses

app = FastAPI(title="Gatehouse example")


@app.get("/things/{thing_id}", responses={404: {"description": "No such thing"}})
async def get_thing(thing_id: int) -> dict[str, int]:
    if thing_id == 418:
        raise HTTPException(418)
    if thing_id != 1:
        raise HTTPException(404)
    return {"id": thing_id}


def status_of(path: str) -> int:
    async def get() -> int:
        transport = httpx.ASGITransport(app=record_statuses(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://example") as client:
            return (await client.get(path)).status_code

    return asyncio.run(get())
"""


@pytest.fixture
def example(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # seconds each, and not needed
    pytester.makepyfile(example_service=EXAMPLE_SERVICE)
    return pytester


def run(pytester: pytest.Pytester, *arguments: str) -> pytest.RunResult:
    return pytester.runpytest(
        "-p", "gatehouse.testing.statuses", "-p", "no:cacheprovider", *arguments
    )


def test_a_documented_status_no_test_produced_fails_the_session_and_is_named(
    example: pytest.Pytester,
) -> None:
    example.makepyfile(
        test_things="""
        from example_service import status_of

        def test_a_thing_is_found():
            assert status_of("/things/1") == 200
    """
    )

    result = run(example, "--require-documented-statuses")

    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*documented statuses no test produced*",
            "Gatehouse example: GET /things/{thing_id} → 404",
            "Gatehouse example: GET /things/{thing_id} → 422",
            "2 of 3 documented statuses never occurred*",
        ]
    )


def test_the_session_passes_once_every_documented_status_occurred(example: pytest.Pytester) -> None:
    example.makepyfile(
        test_things="""
        from example_service import status_of

        def test_a_thing_is_found():
            assert status_of("/things/1") == 200

        def test_a_missing_thing_is_404():
            assert status_of("/things/2") == 404

        def test_a_malformed_id_is_422():
            assert status_of("/things/two") == 422
    """
    )

    result = run(example, "--require-documented-statuses")

    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["*every documented status occurred in a test (3 across 1 services)*"]
    )


def test_a_served_status_that_is_not_documented_is_listed_without_failing(
    example: pytest.Pytester,
) -> None:
    example.makepyfile(
        test_things="""
        from example_service import status_of

        def test_every_status():
            assert [status_of(f"/things/{thing}") for thing in ("1", "2", "x", "418")] == [
                200, 404, 422, 418]
    """
    )

    result = run(example, "--require-documented-statuses")

    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["*statuses served but not documented*", "Gatehouse example: GET /things/{thing_id} → 418"]
    )


def test_without_the_option_a_partial_run_is_not_judged(example: pytest.Pytester) -> None:
    example.makepyfile(
        test_things="""
        from example_service import status_of

        def test_a_thing_is_found():
            assert status_of("/things/1") == 200
    """
    )

    result = run(example)

    assert result.ret == pytest.ExitCode.OK
    result.stdout.no_fnmatch_line("*documented statuses*")


def test_a_documented_range_is_met_by_any_status_in_it() -> None:
    ledger = StatusLedger()
    ledger.document(
        "svc",
        {"paths": {"/things": {"post": {"responses": {"201": {}, "4XX": {}, "default": {}}}}}},
    )

    ledger.serve("svc", "POST", "/things", 201)
    assert ledger.never_served() == [OperationStatus("svc", "POST", "/things", "4XX")]

    ledger.serve("svc", "POST", "/things", 409)
    assert ledger.never_served() == []
    assert ledger.undocumented() == []


def test_a_response_counts_for_the_documented_path_its_request_fits() -> None:
    ledger = StatusLedger()
    ledger.document(
        "svc",
        {
            "paths": {
                "/things/{thing_id}": {"get": {"responses": {"200": {}}}},
                "/things/mine": {"get": {"responses": {"200": {}}}},
            }
        },
    )

    ledger.serve("svc", "GET", "/things/mine", 200)
    ledger.serve("svc", "GET", "/things/7/parts", 404)  # no documented path: left out
    assert ledger.served == {OperationStatus("svc", "GET", "/things/mine", "200")}

    ledger.serve("svc", "GET", "/things/7", 200)
    assert ledger.never_served() == []


def test_a_service_wide_status_is_met_by_any_operation_of_its_service() -> None:
    wide = {SERVICE_WIDE: True}
    ledger = StatusLedger()
    ledger.document(
        "svc",
        {
            "paths": {
                "/things": {
                    "get": {"responses": {"200": {}, "429": wide}},
                    "post": {"responses": {"201": {}, "429": wide, "409": {}}},
                }
            }
        },
    )
    ledger.document("other", {"paths": {"/things": {"get": {"responses": {"429": wide}}}}})
    ledger.serve("svc", "GET", "/things", 200)
    ledger.serve("svc", "POST", "/things", 201)

    ledger.serve("svc", "GET", "/things", 429)

    assert ledger.never_served() == [
        OperationStatus("other", "GET", "/things", "429"),
        OperationStatus("svc", "POST", "/things", "409"),
    ]
