"""Bearer-token authentication and roles.

The embedded default has a development issuer: an ES256 key kept in a file that the services
and ``gatehouse token`` share. Production deployments point the services at their own issuer.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gatehouse.errors import Forbidden, Unauthenticated

__all__ = ["ROLE_NAME", "DevIssuer", "Principal", "Role", "TokenVerifier"]

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

    def issue(self, subject: str, roles: Iterable[Role | str], *,
              lifetime: timedelta = timedelta(hours=8)) -> str:
        now = datetime.now(UTC)
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": self.audience, "sub": subject,
            "roles": sorted({_role_name(role) for role in roles}),
            "iat": now, "nbf": now, "exp": now + lifetime,
        }
        return jwt.encode(claims, self._private_key, algorithm=ALGORITHM)


class TokenVerifier:
    """Checks signature, issuer, audience, expiry and not-before; reads subject and roles."""

    def __init__(self, public_key: ec.EllipticCurvePublicKey, *, issuer: str,
                 audience: str) -> None:
        self._public_key = public_key
        self._issuer = issuer
        self._audience = audience

    def verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token, self._public_key, algorithms=[ALGORITHM], issuer=self._issuer,
                audience=self._audience, leeway=30,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the bearer token has expired") from None
        except jwt.InvalidTokenError as error:
            raise Unauthenticated(f"the bearer token is not valid: {error}") from None
        raw_roles = claims.get("roles", [])
        if not isinstance(raw_roles, list):
            raise Unauthenticated("the token's roles claim must be a list")
        claimed = frozenset(str(role) for role in raw_roles)
        roles = frozenset(Role(role) for role in claimed if role in Role.__members__.values())
        return Principal(subject=str(claims["sub"]), roles=roles, claimed_roles=claimed)


ROLE_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")


def _role_name(role: Role | str) -> str:
    """A role for a token: Gatehouse's own, or a business role named like ``finance``."""
    name = role.value if isinstance(role, Role) else str(role)
    if not ROLE_NAME.fullmatch(name):
        raise ValueError(f"role {name!r} is not a role name (lower case letters, digits, "
                         "_ . -; starting with a letter)")
    return name


def _load_or_create_key(key_file: Path) -> ec.EllipticCurvePrivateKey:
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
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
