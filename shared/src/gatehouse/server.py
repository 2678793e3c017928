"""The HTTP server the services run under: uvicorn on httptools, with limits on request heads.

uvicorn reads a request's header fields without a bound, and httptools joins the pieces of a
long field by concatenation, whose cost grows with the square of its length: four requests with
a header of 64 MB stalled a service's event loop for 15 s and held hundreds of MB. Here the
parser sees at most ``max_header_bytes`` of a request head (the request line and the header
fields); a longer head, or one of more than ``max_headers`` fields, is answered 431 problem+json
and the connection closed. What the client goes on sending is read and dropped for a moment
first, so that it can read the answer (closing a socket with unread data resets the
connection, and the answer with it).

The tests serve the apps with the same configuration (:mod:`gatehouse.testing.harness`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import httptools
import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from gatehouse.settings import ServiceSettings
from gatehouse.web import problem_response

__all__ = ["HeadLimitedProtocol", "server_config"]

log = logging.getLogger("gatehouse.http")

# After a refusal, what the client still sends is dropped for this long or up to this much,
# then the connection is closed.
_LINGER_SECONDS = 1.0
_LINGER_BYTES = 1_048_576


def server_config(
    app: Callable[..., Any],
    settings: ServiceSettings,
    *,
    port: int | None = None,
) -> uvicorn.Config:
    """How a service's app is served, in production and in the tests: on the settings' address
    (or ``port``), logging through the service's own logging, with the settings' limits on
    request heads."""
    return _Config(
        app,
        host=settings.host,
        port=settings.port if port is None else port,
        http=HeadLimitedProtocol,
        log_config=None,
        access_log=False,
        lifespan="on",
        max_header_bytes=settings.max_header_bytes,
        max_headers=settings.max_headers,
    )


class _Config(uvicorn.Config):
    """uvicorn's configuration and the limits on request heads, which it has no settings for."""

    def __init__(
        self, app: Callable[..., Any], *, max_header_bytes: int, max_headers: int, **options: Any
    ) -> None:
        super().__init__(app, **options)
        self.max_header_bytes = max_header_bytes
        self.max_headers = max_headers


class _TooManyFields(Exception):
    pass


class HeadLimitedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing a request head over the limits with 431.

    A request pipelined behind another in the same read is counted from the next read on, so
    its head may pass the limit by up to one read (256 KiB); its fields are counted all the same.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        assert isinstance(config, _Config)
        self.max_header_bytes = config.max_header_bytes
        self.max_headers = config.max_headers
        # Bytes of the request head read so far; None while its body is read.
        self._head_bytes: int | None = 0
        self._heads_read = 0
        self._refused = False
        self._dropped = 0
        self._linger: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        if self._refused:
            self._drop(len(data))
            return
        if self._head_bytes is None or self._head_bytes + len(data) <= self.max_header_bytes:
            if self._head_bytes is not None:
                self._head_bytes += len(data)
            self._parse(data)
            return
        # The parser gets the rest of the head's room, and what follows only if the head ends
        # within it.
        room = self.max_header_bytes - self._head_bytes
        heads_read = self._heads_read
        self._parse(data[:room])
        if self._refused or self.transport.is_closing():
            return
        if self._heads_read > heads_read:
            self._parse(data[room:])
        else:
            self._refuse(
                f"the request line and header fields may be at most {self.max_header_bytes} bytes"
            )

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        self._heads_read += 1
        if len(self.headers) > self.max_headers:
            raise _TooManyFields(f"a request may have at most {self.max_headers} header fields")
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._head_bytes = 0
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._linger is not None:
            self._linger.cancel()
        super().connection_lost(exc)

    def _parse(self, data: bytes) -> None:
        """uvicorn's ``data_received``, answering 431 to a head of too many fields."""
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as error:
            if isinstance(error.__context__, _TooManyFields):
                self._refuse(str(error.__context__))
            else:
                self._bad_request()
        except httptools.HttpParserError:
            self._bad_request()
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()

    def _bad_request(self) -> None:
        message = "Invalid HTTP request received."
        self.logger.warning(message)
        self.send_400_response(message)

    def _refuse(self, detail: str) -> None:
        log.warning(
            "request head refused",
            extra={"client": self.client[0] if self.client else None, "detail": detail},
        )
        if self.cycle is not None and not self.cycle.response_complete:
            # An earlier request's response is still being sent: no room for another answer.
            self.transport.close()
            return
        problem = problem_response(
            431,
            "Request header fields too large",
            detail,
            type_uri="/problems/request-header-fields-too-large",
            max_header_bytes=self.max_header_bytes,
            max_headers=self.max_headers,
        )
        head = [STATUS_LINE[431]]
        for name, value in [
            *self.server_state.default_headers,
            *problem.raw_headers,
            (b"connection", b"close"),
        ]:
            head.extend([name, b": ", value, b"\r\n"])
        head.append(b"\r\n")
        self.transport.write(b"".join(head) + bytes(problem.body))
        self._refused = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self._linger = self.loop.call_later(_LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()

    def _drop(self, size: int) -> None:
        self._dropped += size
        if self._dropped > _LINGER_BYTES:
            self.transport.close()
