"""API keys for machine clients: a PMO admin issues one for a subject and roles, and may
revoke it. Each key is its own stream (``api-key-<key_id>``); the secret itself is never in
an event, only its SHA-256 (see ``gatehouse.apikeys``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from gatehouse.auth import ROLE_NAME
from gatehouse.errors import Conflict, InvalidInput
from gatehouse.events.base import DomainEvent
from gatehouse.events.intake import ApiKeyIssued, ApiKeyRevoked

__all__ = ["ApiKey", "IssueApiKey", "RevokeApiKey", "decide_issue", "decide_revoke", "replay"]


@dataclass(frozen=True, kw_only=True)
class IssueApiKey:
    key_id: str
    name: str
    subject: str
    roles: tuple[str, ...]
    secret_sha256: str
    issued_by: str
    expires_at: datetime | None
    now: datetime


@dataclass(frozen=True, kw_only=True)
class RevokeApiKey:
    reason: str
    revoked_by: str


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    subject: str
    roles: tuple[str, ...]
    issued_by: str
    expires_at: datetime | None
    revoked: bool = False
    revoked_by: str | None = None
    revoke_reason: str | None = None


def decide_issue(command: IssueApiKey) -> list[DomainEvent]:
    if not command.roles:
        raise InvalidInput.for_field("roles", "a key needs at least one role")
    for index, role in enumerate(command.roles):
        if not ROLE_NAME.fullmatch(role):
            raise InvalidInput.for_field(f"roles.{index}", f"{role!r} is not a role name")
    if len(set(command.roles)) != len(command.roles):
        raise InvalidInput.for_field("roles", "a role appears twice")
    if command.expires_at is not None and command.expires_at <= command.now:
        raise InvalidInput.for_field("expires_at", "must be in the future")
    return [
        ApiKeyIssued(
            key_id=command.key_id,
            name=command.name,
            subject=command.subject,
            roles=command.roles,
            secret_sha256=command.secret_sha256,
            issued_by=command.issued_by,
            expires_at=command.expires_at,
        )
    ]


def decide_revoke(key: ApiKey, command: RevokeApiKey) -> list[DomainEvent]:
    if key.revoked:
        raise Conflict(f"API key {key.key_id} is already revoked", rule="already-revoked")
    return [ApiKeyRevoked(key_id=key.key_id, reason=command.reason, revoked_by=command.revoked_by)]


def replay(history: Iterable[DomainEvent]) -> ApiKey | None:
    key: ApiKey | None = None
    for event in history:
        if isinstance(event, ApiKeyIssued):
            key = ApiKey(
                key_id=event.key_id,
                name=event.name,
                subject=event.subject,
                roles=event.roles,
                issued_by=event.issued_by,
                expires_at=event.expires_at,
            )
        elif isinstance(event, ApiKeyRevoked) and key is not None:
            key = replace(
                key, revoked=True, revoked_by=event.revoked_by, revoke_reason=event.reason
            )
    return key
