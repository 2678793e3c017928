"""Forged and confused tokens against the running services: each is refused (401
problem+json) at every service, and nothing is written.

The verifier's own tests (shared/tests/test_jwks.py) go through each check against an issuer's
JWKS; these probes are the attacker's view of the embedded development issuer (ES256)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gatehouse.auth import DevIssuer, Role

from .conftest import Gatehouse, project_request

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def claims(issuer: DevIssuer, **changes: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    body = {
        "iss": issuer.issuer,
        "aud": issuer.audience,
        "sub": "mallory",
        "roles": ["pmo_admin", "requester"],
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(minutes=10),
    }
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unsigned(issuer: DevIssuer) -> str:
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims(issuer), default=lambda d: int(d.timestamp())).encode())
    return f"{header}.{body}."


def hmac_with_the_public_key(issuer: DevIssuer) -> str:
    """Algorithm confusion: HS256 keyed with the issuer's public key."""
    public = issuer.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims(issuer), default=lambda d: int(d.timestamp())).encode())
    signature = hmac.new(public, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64(signature)}"


def signed_by_another_key(issuer: DevIssuer) -> str:
    return jwt.encode(claims(issuer), ec.generate_private_key(ec.SECP256R1()), algorithm="ES256")


def genuine(issuer: DevIssuer, **changes: Any) -> str:
    return jwt.encode(claims(issuer, **changes), issuer._private_key, algorithm="ES256")


def payload_swapped(issuer: DevIssuer) -> str:
    """A genuine requester's token whose payload is replaced by a PMO admin's."""
    header, _, signature = genuine(issuer, roles=["requester"]).split(".")
    body = b64(json.dumps(claims(issuer, sub="pat"), default=lambda d: int(d.timestamp())).encode())
    return f"{header}.{body}.{signature}"


FORGERIES: dict[str, Callable[[DevIssuer], str]] = {
    "unsigned (alg none)": unsigned,
    "HS256 keyed with the public key": hmac_with_the_public_key,
    "signed by another key": signed_by_another_key,
    "payload swapped under a genuine signature": payload_swapped,
    "expired": lambda i: genuine(i, exp=datetime.now(UTC) - timedelta(minutes=5)),
    "not valid for an hour yet": lambda i: genuine(i, nbf=datetime.now(UTC) + timedelta(hours=1)),
    "another issuer": lambda i: genuine(i, iss="https://evil.example"),
    "another audience": lambda i: genuine(i, aud="someone-else"),
    "no subject": lambda i: genuine(i, sub=None),
    "no expiry": lambda i: genuine(i, exp=None),
    "a number as subject": lambda i: genuine(i, sub=42),
    "roles that are not a list": lambda i: genuine(i, roles={"pmo_admin": True}),
    "not a JWT": lambda i: "not-a-token",
    "truncated": lambda i: genuine(i).rsplit(".", 1)[0],
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
async def test_a_forged_token_is_refused_everywhere_and_writes_nothing(
    gatehouse: Gatehouse, forgery: str
) -> None:
    token = FORGERIES[forgery](gatehouse.issuer)
    pmo = gatehouse.intake.auth("pat", Role.PMO_ADMIN)
    before = (await gatehouse.intake.client.get("/v1/projects", headers=pmo)).json()["items"]
    for service, method, path, body in (
        (gatehouse.intake, "POST", "/v1/projects", project_request()),
        (
            gatehouse.intake,
            "POST",
            "/v1/api-keys",
            {"name": "backdoor", "subject": "mallory", "roles": ["pmo_admin"]},
        ),
        (
            gatehouse.governance,
            "PUT",
            "/v1/gate-templates/standard",
            {
                "name": "Rubber stamp",
                "gates": [
                    {
                        "key": "G0",
                        "name": "Any",
                        "sla_hours": 1,
                        "approval": {"approvers": [{"user": "mallory"}]},
                    }
                ],
            },
        ),
        (gatehouse.reporting, "GET", "/v1/audit/decisions", None),
    ):
        response = await service.client.request(
            method, path, json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401, (forgery, method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert (await gatehouse.intake.client.get("/v1/projects", headers=pmo)).json()[
        "items"
    ] == before
    assert (await gatehouse.intake.client.get("/v1/api-keys", headers=pmo)).json() == []
    assert (
        await gatehouse.governance.client.get(
            "/v1/gate-templates/standard", headers=gatehouse.governance.auth("pat", Role.PMO_ADMIN)
        )
    ).status_code == 404
