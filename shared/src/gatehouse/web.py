"""The HTTP side every service shares: app factory, auth dependency, problem+json, probes.

Routes stay thin: they parse input, build a command, call a handler and shape the response.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Mapping,
    MutableMapping,
    Sequence,
)
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from gatehouse.apikeys import API_KEY_HEADER, authenticate_api_key
from gatehouse.asyncapi import asyncapi_document
from gatehouse.auth import Principal, Role
from gatehouse.commands import CommandResponse, execute_command, missing_if_match
from gatehouse.errors import GatehouseError, ServiceUnavailable, Unauthenticated
from gatehouse.events.base import EventRegistry
from gatehouse.eventstore.errors import ConcurrencyError
from gatehouse.idempotency import fingerprint
from gatehouse.observability import configure_logging, correlation_id, current_actor
from gatehouse.ratelimit import RateLimiter, TooManyRequests
from gatehouse.runtime import ServiceRuntime, tune_garbage_collector
from gatehouse.settings import ServiceSettings
from gatehouse.unit_of_work import UnitOfWork

__all__ = [
    "AnyRole",
    "Approver",
    "ApproverOrPmoAdmin",
    "AuditorOrPmoAdmin",
    "CurrentPrincipal",
    "IdempotencyKey",
    "IfMatch",
    "OptionalIfMatch",
    "PmoAdmin",
    "RequesterOrPmoAdmin",
    "RoleCheck",
    "Runtime",
    "allow",
    "create_service_app",
    "problem_response",
    "read_unit_of_work",
    "run_command",
    "runtime_of",
    "serve",
]

log = logging.getLogger("gatehouse.http")

PROBLEM_JSON = "application/problem+json"
CORRELATION_HEADER = "X-Correlation-ID"

_bearer = HTTPBearer(
    auto_error=False,
    description="A JWT from the configured issuer (`gatehouse token` in the embedded default)",
)


_api_key = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="An API key a PMO admin issued (intake's POST /v1/api-keys)",
)


# The request headers of commands, documented as the services read them (see commands.py).
# A blank If-Match counts as none (428). A missing required If-Match fails FastAPI's validation;
# the validation handler answers it with 428 like parse_if_match does.
_NOT_BLANK = r"\S"
IfMatch = Annotated[
    str,
    Header(
        description="The ETag from your last read (428 without, 412 when stale)",
        json_schema_extra={"pattern": _NOT_BLANK},
    ),
]
OptionalIfMatch = Annotated[
    str | None,
    Header(
        description="The ETag from your last read (412 when stale)",
        json_schema_extra={"pattern": _NOT_BLANK},
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        description="Makes a retry safe: the same key and body get the stored response (24 h); "
        "1 to 200 printable ASCII characters, not all spaces",
        json_schema_extra={"pattern": r"^[ -~]*[!-~][ -~]*$", "maxLength": 200},
    ),
]


def runtime_of(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


async def _current_runtime(request: Request) -> ServiceRuntime:
    # A dependency that is a plain function runs in a worker thread, one hop per request.
    return runtime_of(request)


# The service's runtime, for a route: ``runtime: Runtime``.
Runtime = Annotated[ServiceRuntime, Depends(_current_runtime)]


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    runtime = runtime_of(request)
    try:
        if credentials is not None and credentials.scheme.lower() == "bearer":
            principal = await runtime.verifier.verify(credentials.credentials)
        elif api_key is not None:
            async with runtime.database.read() as connection:
                principal = await authenticate_api_key(connection, api_key, now=runtime.clock())
        else:
            raise Unauthenticated(
                f"send an Authorization: Bearer <token> header or an {API_KEY_HEADER} header"
            )
    except Unauthenticated:
        # Failed attempts count against the address they come from.
        runtime.rate_limiter.take(f"address:{request.client.host if request.client else ''}")
        raise
    runtime.rate_limiter.take(f"subject:{principal.subject}")
    current_actor.set(principal.subject)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


@dataclass(frozen=True)
class RoleCheck:
    """The dependency :func:`allow` makes; ``roles`` is what the endpoint-by-role test reads."""

    roles: tuple[Role, ...]

    async def __call__(self, principal: CurrentPrincipal) -> Principal:
        principal.require(*self.roles)
        return principal


def allow(*roles: Role) -> Any:
    """The route's caller, who must hold one of ``roles`` (403 otherwise).

    Use as ``principal: Annotated[Principal, allow(Role.PMO_ADMIN)]``. Dependencies run before
    the request's body and parameters are validated, so a caller without the role gets 403
    and learns nothing about the input.
    """
    return Depends(RoleCheck(roles))


# The callers of the routes, by the roles they need.
AnyRole = Annotated[Principal, allow(*Role)]
PmoAdmin = Annotated[Principal, allow(Role.PMO_ADMIN)]
Approver = Annotated[Principal, allow(Role.APPROVER)]
RequesterOrPmoAdmin = Annotated[Principal, allow(Role.REQUESTER, Role.PMO_ADMIN)]
ApproverOrPmoAdmin = Annotated[Principal, allow(Role.APPROVER, Role.PMO_ADMIN)]
AuditorOrPmoAdmin = Annotated[Principal, allow(Role.AUDITOR, Role.PMO_ADMIN)]


@asynccontextmanager
async def read_unit_of_work(
    runtime: ServiceRuntime, registry: EventRegistry, principal: Principal
) -> AsyncIterator[UnitOfWork]:
    """A unit of work for a route that only reads streams, on a read connection
    (:meth:`Database.read`): it writes and commits nothing."""
    assert runtime.event_store is not None
    async with runtime.database.read() as connection:
        yield UnitOfWork.on(connection, runtime.event_store, registry, actor=principal.subject)


async def run_command(
    runtime: ServiceRuntime,
    registry: EventRegistry,
    request: Request,
    principal: Principal,
    idempotency_key: str | None,
    run: Callable[[UnitOfWork], Awaitable[CommandResponse]],
) -> Response:
    """Run a route's command in one transaction (run again when it loses a race for a
    stream), through the idempotency record when the client sent a key."""
    store = runtime.event_store
    assert store is not None

    async def in_transaction(connection: AsyncConnection) -> CommandResponse:
        return await run(UnitOfWork.on(connection, store, registry, actor=principal.subject))

    return await execute_command(
        runtime.database,
        principal=principal.caller,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint(request.method, request.url.path, await request.body()),
        run=in_transaction,
    )


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    type_uri: str = "about:blank",
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {"type": type_uri, "title": title, "status": status, "detail": detail}
    if instance is not None:
        body["instance"] = instance
    body.update(extensions)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def create_service_app(
    *,
    runtime: ServiceRuntime,
    title: str,
    description: str,
    routers: Sequence[APIRouter],
) -> FastAPI:
    settings = runtime.settings
    configure_logging(runtime.name, settings.log_level, json_logs=settings.log_json)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        log.info("service started", extra={"port": settings.port})
        try:
            yield
        finally:
            await runtime.stop()
            log.info("service stopped")

    app = FastAPI(title=title, description=description, version="0.1.0", lifespan=lifespan)
    app.state.runtime = runtime
    for router in routers:
        app.include_router(router, prefix="/v1")
    _add_probes(app, runtime)
    _document_service_wide_answers(app)
    _add_error_handlers(app)
    app.add_middleware(_BodySizeLimitMiddleware, max_bytes=settings.max_request_bytes)
    app.add_middleware(_AddressRateLimitMiddleware, limiter=runtime.rate_limiter)
    app.add_middleware(_RequestContextMiddleware, runtime=runtime)
    return app


SERVICE_WIDE = "x-gatehouse-service-wide"
"""Marks a documented response any operation of the API may give, whatever its route."""

OPENAPI_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
"""The keys of an OpenAPI path item that are operations."""

# The one path whose requests no rate limit counts: the liveness probe.
_UNCOUNTED_PATH = "/healthz"

_TOO_MANY_REQUESTS: dict[str, Any] = {
    "description": "Too many requests from this client: retry after the seconds Retry-After says",
    SERVICE_WIDE: True,
    "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
}

# What any /v1 operation may answer besides its own statuses, and what one taking a body may.
_ANY_REQUEST_ANSWERS: dict[str, dict[str, Any]] = {
    "429": _TOO_MANY_REQUESTS,
    "503": {
        "description": "The database or the token issuer's keys cannot be reached just "
        "now: retry (with the same Idempotency-Key for a change)",
        SERVICE_WIDE: True,
    },
}
_BODY_ANSWERS: dict[str, dict[str, Any]] = {
    "413": {"description": "The request body is over the size limit", SERVICE_WIDE: True},
}


def _document_service_wide_answers(app: FastAPI) -> None:
    """Adds the answers any request may get to every operation of the OpenAPI document: to a
    ``/v1`` operation 429 past the client's rate limit, 503 while the database or the token
    issuer's keys cannot be reached, and 413 for a body over the size limit; to the others
    (probes and documents) 429 past their address's rate limit, save /healthz."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        for path, operations in document.get("paths", {}).items():
            if path == _UNCOUNTED_PATH:
                continue
            for method, operation in operations.items():
                if method in OPENAPI_METHODS:
                    responses = operation.setdefault("responses", {})
                    answers = (
                        {
                            **_ANY_REQUEST_ANSWERS,
                            **(_BODY_ANSWERS if "requestBody" in operation else {}),
                        }
                        if path.startswith("/v1/")
                        else {"429": _TOO_MANY_REQUESTS}
                    )
                    for status, answer in answers.items():
                        responses.setdefault(status, answer)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _add_probes(app: FastAPI, runtime: ServiceRuntime) -> None:
    @app.get("/healthz", tags=["operations"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["operations"],
        summary="Readiness: database and Kafka reachable, topics in place",
        responses={503: {"description": "Not ready"}},
    )
    async def readyz() -> JSONResponse:
        readiness = await runtime.readiness()
        body = {
            "status": "ready" if readiness.ready else "not ready",
            "checks": {
                "database": readiness.database,
                "kafka": readiness.kafka,
                "topics": readiness.topics,
            },
        }
        return JSONResponse(body, status_code=200 if readiness.ready else 503)

    @app.get(
        "/asyncapi.json",
        tags=["operations"],
        summary="The event contract: an AsyncAPI 3.0 document of the topics and the "
        "live stream, generated from the event classes",
    )
    async def asyncapi() -> dict[str, Any]:
        return asyncapi_document()

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        if runtime.relay is not None:
            runtime.metrics.outbox_pending.set(await runtime.relay.pending_count())
        return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GatehouseError)
    async def gatehouse_error(request: Request, error: GatehouseError) -> JSONResponse:
        return _problem_of(error, request.url.path)

    @app.exception_handler(ConcurrencyError)
    async def concurrency_error(request: Request, error: ConcurrencyError) -> JSONResponse:
        return problem_response(
            409,
            "Conflict",
            "the resource kept changing while this request was applied; read it again and retry",
            type_uri="/problems/concurrent-change",
            instance=request.url.path,
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = error.errors()
        if errors and all(_is_missing_if_match(item) for item in errors):
            # A change whose only flaw is a missing If-Match lacks a precondition (RFC 6585).
            return await gatehouse_error(request, missing_if_match())
        problems = [_describe_validation_error(item) for item in errors]
        first = problems[0] if problems else {"field": "", "message": "invalid request"}
        return problem_response(
            422,
            "Invalid input",
            f"{first['field']}: {first['message']}",
            type_uri="/problems/invalid-input",
            instance=request.url.path,
            errors=problems,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if isinstance(error.__cause__, UnicodeDecodeError):
            # FastAPI's 400 for a body that is not UTF-8: malformed JSON like any other, 422.
            return problem_response(
                422,
                "Invalid input",
                "body: not valid JSON (it must be UTF-8)",
                type_uri="/problems/invalid-input",
                instance=request.url.path,
                errors=[
                    {
                        "field": "body",
                        "in": "body",
                        "message": "not valid UTF-8",
                        "type": "json_invalid",
                    }
                ],
            )
        headers = error.headers
        if error.status_code == 405:
            # Starlette names the methods of the first route on the path; RFC 9110 wants all.
            headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(request))}
        return problem_response(
            error.status_code,
            _reason(error.status_code),
            str(error.detail),
            instance=request.url.path,
            headers=headers,
        )

    @app.exception_handler(DBAPIError)
    async def database_error(request: Request, error: DBAPIError) -> JSONResponse:
        if not (
            error.connection_invalidated or isinstance(error, OperationalError | InterfaceError)
        ):
            return await unexpected_error(request, error)
        # The transaction died with its connection; only a commit the server completed before
        # the cut can have taken effect, so a retry with the same Idempotency-Key is safe.
        log.warning(
            "database connection lost during a request",
            extra={"path": request.url.path, "error": str(error.orig)},
        )
        return problem_response(
            ServiceUnavailable.status,
            ServiceUnavailable.title,
            "the connection to the database was lost; retry (with the same Idempotency-Key, "
            "a retry never applies a change twice)",
            type_uri=f"/problems/{ServiceUnavailable.slug}",
            instance=request.url.path,
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem_response(
            500,
            "Internal error",
            "the server failed to handle the request; it has been logged",
            instance=request.url.path,
        )


def _problem_of(error: GatehouseError, instance: str | None) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    if isinstance(error, TooManyRequests):
        headers = {"Retry-After": str(error.retry_after_seconds)}
    return problem_response(
        error.status,
        error.title,
        error.detail,
        type_uri=error.type_uri,
        instance=instance,
        headers=headers,
        **error.extensions,
    )


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app serves on the request's path."""
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL
            for route in request.app.router.routes
        )
    ]


