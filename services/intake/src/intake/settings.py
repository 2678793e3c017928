"""Intake settings, from ``INTAKE_*`` environment variables."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from gatehouse.settings import ServiceSettings

__all__ = ["IntakeSettings"]


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore", frozen=True)

    port: int = 8001
    database_url: str = "sqlite+aiosqlite:///var/intake.db"
