"""schemathesis against each service's OpenAPI document: every phase its engine runs by
default (examples, coverage, fuzzing, stateful) and every default check, zero failures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from schemathesis.engine import Status, StopReason, from_schema
from schemathesis.engine.events import (
    EngineEvent,
    EngineFinished,
    FatalError,
    NonFatalError,
    ScenarioFinished,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema


def problems_in(event: EngineEvent) -> Iterator[str]:
    """What one engine event reports as wrong, each with the request that shows it."""
    if isinstance(event, ScenarioFinished):
        for case_id, checks in event.recorder.checks.items():
            interaction = event.recorder.interactions.get(case_id)
            response = interaction.response if interaction is not None else None
            answer = (
                f"→ {response.status_code} {response.content[:300]!r}"
                if response is not None
                else "→ no response"
            )
            for check in checks:
                if check.status == Status.FAILURE and check.failure_info is not None:
                    failure = check.failure_info.failure
                    yield (
                        f"{failure.operation}: {check.name}: {failure.title}\n"
                        f"{failure.message}\n{check.failure_info.code_sample}\n{answer}"
                    )
    elif isinstance(event, NonFatalError):
        yield f"{event.label}: error: {event.info.format()}"
    elif isinstance(event, FatalError):
        yield f"fatal: {event.exception!r}"
    elif isinstance(event, EngineFinished) and event.stop_reason != StopReason.COMPLETED:
        yield f"the run stopped early: {event.stop_reason}"


@pytest.mark.parametrize("service", ["intake", "governance", "reporting"])
def test_every_answer_matches_the_openapi_document(
    service: str, load_api: Callable[[str], OpenApiSchema]
) -> None:
    problems: list[str] = []
    scenarios = 0
    for event in from_schema(load_api(service)).execute():
        scenarios += isinstance(event, ScenarioFinished)
        problems.extend(problems_in(event))
    assert scenarios > 0
    assert not problems, f"{len(problems)} problems:\n\n" + "\n\n".join(problems)


def test_each_operation_rule_reaches_the_one_operation_it_names(
    load_api: Callable[[str], OpenApiSchema], operation_rules: list[dict[str, Any]]
) -> None:
    """schemathesis joins the filters of one rule with "or": a rule naming a method and a path
    reached every operation with that method. So a one-second timeout meant for the live stream
    cut every GET short (a loaded machine then saw a slow answer as a network error), and the
    checks loosened for a few operations were loosened for all."""
    named = {str(rule["include-name"]) for rule in operation_rules}
    seen: set[str] = set()
    for service in ("intake", "governance", "reporting"):
        schema = load_api(service)
        for operation in (result.ok() for result in schema.get_all_operations()):
            rules = [rule for rule in operation_rules if rule["include-name"] == operation.label]
            seen.update(rule["include-name"] for rule in rules)
            timeout = next(
                (rule["request-timeout"] for rule in rules if "request-timeout" in rule), None
            )
            checks = schema.config.checks_config_for(operation=operation)
            may_refuse = any(
                "422"
                in rule.get("checks", {})
                .get("positive_data_acceptance", {})
                .get("expected-statuses", [])
                for rule in rules
            )
            server_errors_ignored = any(
                rule.get("checks", {}).get("not_a_server_error", {}).get("enabled") is False
                for rule in rules
            )
            assert schema.config.request_timeout_for(operation=operation) == timeout, (
                operation.label
            )
            assert ("422" in checks.positive_data_acceptance.expected_statuses) == may_refuse, (
                operation.label
            )
            assert (not checks.not_a_server_error.enabled) == server_errors_ignored, operation.label
    assert seen == named, f"rules naming no operation: {sorted(named - seen)}"
