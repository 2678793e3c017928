"""Alembic for every service database: one env implementation, one way to upgrade.

Each service keeps its revisions in ``<service>/migrations/versions`` and a two-line ``env.py``
that calls :func:`run_env` with the service's metadata.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection

from gatehouse.database import create_engine

__all__ = ["alembic_config", "run_env", "upgrade"]


def alembic_config(migrations_dir: Path, url: str, schema: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["schema"] = schema
    return config


def upgrade(
    migrations_dir: Path, url: str, schema: str | None = None, revision: str = "head"
) -> None:
    """Bring the database at ``url`` (and PostgreSQL ``schema``) up to ``revision``."""
    command.upgrade(alembic_config(migrations_dir, url, schema), revision)


def run_env(target_metadata: MetaData) -> None:
    """The body of a service's ``env.py`` (online mode, async engine)."""
    config = context.config
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    schema = config.attributes.get("schema")

    def run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def main() -> None:
        engine = create_engine(url, schema=schema)
        async with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                # Replicas starting together each migrate: one at a time, in one transaction
                # (PostgreSQL's DDL is transactional), so the next finds the schema at head.
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext(:purpose), hashtext(:schema))"),
                    {"purpose": "gatehouse:migrate", "schema": schema or ""},
                )
            if schema:
                await connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            await connection.run_sync(run)
            await connection.commit()
        await engine.dispose()

    if context.is_offline_mode():
        raise SystemExit("offline migrations are not supported; run against a database")
    asyncio.run(main())
