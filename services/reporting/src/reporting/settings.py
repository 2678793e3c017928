"""Reporting settings, from ``REPORTING_*`` environment variables."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from gatehouse.settings import ServiceSettings

__all__ = ["ReportingSettings"]


class ReportingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REPORTING_", extra="ignore", frozen=True)

    port: int = 8003
    database_url: str = "sqlite+aiosqlite:///var/reporting.db"
