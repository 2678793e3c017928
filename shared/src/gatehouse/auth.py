"""Bearer-token authentication and roles.

The embedded default has a development issuer: an ES256 key kept in a file that the services
and ``gatehouse token`` share. Production deployments point the services at their own issuer's
JWKS (``gatehouse.jwks``); machine clients may also use API keys (``gatehouse.apikeys``).
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gatehouse.errors import Forbidden, Unauthenticated
from gatehouse.identity import normalise_identifier

__all__ = [
    "ROLE_NAME",
    "DevIssuer",
    "KeySource",
    "Principal",
    "Role",
    "StaticKey",
    "TokenVerifier",
    "token_subject",
]

ALGORITHM = "ES256"


class Role(StrEnum):
    REQUESTER = "requester"
    APPROVER = "approver"
    PMO_ADMIN = "pmo_admin"
    AUDITOR = "auditor"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's subject and roles.

    ``roles`` are the roles Gatehouse itself knows (they open its endpoints); ``claimed_roles``
    are every role the token carries, business roles too (``finance``), which a gate's
    approver rule may name.
    """

    subject: str
    roles: frozenset[Role]
    claimed_roles: frozenset[str] = frozenset()
    # The API key the caller presented, if it was one (not a token).
    api_key_id: str | None = None

    @property
    def caller(self) -> str:
        """Whose records (idempotency keys) these are: the subject for a token, the key for an
        API key. A key acting as ``alice`` is not alice's session: a retry of hers must not
        replay the key's response, nor the other way round. The brackets keep the two apart,
        as no identifier holds one."""
        return self.subject if self.api_key_id is None else f"[api-key {self.api_key_id}]"

    def require(self, *roles: Role) -> None:
        """Allow when the principal holds any of ``roles``; otherwise 403."""
        if not self.roles.intersection(roles):
            wanted = " or ".join(role.value for role in roles)
            raise Forbidden(f"this action needs the role {wanted}", required_roles=list(roles))


class DevIssuer:
    """Signs tokens with a local ES256 key, creating the key file on first use."""

    def __init__(self, key_file: Path, *, issuer: str, audience: str) -> None:
        self.key_file = key_file
        self.issuer = issuer
        self.audience = audience
        self._private_key = _load_or_create_key(key_file)

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._private_key.public_key()

    def issue(
        self, subject: str, roles: Iterable[Role | str], *, lifetime: timedelta = timedelta(hours=8)
    ) -> str:
        now = datetime.now(UTC)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "roles": sorted({_role_name(role) for role in roles}),
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
        }
        return jwt.encode(claims, self._private_key, algorithm=ALGORITHM)


class KeySource(Protocol):
    """Where a verifier finds the public key a token names (its header's ``kid``)."""

    async def key_for(self, kid: str | None, algorithm: str) -> Any: ...

    async def close(self) -> None: ...


class StaticKey:
    """The one key of the embedded development issuer."""

    def __init__(self, public_key: ec.EllipticCurvePublicKey) -> None:
        self._public_key = public_key

    async def key_for(self, kid: str | None, algorithm: str) -> Any:
        return self._public_key

    async def close(self) -> None:
        pass


# How many verified tokens a verifier remembers (the oldest is forgotten first).
REMEMBERED_TOKENS = 10_000


@dataclass(frozen=True)
class _VerifiedToken:
    principal: Principal
    kid: str | None
    algorithm: str
    key: Any
    expires: float  # the exp claim, seconds since the epoch