def _is_missing_if_match(item: Any) -> bool:
    return item.get("type") == "missing" and tuple(item.get("loc", ())) == ("header", "if-match")


def _describe_validation_error(item: Any) -> dict[str, str]:
    location = [str(part) for part in item.get("loc", ())]
    if location and location[0] in ("body", "query", "path", "header"):
        source, path = location[0], location[1:]
    else:
        source, path = "body", location
    return {
        "field": ".".join(path) or source,
        "in": source,
        "message": str(item.get("msg")),
        "type": str(item.get("type")),
    }


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class _BodySizeLimitMiddleware:
    """Refuses a request body over ``max_bytes`` with 413, before any route reads it.

    A declared Content-Length is checked at once; a body sent without one (chunked) is read up to
    the limit and then handed on, so no route ever sees more than the limit.
    """

    def __init__(
        self, app: Callable[[Scope, Receive, Send], Awaitable[None]], *, max_bytes: int
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        if declared is not None:
            await self.app(scope, receive, send)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            body.extend(message.get("body", b""))
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            413,
            "Content too large",
            f"the request body may be at most {self.max_bytes} bytes",
            type_uri="/problems/content-too-large",
            instance=scope.get("path"),
            max_bytes=self.max_bytes,
        )
        await response(scope, receive, send)


