"""One error hierarchy, rendered as RFC 9457 ``application/problem+json`` by one handler."""

from __future__ import annotations

from typing import Any

__all__ = [
    "Conflict",
    "Forbidden",
    "GatehouseError",
    "InvalidInput",
    "NotFound",
    "PreconditionFailed",
    "PreconditionRequired",
    "ServiceUnavailable",
    "Unauthenticated",
]


class GatehouseError(Exception):
    """An expected failure with an HTTP status, a problem type and a human-readable detail."""

    status: int = 500
    slug: str = "internal-error"
    title: str = "Internal error"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions

    @property
    def type_uri(self) -> str:
        return f"/problems/{self.slug}"


class InvalidInput(GatehouseError):
    status, slug, title = 422, "invalid-input", "Invalid input"

    @classmethod
    def for_field(
        cls, field: str, message: str, *, location: str = "body", kind: str = "value_error"
    ) -> InvalidInput:
        """A 422 naming one field, shaped like the framework's validation errors."""
        return cls(
            f"{field}: {message}",
            errors=[{"field": field, "in": location, "message": message, "type": kind}],
        )


class Unauthenticated(GatehouseError):
    status, slug, title = 401, "unauthenticated", "Authentication required"


class Forbidden(GatehouseError):
    status, slug, title = 403, "forbidden", "Not allowed"


class NotFound(GatehouseError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(GatehouseError):
    status, slug, title = 409, "conflict", "Conflict"


class PreconditionFailed(GatehouseError):
    status, slug, title = 412, "precondition-failed", "Precondition failed"


class PreconditionRequired(GatehouseError):
    status, slug, title = 428, "precondition-required", "Precondition required"


class ServiceUnavailable(GatehouseError):
    status, slug, title = 503, "service-unavailable", "Service unavailable"