class TokenVerifier:
    """Checks a JWT's algorithm against the allowlist, its signature with the key its ``kid``
    names, and its issuer, audience, expiry and not-before; reads the subject and roles.

    ``roles_claim`` is a dotted path into the claims (``realm_access.roles`` for Keycloak);
    the roles there are a list, or one space-separated string.
    """

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        algorithms: Iterable[str] = (ALGORITHM,),
        roles_claim: str = "roles",
        leeway_seconds: int = 30,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._algorithms = tuple(algorithms)
        self._roles_claim = roles_claim
        self._leeway = leeway_seconds
        self._remembered: dict[str, _VerifiedToken] = {}

    async def verify(self, token: str) -> Principal:
        """The token's principal. A token verified before is not checked again while it has
        not expired and the key that signed it is still the one its ``kid`` names (a client
        sends the same token with every request; checking its signature again each time was a
        twentieth of a command's CPU)."""
        remembered = self._remembered.get(token)
        if remembered is not None:
            key = await self._keys.key_for(remembered.kid, remembered.algorithm)
            if key is remembered.key and time.time() < remembered.expires + self._leeway:
                return remembered.principal
            del self._remembered[token]
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as error:
            raise Unauthenticated(f"the bearer token is not a JWT: {error}") from None
        algorithm = header.get("alg")
        if algorithm not in self._algorithms:
            raise Unauthenticated(
                f"tokens signed with {algorithm!r} are not accepted "
                f"(allowed: {', '.join(self._algorithms)})"
            )
        kid = header.get("kid")
        kid = kid if isinstance(kid, str) else None
        key = await self._keys.key_for(kid, algorithm)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the bearer token has expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("the bearer token is not valid yet (nbf)") from None
        except jwt.PyJWTError as error:
            raise Unauthenticated(f"the bearer token is not valid: {error}") from None
        claimed = self._roles(claims)
        roles = frozenset(Role(role) for role in claimed if role in Role.__members__.values())
        principal = Principal(
            subject=token_subject(claims["sub"]), roles=roles, claimed_roles=claimed
        )
        self._remember(token, _VerifiedToken(principal, kid, algorithm, key, float(claims["exp"])))
        return principal

    def _remember(self, token: str, verified: _VerifiedToken) -> None:
        if len(self._remembered) >= REMEMBERED_TOKENS:
            del self._remembered[next(iter(self._remembered))]  # the oldest
        self._remembered[token] = verified

    async def close(self) -> None:
        await self._keys.close()

    def _roles(self, claims: dict[str, Any]) -> frozenset[str]:
        value: Any = claims
        for part in self._roles_claim.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            return frozenset()
        if isinstance(value, str):
            return frozenset(value.split())
        if not isinstance(value, list) or not all(isinstance(role, str) for role in value):
            raise Unauthenticated(
                f"the token's {self._roles_claim} claim must be a list of role names"
            )
        return frozenset(value)


def token_subject(sub: object) -> str:
    """The identifier a token's ``sub`` names (see :mod:`gatehouse.identity`), in lower case;
    401 for a blank one, or one that is not an identifier as it stands: a subject that would
    change under normalisation, or that could pass for ``[erased]``, is nobody's."""
    try:
        return normalise_identifier(sub)
    except ValueError as error:
        raise Unauthenticated(
            f"the token's subject (sub) is not a Gatehouse identifier ({error})"
        ) from None


ROLE_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")


def _role_name(role: Role | str) -> str:
    """A role for a token: Gatehouse's own, or a business role named like ``finance``."""
    name = role.value if isinstance(role, Role) else str(role)
    if not ROLE_NAME.fullmatch(name):
        raise ValueError(
            f"role {name!r} is not a role name (lower case letters, digits, "
            "_ . -; starting with a letter)"
        )
    return name


def _load_or_create_key(key_file: Path) -> ec.EllipticCurvePrivateKey:
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # Write then link: two processes racing to create the key agree on one of them.
        with tempfile.NamedTemporaryFile(dir=key_file.parent, delete=False) as handle:
            handle.write(pem)
        os.chmod(handle.name, 0o600)
        try:
            os.link(handle.name, key_file)
        except FileExistsError:
            pass
        finally:
            os.unlink(handle.name)
    loaded = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{key_file} does not hold an EC private key")
    return loaded
