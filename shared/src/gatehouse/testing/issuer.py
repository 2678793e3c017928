"""An identity provider for tests: signs RS256 and ES256 tokens with keys it names by ``kid``,
and serves their public halves as a JWKS document over real HTTP. Keys can be added and
retired (rotation), and the issuer can be taken down, to see what a service does then."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gatehouse.testing.harness import eventually

__all__ = ["TestIssuer", "running_issuer"]

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass
class TestIssuer:
    __test__ = False  # not a test class, whatever its name

    issuer: str = "https://idp.example.test"
    audience: str = "gatehouse"
    keys: dict[str, tuple[str, PrivateKey]] = field(default_factory=dict)
    up: bool = True
    jwks_requests: int = 0
    url: str = ""

    def add_key(self, kid: str, algorithm: str = "RS256") -> None:
        private: PrivateKey = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if algorithm.startswith(("RS", "PS"))
            else ec.generate_private_key(ec.SECP256R1())
        )
        self.keys[kid] = (algorithm, private)

    def retire_key(self, kid: str) -> None:
        del self.keys[kid]

    def token(
        self,
        subject: str,
        *,
        kid: str,
        roles: list[str] | None = None,
        algorithm: str | None = None,
        lifetime: timedelta = timedelta(minutes=10),
        not_before: datetime | None = None,
        key: Any = None,
        extra_header: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """A signed token; ``claims`` override the defaults (``iss=...``, ``aud=...``)."""
        declared, private = self.keys.get(kid, ("RS256", key))
        if private is None:
            raise KeyError(f"no key {kid!r}; pass key= to sign with another")
        now = datetime.now(UTC)
        body: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": now,
            "nbf": not_before or now,
            "exp": now + lifetime,
        }
        if roles is not None:
            body["roles"] = roles
        body.update(claims)
        body = {name: value for name, value in body.items() if value is not None}
        return jwt.encode(
            body,
            key if key is not None else private,
            algorithm=algorithm or declared,
            headers={"kid": kid, **(extra_header or {})},
        )

    def jwks(self) -> dict[str, Any]:
        documents = []
        for kid, (algorithm, private) in self.keys.items():
            jwk: dict[str, Any] = json.loads(
                jwt.algorithms.get_default_algorithms()[algorithm].to_jwk(private.public_key())
            )
            documents.append({**jwk, "kid": kid, "use": "sig", "alg": algorithm})
        return {"keys": documents}

    async def _serve_jwks(self, _request: Request) -> Response:
        self.jwks_requests += 1
        if not self.up:
            return Response("down for maintenance", status_code=503)
        return JSONResponse(self.jwks())


@asynccontextmanager
async def running_issuer() -> AsyncIterator[TestIssuer]:
    issuer = TestIssuer()
    app = Starlette(routes=[Route("/jwks.json", issuer._serve_jwks)])
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="off"
        )
    )
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        if task.done():
            task.result()
        return bool(server.started)

    try:
        await eventually(started, timeout=10, description="test issuer started")
        port = server.servers[0].sockets[0].getsockname()[1]
        issuer.url = f"http://127.0.0.1:{port}/jwks.json"
        yield issuer
    finally:
        server.should_exit = True
        await task
