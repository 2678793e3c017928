"""Tokens from an external issuer: checked against its JWKS, keys chosen by kid, cached and
refreshed on rotation; algorithm allowlist, issuer, audience, expiry and not-before enforced."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from gatehouse.auth import Principal, Role, TokenVerifier
from gatehouse.errors import ServiceUnavailable, Unauthenticated
from gatehouse.jwks import JwksKeySource
from gatehouse.testing.issuer import TestIssuer, running_issuer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def issuer() -> AsyncIterator[TestIssuer]:
    async with running_issuer() as running:
        running.add_key("rsa-1", "RS256")
        running.add_key("ec-1", "ES256")
        yield running


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def verifier(issuer: TestIssuer, clock: Clock) -> AsyncIterator[TokenVerifier]:
    keys = JwksKeySource(
        issuer.url,
        algorithms=("RS256", "ES256"),
        cache_seconds=300,
        min_refresh_seconds=10,
        clock=clock,
    )
    verifier = TokenVerifier(
        keys, issuer=issuer.issuer, audience=issuer.audience, algorithms=("RS256", "ES256")
    )
    yield verifier
    await verifier.close()


async def refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(Unauthenticated) as raised:
        await verifier.verify(token)
    return raised.value.detail


@pytest.mark.parametrize("kid", ["rsa-1", "ec-1"])
async def test_a_token_signed_with_a_published_key_is_accepted(
    issuer: TestIssuer, verifier: TokenVerifier, kid: str
) -> None:
    principal = await verifier.verify(
        issuer.token("erp-connector", kid=kid, roles=["requester", "finance"])
    )

    assert principal == Principal(
        subject="erp-connector",
        roles=frozenset({Role.REQUESTER}),
        claimed_roles=frozenset({"requester", "finance"}),
    )


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"iss": "https://someone-else.test"}, "Invalid issuer"),
        ({"aud": "another-api"}, "Audience doesn't match"),
        ({"sub": None}, 'missing the "sub" claim'),
        ({"exp": None}, 'missing the "exp" claim'),
        ({"iss": None}, 'missing the "iss" claim'),
    ],
)
async def test_the_issuer_audience_and_required_claims_are_checked(
    issuer: TestIssuer, verifier: TokenVerifier, claims: dict[str, object], reason: str
) -> None:
    assert reason in await refused(verifier, issuer.token("x", kid="rsa-1", **claims))


async def test_an_expired_token_is_refused(issuer: TestIssuer, verifier: TokenVerifier) -> None:
    token = issuer.token(
        "x",
        kid="rsa-1",
        lifetime=timedelta(minutes=-5),
        not_before=datetime.now(UTC) - timedelta(minutes=10),
    )
    assert await refused(verifier, token) == "the bearer token has expired"


async def test_a_token_not_valid_yet_is_refused(
    issuer: TestIssuer, verifier: TokenVerifier
) -> None:
    token = issuer.token("x", kid="rsa-1", not_before=datetime.now(UTC) + timedelta(minutes=5))
    assert await refused(verifier, token) == "the bearer token is not valid yet (nbf)"


async def test_a_token_signed_with_the_public_key_as_an_hmac_secret_is_refused(
    issuer: TestIssuer, verifier: TokenVerifier
) -> None:
    """The classic algorithm confusion: HS256 keyed with the issuer's published RSA key."""
    public_pem = (
        issuer.keys["rsa-1"][1]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    claims = {
        "iss": issuer.issuer,
        "aud": issuer.audience,
        "sub": "mallory",
        "exp": int((datetime.now(UTC) + timedelta(minutes=5)).timestamp()),
        "roles": ["pmo_admin"],
    }
    signing_input = (
        f"{_b64(json.dumps({'alg': 'HS256', 'kid': 'rsa-1'}).encode())}."
        f"{_b64(json.dumps(claims).encode())}"
    )
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{_b64(signature)}"

    assert "'HS256' are not accepted" in await refused(verifier, forged)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def test_an_unsigned_token_is_refused(issuer: TestIssuer, verifier: TokenVerifier) -> None:
    unsigned = jwt.encode(
        {
            "iss": issuer.issuer,
            "aud": issuer.audience,
            "sub": "mallory",
            "exp": datetime.now(UTC) + timedelta(minutes=5),
        },
        None,
        algorithm="none",
        headers={"kid": "rsa-1"},
    )

    assert "'none' are not accepted" in await refused(verifier, unsigned)


async def test_a_key_is_only_good_for_its_own_algorithm(
    issuer: TestIssuer, verifier: TokenVerifier
) -> None:
    """An ES256 token naming the RSA key's kid is refused before any signature check."""
    token = issuer.token("x", kid="rsa-1", algorithm="ES256", key=issuer.keys["ec-1"][1])
    assert await refused(verifier, token) == "key 'rsa-1' is for RS256, not ES256"


async def test_a_token_signed_with_a_key_the_issuer_never_published_is_refused(
    issuer: TestIssuer, verifier: TokenVerifier
) -> None:
    impostor = TestIssuer()
    impostor.add_key("rsa-1", "RS256")  # same kid, another key
    assert "Signature verification failed" in await refused(
        verifier, impostor.token("x", kid="rsa-1")
    )


async def test_keys_are_fetched_once_and_kept_for_the_cache_period(
    issuer: TestIssuer, verifier: TokenVerifier, clock: Clock
) -> None:
    for n in range(50):
        await verifier.verify(issuer.token(f"user-{n}", kid="rsa-1"))
    assert issuer.jwks_requests == 1

    clock.now += 299
    await verifier.verify(issuer.token("x", kid="ec-1"))
    assert issuer.jwks_requests == 1

    clock.now += 2
    await verifier.verify(issuer.token("x", kid="ec-1"))
    assert issuer.jwks_requests == 2


async def test_a_rotated_key_is_picked_up_at_its_first_token(
    issuer: TestIssuer, verifier: TokenVerifier, clock: Clock
) -> None:
    await verifier.verify(issuer.token("x", kid="rsa-1"))
    issuer.add_key("rsa-2", "RS256")
    issuer.retire_key("rsa-1")
    clock.now += 11

    principal = await verifier.verify(issuer.token("y", kid="rsa-2"))

    assert principal.subject == "y"
    assert issuer.jwks_requests == 2


async def test_unknown_kids_refresh_at_most_once_per_interval(
    issuer: TestIssuer, verifier: TokenVerifier, clock: Clock
) -> None:
    await verifier.verify(issuer.token("x", kid="rsa-1"))
    clock.now += 11
    for n in range(20):
        detail = await refused(
            verifier, issuer.token("x", kid=f"made-up-{n}", key=issuer.keys["rsa-1"][1])
        )
        assert detail == f"the issuer has no key 'made-up-{n}'"
    assert issuer.jwks_requests == 2  # the first load, and one refresh for all twenty


async def test_a_token_accepted_before_is_refused_once_it_expires(issuer: TestIssuer) -> None:
    verifier = TokenVerifier(
        JwksKeySource(issuer.url, algorithms=("RS256",)),
        issuer=issuer.issuer,
        audience=issuer.audience,
        algorithms=("RS256",),
        leeway_seconds=0,
    )
    token = issuer.token("x", kid="rsa-1", lifetime=timedelta(seconds=1))
    try:
        assert (await verifier.verify(token)).subject == "x"
        assert (await verifier.verify(token)).subject == "x"
        await asyncio.sleep(1.1)
        assert await refused(verifier, token) == "the bearer token has expired"
    finally:
        await verifier.close()


async def test_a_token_accepted_before_is_refused_once_its_key_is_retired(
    issuer: TestIssuer, verifier: TokenVerifier, clock: Clock
) -> None:
    token = issuer.token("x", kid="rsa-1")
    assert (await verifier.verify(token)).subject == "x"
    issuer.add_key("rsa-2", "RS256")
    issuer.retire_key("rsa-1")
    clock.now += 301  # the held keys are refreshed at the next token

    assert await refused(verifier, token) == "the issuer has no key 'rsa-1'"


async def test_a_forged_signature_is_refused_after_the_genuine_token_was_accepted(
    issuer: TestIssuer, verifier: TokenVerifier
) -> None:
    token = issuer.token("x", kid="ec-1", roles=["requester"])
    await verifier.verify(token)
    header_and_claims, _ = token.rsplit(".", 1)
    elevated = issuer.token("x", kid="ec-1", roles=["admin"])  # a real signature, other claims
    forged = f"{header_and_claims}.{elevated.rsplit('.', 1)[1]}"

    assert "Signature verification failed" in await refused(verifier, forged)


async def test_a_token_without_a_kid_is_refused(
    issuer: TestIssuer, verifier: TokenVerifier
) -> None:
    token = jwt.encode(
        {
            "iss": issuer.issuer,
            "aud": issuer.audience,
            "sub": "x",
            "exp": datetime.now(UTC) + timedelta(minutes=5),
        },
        issuer.keys["rsa-1"][1],
        algorithm="RS256",
    )
    assert await refused(verifier, token) == "the bearer token's header names no key (kid)"


async def test_held_keys_keep_working_while_the_issuer_is_down(
    issuer: TestIssuer, verifier: TokenVerifier, clock: Clock
) -> None:
    await verifier.verify(issuer.token("x", kid="rsa-1"))
    issuer.up = False
    clock.now += 301  # the cache has expired and the refresh fails

    principal = await verifier.verify(issuer.token("y", kid="rsa-1"))

    assert principal.subject == "y"
    assert issuer.jwks_requests == 2


async def test_with_no_keys_and_the_issuer_down_the_answer_is_503_not_401(
    issuer: TestIssuer, verifier: TokenVerifier
) -> None:
    issuer.up = False
    with pytest.raises(ServiceUnavailable) as raised:
        await verifier.verify(issuer.token("x", kid="rsa-1"))
    assert raised.value.extensions["jwks_url"] == issuer.url


@pytest.mark.parametrize(
    ("roles_claim", "claims"),
    [
        ("realm_access.roles", {"realm_access": {"roles": ["approver", "finance"]}}),
        ("scp", {"scp": "approver finance"}),
    ],
)
async def test_roles_can_come_from_another_claim(
    issuer: TestIssuer, roles_claim: str, claims: dict[str, object]
) -> None:
    verifier = TokenVerifier(
        JwksKeySource(issuer.url, algorithms=("RS256",)),
        issuer=issuer.issuer,
        audience=issuer.audience,
        algorithms=("RS256",),
        roles_claim=roles_claim,
    )
    try:
        principal = await verifier.verify(issuer.token("gina", kid="rsa-1", **claims))
    finally:
        await verifier.close()

    assert principal.roles == {Role.APPROVER}
    assert principal.claimed_roles == {"approver", "finance"}


def test_symmetric_algorithms_cannot_be_allowed() -> None:
    with pytest.raises(ValueError, match="HS256"):
        JwksKeySource("http://127.0.0.1:1/jwks.json", algorithms=("RS256", "HS256"))
