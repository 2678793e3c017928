"""Errors raised by the event store."""

from __future__ import annotations

__all__ = ["ConcurrencyError"]


class ConcurrencyError(Exception):
    """Another writer appended to the stream first: the expected version is stale."""

    def __init__(self, stream_id: str, expected_version: int, actual_version: int | None) -> None:
        self.stream_id = stream_id
        self.expected_version = expected_version
        self.actual_version = actual_version
        actual = "unknown" if actual_version is None else str(actual_version)
        super().__init__(
            f"stream {stream_id!r} is at version {actual}, expected {expected_version}"
        )