class _AddressRateLimitMiddleware:
    """Counts each request outside ``/v1`` against a budget of its address: the documents,
    ``/readyz`` and ``/metrics`` answer anyone, so the address is all there is to count by.
    A ``/v1`` request is counted by the subject it authenticates as (or by its address when it
    fails to). ``/healthz`` is not counted: it does no work worth protecting, and a liveness
    probe refused 429 would get a healthy replica restarted."""

    def __init__(
        self, app: Callable[[Scope, Receive, Send], Awaitable[None]], *, limiter: RateLimiter
    ) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and not path.startswith("/v1/") and path != _UNCOUNTED_PATH:
            client = scope.get("client")
            try:
                self.limiter.take(f"anonymous:{client[0] if client else ''}")
            except TooManyRequests as refused:
                await _problem_of(refused, path)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _RequestContextMiddleware:
    """Correlation id in and out, one access-log line and the HTTP metrics per request."""

    def __init__(
        self, app: Callable[[Scope, Receive, Send], Awaitable[None]], *, runtime: ServiceRuntime
    ) -> None:
        self.app = app
        self.metrics = runtime.metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, CORRELATION_HEADER.lower().encode())
        cid = incoming if incoming and len(incoming) <= 200 else str(uuid.uuid4())
        token = correlation_id.set(cid)
        actor_token = current_actor.set(None)
        status = 500
        started = time.perf_counter()

        async def send_with_correlation(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (CORRELATION_HEADER.lower().encode(), cid.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_correlation)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            route_path = getattr(route, "path", "unmatched")
            method = scope["method"]
            self.metrics.http_requests(method=method, route=route_path, status=str(status)).inc()
            self.metrics.http_duration(method=method, route=route_path).observe(elapsed)
            if route_path not in ("/healthz", "/readyz", "/metrics"):
                log.info(
                    "request",
                    extra={
                        "method": method,
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "actor": current_actor.get(),
                    },
                )
            current_actor.reset(actor_token)
            correlation_id.reset(token)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def serve(factory: str, settings: ServiceSettings) -> None:
    """Build the app with ``factory`` (``package.module:create_app``) and run it under uvicorn
    on the settings' address, with their limits on request heads (:mod:`gatehouse.server`)."""
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.importer import import_from_string

    from gatehouse.server import server_config

    app = import_from_string(factory)()
    tune_garbage_collector()
    server = uvicorn.Server(server_config(app, settings))
    with suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)
