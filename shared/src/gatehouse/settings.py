"""Settings common to every service. Each service subclasses with its own env prefix."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gatehouse.jwks import ASYMMETRIC_ALGORITHMS

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
        default=None, description="PostgreSQL schema (search_path) holding this service's tables"
    )
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    topic_namespace: str = Field(
        default="", description="Prefix for every topic and consumer group (tests, tenants)"
    )
    topic_partitions: int = Field(default=3, ge=1)
    topic_replication_factor: int = Field(
        default=1,
        ge=1,
        description="Copies of each partition the service's new topics keep "
        "(3 on a production cluster; 1 on a single broker)",
    )
    outbox_idle_poll_seconds: float = Field(default=5.0, gt=0)
    auth_issuer: str = "gatehouse-dev"
    auth_audience: str = "gatehouse"
    auth_dev_key_file: Path = Field(default_factory=default_dev_key_file)
    auth_jwks_url: str | None = Field(
        default=None,
        description="The issuer's JWKS document; when set, tokens are checked "
        "against its keys instead of the embedded development issuer's",
    )
    auth_algorithms: str = Field(
        default="RS256,ES256",
        description="Comma-separated allowlist of token signature "
        "algorithms (asymmetric only) for the JWKS issuer",
    )
    auth_jwks_cache_seconds: float = Field(default=300.0, gt=0)
    auth_roles_claim: str = Field(
        default="roles",
        description="Dotted path of the claim holding the roles, e.g. realm_access.roles",
    )
    rate_limit_per_second: float = Field(
        default=100.0,
        ge=0,
        description="Requests a second each client may make on average, per replica (0: no limit)",
    )
    rate_limit_burst: int = Field(
        default=200, ge=1, description="Requests a client may make at once"
    )
    max_request_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest request body accepted (413 above)"
    )
    max_header_bytes: int = Field(
        default=16_384,
        ge=1024,
        description="Largest request head accepted: the request line "
        "and all header fields (431 above)",
    )
    max_headers: int = Field(
        default=100, ge=1, description="Most header fields a request may have (431 above)"
    )
    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("auth_algorithms")
    @classmethod
    def _asymmetric_only(cls, value: str) -> str:
        names = [name.strip() for name in value.split(",") if name.strip()]
        unknown = sorted(set(names) - ASYMMETRIC_ALGORITHMS)
        if not names or unknown:
            raise ValueError(f"{unknown or value!r}: allowed are {sorted(ASYMMETRIC_ALGORITHMS)}")
        return ",".join(names)

    @property
    def auth_algorithm_allowlist(self) -> tuple[str, ...]:
        return tuple(self.auth_algorithms.split(","))
