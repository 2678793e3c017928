"""Governance settings, from ``GOVERNANCE_*`` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from gatehouse.settings import ServiceSettings

__all__ = ["GovernanceSettings"]


class GovernanceSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GOVERNANCE_", extra="ignore", frozen=True)

    port: int = 8002
    database_url: str = "sqlite+aiosqlite:///var/governance.db"
    timer_interval_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How often the SLA and condition timers look for "
        "reviews past their SLA and conditions past their due date",
    )
