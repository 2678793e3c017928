"""Every documented response status occurs in a test (pytest plugin, loaded from pyproject).

The harness (:func:`~gatehouse.testing.harness.running_service`, :func:`~gatehouse.testing.
harness.served`) serves each app through :func:`record_statuses`, which notes the responses the
app's OpenAPI document promises the first time it sees the service, then every response as
(service, method, path template, status) in the session's :class:`StatusLedger`. The template is
the documented path the request's path fits, so a response given before routing (413) counts.

With ``--require-documented-statuses`` (``make test`` passes it; it runs the whole suite) the
session fails when an operation documents a status no test produced, and lists them. Statuses
served but not documented are listed too, without failing the session.

A response marked service-wide (``x-gatehouse-service-wide``: 429 past the rate limit, 503,
413; one mechanism answers them for every operation) counts as produced when some operation of
the service produced it.

PYTEST_DONT_REWRITE: the harness imports this module before pytest loads it as a plugin.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI

from gatehouse.web import OPENAPI_METHODS, SERVICE_WIDE

__all__ = ["OperationStatus", "StatusLedger", "current_ledger", "record_statuses"]

OPTION = "--require-documented-statuses"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass(frozen=True, order=True)
class OperationStatus:
    """One response status of one operation: a key of its OpenAPI ``responses``."""

    service: str
    method: str  # upper case, as sent
    path: str  # the route template, e.g. /v1/projects/{project_id}
    status: str  # "404"; documented keys may also be a range ("4XX") or "default"

    def __str__(self) -> str:
        return f"{self.service}: {self.method} {self.path} → {self.status}"

    def covers(self, served: OperationStatus) -> bool:
        """Whether this documented status describes ``served`` (same operation)."""
        if self.status == "default":
            return True
        if re.fullmatch(r"[1-5]XX", self.status):
            return served.status[0] == self.status[0]
        return served.status == self.status


@dataclass
class StatusLedger:
    """What the services document and what they served, over one test session."""

    documented: set[OperationStatus] = field(default_factory=set)
    # Documented statuses any operation of the service gives the same way (429, 503, 413).
    service_wide: set[OperationStatus] = field(default_factory=set)
    served: set[OperationStatus] = field(default_factory=set)
    services: set[str] = field(default_factory=set)
    _templates: dict[str, list[tuple[re.Pattern[str], str]]] = field(default_factory=dict)

    def document(self, service: str, openapi: Mapping[str, Any]) -> None:
        self.services.add(service)
        paths: Mapping[str, Any] = openapi.get("paths", {})
        # Literal paths before templates, so /things/mine is not taken for /things/{id}.
        self._templates[service] = sorted(
            ((_pattern(path), path) for path in paths), key=lambda entry: entry[1].count("{")
        )
        for path, operations in paths.items():
            for method, operation in operations.items():
                if method not in OPENAPI_METHODS:
                    continue
                for status, response in operation.get("responses", {}).items():
                    documented = OperationStatus(service, method.upper(), path, str(status))
                    self.documented.add(documented)
                    if isinstance(response, Mapping) and response.get(SERVICE_WIDE):
                        self.service_wide.add(documented)

    def serve(self, service: str, method: str, path: str, status: int) -> None:
        """Note a response to a request for ``path``; one no documented path fits is left out."""
        for pattern, template in self._templates.get(service, ()):
            if pattern.fullmatch(path):
                self.served.add(OperationStatus(service, method, template, str(status)))
                return

    def never_served(self) -> list[OperationStatus]:
        """Documented statuses no response matched. ``default`` needs nothing in particular; a
        service-wide status needs one response of the service."""
        return sorted(
            documented
            for documented in self.documented
            if documented.status != "default"
            and not any(documented.covers(served) for served in self._served_for(documented))
        )

    def undocumented(self) -> list[OperationStatus]:
        """Statuses served by a documented operation that does not document them."""
        documented_operations = {_operation(status) for status in self.documented}
        return sorted(
            served
            for served in self.served
            if _operation(served) in documented_operations
            and not any(
                documented.covers(served)
                for documented in self.documented
                if _operation(documented) == _operation(served)
            )
        )

    def _served_for(self, documented: OperationStatus) -> Iterable[OperationStatus]:
        if documented in self.service_wide:
            return (served for served in self.served if served.service == documented.service)
        return (served for served in self.served if _operation(served) == _operation(documented))


def _operation(status: OperationStatus) -> tuple[str, str, str]:
    return status.service, status.method, status.path


def _pattern(template: str) -> re.Pattern[str]:
    """``/v1/projects/{project_id}`` → a pattern one path segment stands in for each name."""
    return re.compile(
        "".join(
            "[^/]+" if part.startswith("{") else re.escape(part)
            for part in re.split(r"(\{[^}]*\})", template)
        )
    )


_ledger = StatusLedger()


def current_ledger() -> StatusLedger:
    """The ledger of the running test session."""
    return _ledger


def record_statuses(app: FastAPI) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """``app`` as an ASGI app that notes each response's status in the session's ledger."""
    service = app.title

    async def recording(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        ledger = current_ledger()
        if service not in ledger.services:
            ledger.document(service, app.openapi())
        method, path = scope["method"], scope["path"]

        async def noting_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                ledger.serve(service, method, path, message["status"])
            await send(message)

        await app(scope, receive, noting_status)

    return recording


# --- The pytest plugin ----------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("gatehouse").addoption(
        OPTION,
        action="store_true",
        default=False,
        help="fail the session when a status a service documents occurred in no test (for "
        "runs of the whole suite)",
    )


_outer_ledgers: list[StatusLedger] = []


def pytest_configure(config: pytest.Config) -> None:
    global _ledger
    _outer_ledgers.append(_ledger)
    _ledger = StatusLedger()


def pytest_unconfigure(config: pytest.Config) -> None:
    global _ledger
    _ledger = _outer_ledgers.pop()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if (
        session.config.getoption(OPTION)
        and session.exitstatus == pytest.ExitCode.OK
        and current_ledger().never_served()
    ):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not config.getoption(OPTION):
        return
    ledger = current_ledger()
    never_served = ledger.never_served()
    undocumented = ledger.undocumented()
    if never_served:
        terminalreporter.section("documented statuses no test produced", sep="=", red=True)
        for status in never_served:
            terminalreporter.line(str(status))
        terminalreporter.line(
            f"{len(never_served)} of {len(ledger.documented)} documented statuses never "
            "occurred: test each one, or stop documenting it if it cannot occur",
            red=True,
        )
    if undocumented:
        terminalreporter.section("statuses served but not documented", sep="=", yellow=True)
        for status in undocumented:
            terminalreporter.line(str(status))
    if not never_served:
        terminalreporter.line(
            f"every documented status occurred in a test "
            f"({len(ledger.documented)} across {len(ledger.services)} "
            "services)",
            green=True,
        )
