"""Settings common to every service. Each service subclasses with its own env prefix."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ServiceSettings", "default_dev_key_file"]


def default_dev_key_file() -> Path:
    """Where the embedded development issuer keeps its signing key (shared by CLI and services)."""
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return data_home / "gatehouse" / "dev-issuer-es256.pem"


class ServiceSettings(BaseSettings):
    """Read from ``<PREFIX>_*`` environment variables, e.g. ``INTAKE_DATABASE_URL``."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int
    database_url: str
    database_schema: str | None = Field(
        default=None, description="PostgreSQL schema (search_path) holding this service's tables")
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    topic_namespace: str = Field(
        default="", description="Prefix for every topic and consumer group (tests, tenants)")
    topic_partitions: int = Field(default=3, ge=1)
    outbox_idle_poll_seconds: float = Field(default=5.0, gt=0)
    auth_issuer: str = "gatehouse-dev"
    auth_audience: str = "gatehouse"
    auth_dev_key_file: Path = Field(default_factory=default_dev_key_file)
    max_request_bytes: int = Field(default=1_048_576, ge=1024,
                                   description="Largest request body accepted (413 above)")
    log_level: str = "INFO"
    log_json: bool = True
