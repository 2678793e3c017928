"""Request heads over the server's limits: too many bytes of request line and header fields, or
too many fields, are answered 431 problem+json before the request reaches the app, and write
nothing. While clients send heads of 64 MB, the service goes on answering everyone else.

The requests go over real sockets to intake served as in production (the server and its
settings), so what is tested is what the server does, not what an in-process transport does."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import pytest

from gatehouse.auth import DevIssuer, Role
from gatehouse.settings import ServiceSettings
from gatehouse.testing.harness import RunningService, served
from intake.bootstrap import migrate
from intake.main import create_app
from intake.settings import IntakeSettings

from .conftest import project_request

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

MAX_HEADER_BYTES: int = ServiceSettings.model_fields["max_header_bytes"].default
MAX_HEADERS: int = ServiceSettings.model_fields["max_headers"].default


@pytest.fixture
async def intake(
    postgres_url: str,
    new_pg_schema: Callable[[], Awaitable[str]],
    kafka_bootstrap: str,
    namespace: str,
    dev_issuer: DevIssuer,
) -> AsyncIterator[RunningService]:
    """Intake alone (nothing here needs the other services), served as in production."""
    settings = IntakeSettings(
        database_url=postgres_url,
        database_schema=await new_pg_schema(),
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_namespace=namespace,
        auth_dev_key_file=dev_issuer.key_file,
        log_json=False,
    )
    await asyncio.to_thread(migrate, settings)
    async with served(create_app(settings), dev_issuer) as intake:
        yield intake


@dataclass(frozen=True)
class Request:
    """A POST /v1/projects that creates a project, unless refused."""

    token: str
    query: str = ""
    fields: list[tuple[str, str]] = field(default_factory=list)

    def head(self) -> bytes:
        lines = [
            f"POST /v1/projects{self.query} HTTP/1.1",
            "Host: 127.0.0.1",
            f"Authorization: Bearer {self.token}",
            "Content-Type: application/json",
            f"Content-Length: {len(self.body())}",
            "Connection: close",
            *(f"{name}: {value}" for name, value in self.fields),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def field_count(self) -> int:
        return self.head().count(b"\r\n") - 2  # less the request line and the blank line

    def body(self) -> bytes:
        return json.dumps(project_request()).encode()


def head_of(over: int) -> Callable[[Request], Request]:
    """One padding field making the head ``over`` bytes longer than the limit."""

    def padded(request: Request) -> Request:
        size = MAX_HEADER_BYTES + over - len(request.head()) - len("X-Padding: \r\n")
        return Request(request.token, fields=[("X-Padding", "a" * size)])

    return padded


def fields_of(over: int) -> Callable[[Request], Request]:
    """Short fields making the head ``over`` fields more than the limit."""

    def many(request: Request) -> Request:
        count = MAX_HEADERS + over - request.field_count()
        return Request(request.token, fields=[(f"X-Field-{n}", "1") for n in range(count)])

    return many


def with_fields(*fields: tuple[str, str]) -> Callable[[Request], Request]:
    return lambda request: Request(request.token, fields=list(fields))


def with_query(size: int) -> Callable[[Request], Request]:
    return lambda request: Request(request.token, query="?q=" + "a" * size)


PROBES = [
    pytest.param(with_fields(("X-Assertion", "a" * 4096)), 201, id="a 4 KiB field (a JWT)"),
    pytest.param(head_of(0), 201, id="a head of the byte limit"),
    pytest.param(head_of(1), 431, id="a head a byte over the limit"),
    pytest.param(with_fields(("X-Padding", "a" * 65_536)), 431, id="one field of 64 KiB"),
    pytest.param(fields_of(0), 201, id="as many fields as the limit"),
    pytest.param(fields_of(1), 431, id="a field over the limit"),
    pytest.param(
        with_fields(*[(f"X-Field-{n}", "1") for n in range(10_000)]), 431, id="10,000 fields"
    ),
    pytest.param(with_query(MAX_HEADER_BYTES), 431, id="a request line over the byte limit"),
]


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


async def exchange(port: int, request: bytes) -> Answer:
    """Send ``request`` on a connection of its own; the answer, read until the server ends
    the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
        with suppress(ConnectionError):
            await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return Answer(
        int(status_line.split()[1]), {name.lower(): value for name, value in headers.items()}, body
    )


def port_of(service: RunningService) -> int:
    port = service.client.base_url.port
    assert port is not None
    return port


async def projects(intake: RunningService) -> list[Any]:
    listed = await intake.client.get("/v1/projects", headers=intake.auth("pat", Role.PMO_ADMIN))
    assert listed.status_code == 200, listed.text
    items: list[Any] = listed.json()["items"]
    return items


@pytest.mark.parametrize(("probe", "status"), PROBES)
async def test_a_head_within_the_limits_is_served_one_over_them_is_431_and_writes_nothing(
    intake: RunningService, probe: Callable[[Request], Request], status: int
) -> None:
    token = intake.issuer.issue("alice", [Role.REQUESTER])
    request = probe(Request(token))

    answer = await exchange(port_of(intake), request.head() + request.body())

    assert answer.status == status, answer.body
    assert len(await projects(intake)) == (1 if status == 201 else 0)
    if status == 431:
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["connection"] == "close"
        problem = json.loads(answer.body)
        assert problem["type"] == "/problems/request-header-fields-too-large"
        assert problem["status"] == 431
        assert (problem["max_header_bytes"], problem["max_headers"]) == (
            MAX_HEADER_BYTES,
            MAX_HEADERS,
        )


async def send_head_of(port: int, size: int, sending: asyncio.Event) -> int:
    """Send a request with one header field of ``size`` bytes, a MiB at a time; how many bytes
    of it went out before the server ended the connection (``size`` if it never did)."""
    chunk = b"a" * 1_048_576
    sent = 0
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ")
        while sent < size:
            writer.write(chunk)
            await writer.drain()
            sent += len(chunk)
            sending.set()
    except ConnectionError:
        return sent
    finally:
        writer.close()
        with suppress(ConnectionError):
            await writer.wait_closed()
    return sent


async def test_while_heads_of_64_mb_are_sent_the_service_answers_within_a_second(
    intake: RunningService,
) -> None:
    size = 64 * 1_048_576
    sending = [asyncio.Event() for _ in range(4)]
    floods = [
        asyncio.create_task(send_head_of(port_of(intake), size, started)) for started in sending
    ]
    try:
        await asyncio.wait_for(asyncio.gather(*(started.wait() for started in sending)), 5)

        ready = await asyncio.wait_for(intake.client.get("/readyz"), 1.0)

        assert ready.status_code == 200
        sent = await asyncio.wait_for(asyncio.gather(*floods), 5)
    finally:
        for flood in floods:
            flood.cancel()
        await asyncio.gather(*floods, return_exceptions=True)
    assert all(bytes_sent < size for bytes_sent in sent), sent
