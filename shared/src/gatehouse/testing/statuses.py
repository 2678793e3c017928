"""Every documented response status occurs in a test (pytest plugin, loaded from pyproject).

The harness (:func:`~gatehouse.testing.harness.running_service`, :func:`~gatehouse.testing.
harness.served`) serves each app through :func:`record_statuses`, which notes every response
as (service, method, route template, status) in the session's :class:`StatusLedger`, and notes
the responses the app's OpenAPI document promises the first time it sees the service.

With ``--require-documented-statuses`` (``make test`` passes it; it runs the whole suite) the
session fails when an operation documents a status no test produced, and lists them. Statuses
served but not documented are listed too, without failing the session.

PYTEST_DONT_REWRITE: the harness imports this module before pytest loads it as a plugin.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.routing import BaseRoute, Match

__all__ = ["OperationStatus", "StatusLedger", "current_ledger", "record_statuses"]

OPTION = "--require-documented-statuses"
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})

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
    served: set[OperationStatus] = field(default_factory=set)
    services: set[str] = field(default_factory=set)

    def document(self, service: str, openapi: Mapping[str, Any]) -> None:
        self.services.add(service)
        for path, operations in openapi.get("paths", {}).items():
            for method, operation in operations.items():
                if method not in HTTP_METHODS:
                    continue
                for status in operation.get("responses", {}):
                    self.documented.add(
                        OperationStatus(service, method.upper(), path, str(status)))

    def serve(self, service: str, method: str, path: str, status: int) -> None:
        self.served.add(OperationStatus(service, method, path, str(status)))

    def never_served(self) -> list[OperationStatus]:
        """Documented statuses no response matched. ``default`` needs nothing in particular."""
        return sorted(documented for documented in self.documented
                      if documented.status != "default"
                      and not any(documented.covers(served)
                                  for served in self._served_by_operation(documented)))

    def undocumented(self) -> list[OperationStatus]:
        """Statuses served by a documented operation that does not document them."""
        documented_operations = {_operation(status) for status in self.documented}
        return sorted(
            served for served in self.served
            if _operation(served) in documented_operations
            and not any(documented.covers(served) for documented in self.documented
                        if _operation(documented) == _operation(served)))

    def _served_by_operation(self, documented: OperationStatus) -> Iterable[OperationStatus]:
        return (served for served in self.served if _operation(served) == _operation(documented))


def _operation(status: OperationStatus) -> tuple[str, str, str]:
    return status.service, status.method, status.path


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
        route = _route_path(app.router.routes, scope)

        async def noting_status(message: Message) -> None:
            if message["type"] == "http.response.start" and route is not None:
                ledger.serve(service, scope["method"], route, message["status"])
            await send(message)

        await app(scope, receive, noting_status)

    return recording


def _route_path(routes: Iterable[BaseRoute], scope: Scope) -> str | None:
    """The template of the route the request goes to, before any middleware answers it (a
    refused body is still a request to its route); a path without a route has none."""
    partial = None
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return str(getattr(route, "path", None))
        if match is Match.PARTIAL and partial is None:
            partial = str(getattr(route, "path", None))
    return partial


# --- The pytest plugin ----------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("gatehouse").addoption(
        OPTION, action="store_true", default=False,
        help="fail the session when a status a service documents occurred in no test (for "
        "runs of the whole suite)")


_outer_ledgers: list[StatusLedger] = []


def pytest_configure(config: pytest.Config) -> None:
    global _ledger
    _outer_ledgers.append(_ledger)
    _ledger = StatusLedger()


def pytest_unconfigure(config: pytest.Config) -> None:
    global _ledger
    _ledger = _outer_ledgers.pop()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if (session.config.getoption(OPTION) and session.exitstatus == pytest.ExitCode.OK
            and current_ledger().never_served()):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int,
                            config: pytest.Config) -> None:
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
            "occurred: test each one, or stop documenting it if it cannot occur", red=True)
    if undocumented:
        terminalreporter.section("statuses served but not documented", sep="=", yellow=True)
        for status in undocumented:
            terminalreporter.line(str(status))
    if not never_served:
        terminalreporter.line(f"every documented status occurred in a test "
                              f"({len(ledger.documented)} across {len(ledger.services)} "
                              "services)", green=True)
