"""Reporting settings, from ``REPORTING_*`` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from gatehouse.settings import ServiceSettings

__all__ = ["ReportingSettings"]


class ReportingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REPORTING_", extra="ignore", frozen=True)

    port: int = 8003
    database_url: str = "sqlite+aiosqlite:///var/reporting.db"
    stream_heartbeat_seconds: float = Field(
        default=15.0, gt=0, description="Seconds between SSE heartbeats on an idle stream"
    )
    stream_gap_grace_seconds: float = Field(
        default=2.0,
        ge=0,
        description="How long a live stream waits for a hole in the log "
        "(a late commit) to fill before moving past it",
    )
