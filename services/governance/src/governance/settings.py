"""Governance settings, from ``GOVERNANCE_*`` environment variables."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from gatehouse.settings import ServiceSettings

__all__ = ["GovernanceSettings"]


class GovernanceSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GOVERNANCE_", extra="ignore", frozen=True)

    port: int = 8002
    database_url: str = "sqlite+aiosqlite:///var/governance.db"
