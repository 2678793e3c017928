"""The three services as schemathesis sees them: each app in-process on SQLite against the real
broker, its OpenAPI document loaded from the app itself.

schemathesis drives the app through its ASGI transport, which starts the app's lifespan on the
first request; the fixture ends it with the test (its pytest plugin is not loaded).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis import Case, HookContext
from schemathesis.python import asgi
from schemathesis.specs.openapi.schemas import OpenApiSchema

from gatehouse.auth import DevIssuer, Role
from governance.bootstrap import migrate as migrate_governance
from governance.main import create_app as create_governance
from governance.settings import GovernanceSettings
from intake.bootstrap import migrate as migrate_intake
from intake.main import create_app as create_intake
from intake.settings import IntakeSettings
from reporting.bootstrap import migrate as migrate_reporting
from reporting.main import create_app as create_reporting
from reporting.settings import ReportingSettings

# Generated examples per operation in the fuzzing phase; the examples, coverage and stateful
# phases come on top, coverage taking most of the time (figures in docs/TESTING.md).
MAX_EXAMPLES = 5
# The same cases on every run, so that a failure in CI is one anybody can reproduce.
SEED = 20271123

# Every default check runs, with two additions to what counts as a right answer, both from
# conditional requests (RFC 9110 section 13, RFC 6585): whether an If-Match holds depends on the
# resource's state, not on the request's shape, so a well-formed change can meet 412 (stale
# ETag) or 428 (replacing what exists needs If-Match), as it can meet 409; and a change sent
# without its required If-Match is refused with 428, the status made for that.
_ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
CONDITIONAL_REQUESTS = {
    "positive_data_acceptance": {"expected-statuses": [*_ACCEPTED, "412", "428"]},
    "missing_required_header": {
        "expected-statuses": ["400", "401", "403", "406", "415", "422", "428"]
    },
}
# Operations whose input a JSON Schema cannot fully describe, so that schema-valid input may
# still get 422 naming the field: a time that must lie ahead, a cursor or event id only the
# service can have issued, one field that must come after, differ from or count another, a
# name that must be one the service holds now. Each rule names one operation ("METHOD path"):
# the filters of one rule widen each other (method or path), they do not narrow.
RULES_NO_SCHEMA_CAN_STATE: list[dict[str, object]] = [
    {
        "include-name": f"{method} {path}",
        "checks": {
            "positive_data_acceptance": {"expected-statuses": [*_ACCEPTED, "412", "428", "422"]}
        },
    }
    for method, path in (
        ("POST", "/v1/api-keys"),  # expires_at in the future
        ("POST", "/v1/projects"),  # custom fields: those the PMO has defined; dates in order
        ("PATCH", "/v1/projects/{project_id}"),  # the same, against the stored request
        ("GET", "/v1/projects"),  # cursor
        ("PUT", "/v1/scoring-models/{model_key}"),  # a weighted model has criteria
        ("POST", "/v1/projects/{project_id}/scores"),  # a model that exists; mandatory: a reason
        ("GET", "/v1/gate-reviews"),  # cursor
        ("GET", "/v1/projects/{project_id}/timeline"),  # cursor
        ("GET", "/v1/audit/decisions"),  # cursor
        ("GET", "/v1/events/stream"),  # Last-Event-ID
        ("POST", "/v1/delegations"),  # to: someone else; ends_at after starts_at
        ("PUT", "/v1/gate-templates/{project_type}"),  # n up to the seats; gate keys unique
    )
]

# Readiness answers 503 by design while a service is still creating its topics (the fuzzing may
# reach it first): that 5xx is the probe's documented meaning, not a server fault.
READINESS = {"include-name": "GET /readyz", "checks": {"not_a_server_error": {"enabled": False}}}

# The live stream never ends: a second of it shows its status, headers and first frames.
LIVE_STREAM = {"include-name": "GET /v1/events/stream", "request-timeout": 1}

# Each names one operation, as "METHOD path" (include-name).
OPERATION_RULES = [*RULES_NO_SCHEMA_CAN_STATE, LIVE_STREAM, READINESS]

SERVICES: dict[str, tuple[type[Any], Callable[[Any], None], Callable[[Any], FastAPI]]] = {
    "intake": (IntakeSettings, migrate_intake, create_intake),
    "governance": (GovernanceSettings, migrate_governance, create_governance),
    "reporting": (ReportingSettings, migrate_reporting, create_reporting),
}


_WELL_FORMED_KEY = re.compile(r"[ -~]*[!-~][ -~]*")


@pytest.fixture
def fresh_idempotency_keys() -> Iterator[None]:
    """Each request sending a well-formed Idempotency-Key sends a key of its own. A key reused
    for another request is refused by design (422, as the IETF draft on the header says),
    which depends on what was sent before and so on no schema; generated keys repeat often."""

    def before_call(_context: HookContext, case: Case, _kwargs: dict[str, Any]) -> None:
        for name, value in list((case.headers or {}).items()):
            if name.lower() == "idempotency-key" and _WELL_FORMED_KEY.fullmatch(str(value)):
                case.headers[name] = uuid.uuid4().hex

    schemathesis.hook("before_call")(before_call)
    yield
    schemathesis.hooks.unregister(before_call)


@pytest.fixture
def load_api(
    tmp_path: Path,
    kafka_bootstrap: str,
    namespace: str,
    dev_issuer: DevIssuer,
    fresh_idempotency_keys: None,
) -> Iterator[Callable[[str], OpenApiSchema]]:
    """Builds a service on a fresh SQLite database and loads its OpenAPI document, set up to
    send every request with a token that holds all four Gatehouse roles (so that handlers, not
    only role checks, are reached) and to run every default check."""

    def load(service: str) -> OpenApiSchema:
        settings_class, migrate, create_app = SERVICES[service]
        settings = settings_class(
            database_url=f"sqlite+aiosqlite:///{tmp_path / f'{service}.db'}",
            kafka_bootstrap_servers=kafka_bootstrap,
            topic_namespace=namespace,
            # JSON log lines carry each request's path, status and duration: a failure's
            # captured log shows which request took how long.
            auth_dev_key_file=dev_issuer.key_file,
            log_json=True,
            # One client sending as fast as it can: on a fast run it passed 100 requests a second
            # and got 429s in place of the answers under test. The limiter has tests of its own.
            rate_limit_per_second=0,
        )
        migrate(settings)
        token = dev_issuer.issue("fuzzer", list(Role))
        config = schemathesis.Config.from_dict(
            {
                "headers": {"Authorization": f"Bearer {token}"},
                "seed": SEED,
                "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
                "checks": CONDITIONAL_REQUESTS,
                "operations": OPERATION_RULES,
            }
        )
        return schemathesis.openapi.from_asgi("/openapi.json", create_app(settings), config=config)

    yield load
    asgi.shutdown_lifespans()


@pytest.fixture
def operation_rules() -> list[dict[str, Any]]:
    """The rules that change the checks or the timeout of one operation each."""
    return OPERATION_RULES
